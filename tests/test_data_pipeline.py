"""Input pipeline: splits, exact-once evaluation, resume, augmentation, errors."""

import collections

import numpy as np
import pytest
import tensorflow_datasets as tfds

from cnn_jax.data import augment, datasets, pipeline
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


def test_normalization_statistics(fmnist):
  config, info = fmnist
  ds, _ = pipeline.eval_dataset(
    _config(**{**config.to_dict(), 'augment': ''}), info, 'validation'
  )
  images = np.concatenate(
    [b['image'][b['mask']] for b in pipeline.as_numpy(ds)]
  )
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
  # TFDS reorders examples when it writes them: match images by content.
  expected = {
    ((images[i, :, :, None] / 255.0 - 0.1307) / 0.3081)
    .astype(np.float32)
    .round(4)
    .tobytes(): labels[i]
    for i in range(10)
  }
  for img, lab in got:
    assert expected[img.round(4).tobytes()] == lab


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
  batch = next(pipeline.as_numpy(pipeline.train_dataset(config, info)))
  ds, _ = pipeline.eval_dataset(config, info, 'test')
  evals = next(pipeline.as_numpy(ds))
  assert info.num_classes == 1000 and info.num_examples('test') == 4
  assert batch['image'].shape == (4, 64, 64, 3)
  assert evals['image'].shape == (4, 64, 64, 3)


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


def test_augmentations():
  rng = np.random.default_rng(0)
  image = rng.random((32, 32, 3)).astype(np.float32)
  seed = np.array([1, 2], np.int64)
  cropped = augment.crop_pad(image, seed, 4).numpy()
  assert cropped.shape == image.shape
  flips = [augment.flip(image, np.array([0, s])).numpy() for s in range(8)]
  assert any(np.array_equal(f, image[:, ::-1]) for f in flips)
  assert any(np.array_equal(f, image) for f in flips)
  assert augment.random_resized_crop(image, seed, 24).shape == (24, 24, 3)
  assert augment.central_crop_resize(image, 16, 0.875).shape == (16, 16, 3)
  with pytest.raises(ValueError, match='Unknown augmentation'):
    augment.make_train_transform(
      ['rotate'], size=-1, padding=4, scale=(0.08, 1), ratio=(0.75, 1.33)
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
  batch = next(pipeline.as_numpy(ds))
  assert batch['image'].shape[1:] == (32, 32, 3)
  np.testing.assert_array_equal(batch['image'][..., 0], batch['image'][..., 2])


def test_repeated_augmentation_on_the_tfdata_path(fmnist):
  config, info = fmnist
  config = _config(**{**config.to_dict(), 'aug_repeats': 2})
  stream = pipeline.as_numpy(pipeline.train_dataset(config, info))
  batches = [next(stream) for _ in range(3)]
  for b in batches:
    # Pairs of copies: same label, augmented apart (crop offsets and flips).
    np.testing.assert_array_equal(b['label'][0::2], b['label'][1::2])
    differ = [
      not np.array_equal(b['image'][i], b['image'][i + 1])
      for i in range(0, 20, 2)
    ]
    assert sum(differ) >= 5
  plain = next(pipeline.as_numpy(pipeline.train_dataset(fmnist[0], info)))
  # The first 64 draws of the plain shuffle, each twice.
  np.testing.assert_array_equal(batches[0]['label'][0::2], plain['label'][:64])
  resumed = next(
    pipeline.as_numpy(pipeline.train_dataset(config, info, start_step=2))
  )
  np.testing.assert_array_equal(resumed['image'], batches[2]['image'])
