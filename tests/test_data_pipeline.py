"""Input pipeline: splits, exact-once evaluation, resume, augmentation, errors.

The tf.data path hands over uint8 batches; what the train step does to them
(augmentation, normalization) is ``TFDataPipeline``'s ``batch_transform`` and
eval transform, checked here through it.
"""

import collections

import jax
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from cnn_jax.data import augment, datasets, device_augment, inputs, pipeline
from cnn_jax.training import sharding
from configs import base
from tests import fake_tfds


def _config(**overrides):
  c = base.get_config()
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


@pytest.fixture(scope='module')
def fmnist():
  config = _config(
    dataset='fashion_mnist',
    batch_size=128,
    eval_batch_size=384,
    augment='crop_pad,flip',
    shuffle_buffer=4096,
  )
  return config, pipeline.get_info(config)


def test_fashion_mnist_splits_offline(fmnist):
  config, info = fmnist
  assert info.num_classes == 10 and info.image_shape == (28, 28, 1)
  assert info.num_examples('train') == 55_000
  assert info.num_examples('validation') == 5_000
  assert info.num_examples('test') == 10_000
  assert pipeline.steps_per_epoch(config, info) == 55_000 // 128


@pytest.mark.parametrize('process_count', [1, 3])
def test_eval_sees_every_example_exactly_once(fmnist, process_count):
  config, info = fmnist
  seen = collections.Counter()
  batches_per_process = set()
  total = 0
  for p in range(process_count):
    ds, n = pipeline.eval_dataset(
      config, info, 'test', process_index=p, process_count=process_count
    )
    batches = list(pipeline.as_numpy(ds))
    assert len(batches) == n
    batches_per_process.add(n)
    for b in batches:
      assert b['image'].shape[0] == config.eval_batch_size // process_count
      real = b['mask']
      total += int(real.sum())
      # Identify examples by their pixels: every test image once.
      for img in b['image'][real]:
        seen[img.tobytes()] += 1
  assert total == 10_000  # 10,000 is not a multiple of 384: last batch padded
  assert len(batches_per_process) == 1  # processes stay in lockstep
  reference = tfds.builder(
    'fashion_mnist', data_dir=datasets.default_data_dir()
  ).as_dataset(split='test')
  n_distinct = len(
    {ex['image'].numpy().tobytes() for ex in reference.take(10_000)}
  )
  assert len(seen) == n_distinct  # every distinct image was seen
  assert sum(seen.values()) == 10_000


def test_validation_is_carved_from_train_and_disjoint(fmnist):
  config, info = fmnist
  tr, val = info.splits['train'], info.splits['validation']
  assert tr.split == val.split == 'train' and tr.stop == val.start
  assert val.stop - tr.start == 60_000


def test_train_stream_is_deterministic_and_resumable(fmnist):
  config, info = fmnist
  first = pipeline.as_numpy(pipeline.train_dataset(config, info))
  batches = [next(first) for _ in range(4)]
  resumed = next(
    pipeline.as_numpy(pipeline.train_dataset(config, info, start_step=3))
  )
  np.testing.assert_array_equal(resumed['image'], batches[3]['image'])
  np.testing.assert_array_equal(resumed['label'], batches[3]['label'])
  other_seed = next(
    pipeline.as_numpy(
      pipeline.train_dataset(_config(**{**config.to_dict(), 'seed': 1}), info)
    )
  )
  assert not np.array_equal(other_seed['label'], batches[0]['label'])


def test_epochs_reshuffle_and_resume_at_epoch_boundary(fmnist):
  config, info = fmnist
  spe = pipeline.steps_per_epoch(config, info)
  it = pipeline.as_numpy(
    pipeline.train_dataset(config, info, start_step=spe - 1)
  )
  next(it)
  crossing = next(it)
  fresh = next(
    pipeline.as_numpy(pipeline.train_dataset(config, info, start_step=spe))
  )
  np.testing.assert_array_equal(crossing['image'], fresh['image'])
  first = next(pipeline.as_numpy(pipeline.train_dataset(config, info)))
  assert not np.array_equal(first['label'], fresh['label'])


def _tfdata(config, info):
  return inputs.TFDataPipeline(config, info, sharding.make_mesh(1))


def test_normalization_statistics(fmnist):
  config, info = fmnist
  feed = _tfdata(_config(**{**config.to_dict(), 'augment': ''}), info)
  batches = [jax.device_get(b) for b in feed.eval_batches('validation')]
  images = np.concatenate([b['image'][b['mask']] for b in batches])
  assert images.dtype == np.float32
  assert abs(images.mean()) < 0.05 and abs(images.std() - 1) < 0.05


@pytest.mark.parametrize(
  'name,shape,classes',
  [('cifar10', (32, 32, 3), 10), ('cifar100', (32, 32, 3), 100)],
)
def test_small_tfds_datasets(tmp_path, name, shape, classes):
  fake_tfds.prepare_fake(name, str(tmp_path), {'train': 20, 'test': 6})
  config = _config(
    dataset=name,
    data_dir=str(tmp_path),
    batch_size=8,
    eval_batch_size=8,
    validation_examples=4,
    augment='crop_pad,flip',
    shuffle_buffer=16,
  )
  info = pipeline.get_info(config)
  assert info.num_classes == classes and info.image_shape == shape
  assert info.num_examples('train') == 16
  batch = next(pipeline.as_numpy(pipeline.train_dataset(config, info)))
  assert batch['image'].shape == (8, *shape)
  assert batch['image'].dtype == np.uint8  # normalized in the train step
  assert batch['label'].dtype == np.int32
  ds, n = pipeline.eval_dataset(config, info, 'validation')
  evals = list(pipeline.as_numpy(ds))
  assert n == 1 and int(evals[0]['mask'].sum()) == 4
  ds, n = pipeline.eval_dataset(config, info, 'test')
  assert sum(int(b['mask'].sum()) for b in pipeline.as_numpy(ds)) == 6


def test_mnist_prepares_from_local_idx_files(tmp_path):
  rng = np.random.default_rng(0)
  manual = tmp_path / 'manual'
  manual.mkdir()
  for split, n in (('train', 30), ('t10k', 10)):
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    (manual / f'{split}-images-idx3-ubyte').write_bytes(
      np.array([2051, n, 28, 28], '>i4').tobytes() + images.tobytes()
    )
    (manual / f'{split}-labels-idx1-ubyte').write_bytes(
      np.array([2049, n], '>i4').tobytes() + labels.tobytes()
    )
  config = _config(
    dataset='mnist',
    data_dir=str(tmp_path / 'tfds'),
    manual_dir=str(manual),
    validation_examples=5,
    batch_size=5,
    eval_batch_size=4,
  )
  info = pipeline.get_info(config)
  assert info.num_examples('train') == 25 and info.num_examples('test') == 10
  ds, _ = pipeline.eval_dataset(config, info, 'test')
  got = [
    (img, lab)
    for b in pipeline.as_numpy(ds)
    for img, lab in zip(b['image'][b['mask']], b['label'][b['mask']])
  ]
  assert len(got) == 10
  # TFDS reorders examples when it writes them: match images by content
  # (uint8, as stored: normalization is the train step's).
  expected = {images[i, :, :, None].tobytes(): labels[i] for i in range(10)}
  for img, lab in got:
    assert expected[img.tobytes()] == lab


def test_imagenet_inception_crop(tmp_path):
  fake_tfds.prepare_fake(
    'imagenet2012',
    str(tmp_path),
    {'train': 10, 'validation': 4},
    image_hw=(50, 70),
  )
  config = _config(
    dataset='imagenet2012',
    data_dir=str(tmp_path),
    image_size=64,
    batch_size=4,
    eval_batch_size=4,
    validation_examples=2,
    augment='inception_crop,flip',
    eval_crop_fraction=0.875,
    shuffle_buffer=8,
    cache=False,
  )
  info = pipeline.get_info(config)
  assert info.jpeg_photos  # read as JPEG bytes, decoded in the crop window
  stream = pipeline.as_numpy(pipeline.train_dataset(config, info))
  batches = [next(stream) for _ in range(3)]
  ds, _ = pipeline.eval_dataset(config, info, 'test')
  evals = next(pipeline.as_numpy(ds))
  assert info.num_classes == 1000 and info.num_examples('test') == 4
  assert batches[0]['image'].shape == (4, 64, 64, 3)
  assert batches[0]['image'].dtype == np.uint8
  assert evals['image'].shape == (4, 64, 64, 3)
  # Resumed at step 2: the same crops of the same examples.
  resumed = next(
    pipeline.as_numpy(pipeline.train_dataset(config, info, start_step=2))
  )
  np.testing.assert_array_equal(resumed['image'], batches[2]['image'])
  # Repeated augmentation (each JPEG decoded once for its copies), resumed
  # inside a group of three: position 4 is the second copy of 3, 4, 5.
  repeated = _config(**{**config.to_dict(), 'aug_repeats': 3})
  stream = pipeline.as_numpy(pipeline.train_dataset(repeated, info))
  straight = [next(stream) for _ in range(2)]
  resumed = next(
    pipeline.as_numpy(pipeline.train_dataset(repeated, info, start_step=1))
  )
  np.testing.assert_array_equal(resumed['image'], straight[1]['image'])
  np.testing.assert_array_equal(resumed['label'], straight[1]['label'])
  assert straight[0]['label'][3] == resumed['label'][0] == resumed['label'][1]
  assert not np.array_equal(straight[0]['image'][3], resumed['image'][0])
  # The train step's eval transform only normalizes: the host resized.
  feed = _tfdata(config, info)
  first = jax.device_get(next(feed.eval_batches('test')))
  np.testing.assert_allclose(
    first['image'],
    (evals['image'] / 255.0 - np.float32(info.mean)) / np.float32(info.std),
    atol=1e-5,
  )


def test_synthetic_dataset_any_shape():
  config = _config(
    dataset='synthetic',
    synthetic_shape=(48, 40, 3),
    synthetic_classes=7,
    synthetic_examples=64,
    batch_size=16,
    validation_examples=0,
    eval_batch_size=5,
  )
  info = pipeline.get_info(config)
  assert info.num_classes == 7 and 'validation' not in info.splits
  batch = next(pipeline.as_numpy(pipeline.train_dataset(config, info)))
  assert batch['image'].shape == (16, 48, 40, 3)
  assert set(np.unique(batch['label'])) <= set(range(7))
  ds, n = pipeline.eval_dataset(config, info, 'test')
  assert (
    sum(int(b['mask'].sum()) for b in pipeline.as_numpy(ds)) == 6 and n == 2
  )


def test_host_crop_windows():
  """rrc / inception_crop windows: inside the image, of the area and aspect
  ranges (or the whole image), a function of the seed; the central window."""
  shape = tf.constant([300, 400, 3])
  areas = []
  for name in augment.HOST_CROPS:
    for s in range(40):
      seed = tf.constant([s, 7], tf.int64)
      window = augment.crop_window(name, seed, (0.08, 1.0), (3 / 4, 4 / 3))
      offset, extent = (t.numpy() for t in window(shape))
      again = np.concatenate([t.numpy() for t in window(shape)])
      np.testing.assert_array_equal(again, np.concatenate([offset, extent]))
      assert (offset >= 0).all() and (offset + extent <= [300, 400]).all()
      area = extent.prod() / 120_000
      assert 0.08 - 0.01 <= area <= 1.0
      whole = list(extent) == [300, 400]
      assert whole or 3 / 4 - 0.02 <= extent[1] / extent[0] <= 4 / 3 + 0.02
      areas.append(area)
  assert len(set(areas)) > 40
  offset, extent = augment.central_window(0.875)(shape)
  assert list(extent.numpy()) == [262, 262]
  assert list(offset.numpy()) == [19, 69]
  offset, extent = augment.central_window(1.0)(shape)
  assert list(offset.numpy()) == [0, 0] and list(extent.numpy()) == [300, 400]
  with pytest.raises(ValueError, match='no on-device version'):
    device_augment.make_train_transform(
      _config(augment='rotate'), None, host_crops_done=True
    )


def test_unknown_dataset_lists_known():
  with pytest.raises(
    ValueError,
    match='Known datasets: cifar10, cifar100, '
    'fashion_mnist, imagenet2012, mnist, synthetic',
  ):
    pipeline.get_info(_config(dataset='svhn'))


def test_unprepared_dataset_says_how_to_prepare(tmp_path):
  with pytest.raises(
    datasets.DatasetNotPreparedError, match='ILSVRC2012_img_train.tar.*manual'
  ):
    pipeline.get_info(_config(dataset='imagenet2012', data_dir=str(tmp_path)))
  with pytest.raises(
    datasets.DatasetNotPreparedError, match='tfds build cifar10'
  ):
    pipeline.get_info(_config(dataset='cifar10', data_dir=str(tmp_path)))


def test_imagenet_prepares_from_its_two_tars_without_a_flag(tmp_path):
  """The tars in the manual directory: the first use prepares imagenet2012
  with TFDS's own builder (no download flag); one missing: named."""
  from experiments.benchmarks import imagenet_like

  manual = tmp_path / 'manual'
  config = _config(
    dataset='imagenet2012',
    data_dir=str(tmp_path / 'tfds'),
    manual_dir=str(manual),
    image_size=32,
    validation_examples=1,
    batch_size=3,
    eval_batch_size=2,
    augment='rrc,flip',
    cache=False,
  )
  manual.mkdir()
  (manual / 'ILSVRC2012_img_train.tar').write_bytes(b'')
  with pytest.raises(datasets.DatasetNotPreparedError) as error:
    pipeline.get_info(config)
  message = str(error.value)
  assert f'Missing: {manual}/ILSVRC2012_img_val.tar.' in message
  assert 'train.tar,' not in message and 'download=True' not in message
  facts = imagenet_like.write_tars(str(manual), train=4, val=2, classes=2)
  assert facts['train'] == 4 and facts['validation'] == 2
  info = pipeline.get_info(config)
  assert tfds.builder('imagenet2012', data_dir=config.data_dir).is_prepared()
  assert info.num_examples('train') == 3 and info.num_examples('test') == 2
  batch = next(pipeline.as_numpy(pipeline.train_dataset(config, info)))
  assert batch['image'].shape == (3, 32, 32, 3)
  assert set(batch['label']) <= {0, 1}
  # The input benchmark on it: throughput, stages, windows, options.
  from cnn_jax.data import input_benchmark

  r = input_benchmark.run(config, batches=2, warmup=1, examples=3)
  assert r['images_per_s'] > 0 and r['images_per_cpu_s'] > 0
  assert set(r['stages_per_core']) >= {'read', 'decode_window', 'resize'}
  assert sum(v for k, v in r['windows'].items() if 'dct' in k) == 1.0
  assert r['tfdata_options']['max_intra_op_parallelism'] == 1
  assert r['transfer']['mb_per_batch'] == 3 * 32 * 32 * 3 / 1e6


@pytest.mark.slow
def test_fashion_mnist_prepares_from_idx_files(tmp_path):
  """A fresh data_dir is built from the Debian IDX files, no network."""
  config = _config(dataset='fashion_mnist', data_dir=str(tmp_path))
  info = pipeline.get_info(config)
  assert info.num_examples('test') == 10_000
  assert tfds.builder('fashion_mnist', data_dir=str(tmp_path)).is_prepared()


def test_batch_not_dividing_processes():
  with pytest.raises(ValueError, match='does not divide over 3 processes'):
    pipeline.local_batch_size(128, 3)


def test_grayscale_to_rgb(fmnist):
  config, _ = fmnist
  config = _config(
    **{**config.to_dict(), 'grayscale_to_rgb': True, 'image_size': 32}
  )
  info = pipeline.get_info(config)
  assert info.image_shape == (32, 32, 3) and len(info.mean) == 3
  ds, _ = pipeline.eval_dataset(config, info, 'validation')
  stored = next(pipeline.as_numpy(ds))
  assert stored['image'].shape[1:] == (28, 28, 1)  # the train step converts
  batch = jax.device_get(next(_tfdata(config, info).eval_batches('validation')))
  assert batch['image'].shape[1:] == (32, 32, 3)
  np.testing.assert_array_equal(batch['image'][..., 0], batch['image'][..., 2])


def test_repeated_augmentation_on_the_tfdata_path(fmnist):
  config, info = fmnist
  config = _config(**{**config.to_dict(), 'aug_repeats': 2})
  stream = pipeline.as_numpy(pipeline.train_dataset(config, info))
  batches = [next(stream) for _ in range(3)]
  transform = jax.jit(_tfdata(config, info).batch_transform)
  for step, b in enumerate(batches):
    # Pairs of copies: same image and label from the host, augmented apart
    # in the train step (crop offsets and flips keyed by their positions).
    np.testing.assert_array_equal(b['label'][0::2], b['label'][1::2])
    np.testing.assert_array_equal(b['image'][0::2], b['image'][1::2])
    out, _ = transform(b['image'], b['label'], jax.random.key(step))
    differ = [not np.array_equal(out[i], out[i + 1]) for i in range(0, 20, 2)]
    assert sum(differ) >= 5
  plain = next(pipeline.as_numpy(pipeline.train_dataset(fmnist[0], info)))
  # The first 64 draws of the plain shuffle, each twice.
  np.testing.assert_array_equal(batches[0]['label'][0::2], plain['label'][:64])
  resumed = next(
    pipeline.as_numpy(pipeline.train_dataset(config, info, start_step=2))
  )
  np.testing.assert_array_equal(resumed['image'], batches[2]['image'])
  # Three copies: a resumed stream starts inside a group (128 = 3 * 42 + 2).
  config = _config(**{**config.to_dict(), 'aug_repeats': 3})
  stream = pipeline.as_numpy(pipeline.train_dataset(config, info))
  straight = [next(stream) for _ in range(2)]
  resumed = next(
    pipeline.as_numpy(pipeline.train_dataset(config, info, start_step=1))
  )
  np.testing.assert_array_equal(resumed['image'], straight[1]['image'])
  np.testing.assert_array_equal(resumed['label'], straight[1]['label'])
  # Position 128 is the third copy of the image at 126 and 127.
  assert straight[0]['label'][126] == straight[0]['label'][127]
  assert straight[0]['label'][127] == resumed['label'][0]
  np.testing.assert_array_equal(resumed['image'][0], straight[0]['image'][127])
