"""The on-device input path: choice, arrays, stream, resume, splits, eval.

Fashion-MNIST is real (TFDS, prepared offline from the Debian IDX files);
CIFAR-10/100 come from small fake files in the authors' "python version"
format. Multi-device checks run in a subprocess with 8 XLA host devices.
"""

import collections
import os
import pickle
import tarfile
import types

import jax
import numpy as np
import pytest

from cnn_jax.data import (
  arrays,
  device_augment,
  device_pipeline,
  inputs,
  pipeline,
  raw_files,
)
from cnn_jax.training import checkpointing, sharding, train_step, trainer
from configs import base, lenet5_fashion_mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FMNIST_FILES = raw_files.DEBIAN_DIRS['fashion_mnist'][1]


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
    input_pipeline='device',
  )
  return config, pipeline.get_info(config)


def test_auto_chooses_device_where_it_applies():
  assert inputs.choose(_config(dataset='fashion_mnist')) == 'device'
  assert (
    inputs.choose(_config(dataset='cifar10', augment='crop_pad,flip'))
    == 'device'
  )
  assert inputs.choose(_config(dataset='synthetic')) == 'device'
  assert inputs.choose(_config(dataset='imagenet2012')) == 'tfdata'
  assert (
    inputs.choose(_config(dataset='cifar10', augment='rrc,flip', image_size=32))
    == 'tfdata'
  )
  assert (
    inputs.choose(_config(dataset='mnist', input_pipeline='tfdata')) == 'tfdata'
  )
  with pytest.raises(
    ValueError,
    match=r'input_pipeline=device cannot run.*'
    r"\['rrc'\] have no on-device version.*tfdata",
  ):
    inputs.choose(
      _config(augment='rrc', image_size=32, input_pipeline='device')
    )
  with pytest.raises(ValueError, match='imagenet2012.*not one that fits'):
    inputs.choose(_config(dataset='imagenet2012', input_pipeline='device'))
  with pytest.raises(ValueError, match="input_pipeline='gpu'; use one of"):
    inputs.choose(_config(input_pipeline='gpu'))


def test_tfds_and_file_sources_hold_the_same_examples(fmnist):
  config, info = fmnist
  assert arrays.source(config) == 'tfds'
  test = info.splits['test']
  images, labels = arrays.load_arrays(config, test)
  assert images.shape == (10_000, 28, 28, 1) and images.dtype == np.uint8
  assert labels.dtype == np.int32
  raw_images, raw_labels = raw_files.read_split(
    'fashion_mnist', FMNIST_FILES, 'test'
  )
  assert (
    raw_files.num_examples('fashion_mnist', FMNIST_FILES, 'train') == 60_000
  )
  # TFDS stores the examples in another order: compare as multisets.
  as_set = lambda x, y: collections.Counter(  # pylint: disable=g-long-lambda
    (img.tobytes(), int(lab)) for img, lab in zip(x, y)
  )
  assert as_set(images, labels) == as_set(raw_images, raw_labels)
  part = arrays.load_arrays(config, pipeline.Slice('test', 100, 228))
  np.testing.assert_array_equal(part[0], images[100:228])


def _write_fake_cifar(directory, name, n_train_per_batch, n_test, as_tar):
  """Files in the authors' format; image i's pixel (y, x, c) = f(i, y, x, c)."""
  archive, folder, files, label_key = raw_files._CIFAR[name]  # pylint: disable=protected-access
  staging = directory / ('staging' if as_tar else '')
  os.makedirs(staging / folder, exist_ok=True)
  counter = 0
  for split, n in (('train', n_train_per_batch), ('test', n_test)):
    for f in files[split]:
      ids = np.arange(counter, counter + n)
      counter += n
      chw = (
        ids[:, None, None, None] * 7
        + np.arange(3)[:, None, None] * 50
        + np.arange(32)[:, None] * 3
        + np.arange(32)
      ) % 256
      batch = {
        b'data': chw.astype(np.uint8).reshape(n, 3072),
        label_key: list(ids % 10),
      }
      with open(staging / folder / f, 'wb') as fh:
        pickle.dump(batch, fh)
  if as_tar:
    with tarfile.open(directory / archive, 'w:gz') as tar:
      tar.add(staging / folder, arcname=folder)


@pytest.mark.parametrize(
  'name,as_tar', [('cifar10', True), ('cifar10', False), ('cifar100', True)]
)
def test_cifar_from_the_authors_files(tmp_path, name, as_tar):
  _write_fake_cifar(tmp_path, name, 6, 5, as_tar)
  config = _config(
    dataset=name,
    data_dir=str(tmp_path / 'tfds'),
    manual_dir=str(tmp_path),
    validation_examples=4,
    batch_size=4,
    eval_batch_size=4,
    augment='crop_pad,flip',
  )
  assert arrays.source(config) == 'files'  # no TFDS copy: read the files
  info = pipeline.get_info(config)
  n_train = 6 * (5 if name == 'cifar10' else 1)
  assert info.num_examples('train') == n_train - 4
  assert info.num_examples('test') == 5
  images, labels = arrays.load_arrays(config, info.splits['test'])
  assert images.shape == (5, 32, 32, 3)
  ids = np.arange(n_train, n_train + 5)
  np.testing.assert_array_equal(labels, ids % 10)
  # HWC from the files' CHW rows: pixel (y=2, x=5, channel 1) of image 3.
  assert images[3, 2, 5, 1] == (ids[3] * 7 + 50 + 2 * 3 + 5) % 256


def test_missing_files_say_what_to_put_where(tmp_path):
  config = _config(
    dataset='cifar10',
    data_dir=str(tmp_path),
    manual_dir=str(tmp_path / 'manual'),
  )
  with pytest.raises(Exception, match='tfds build cifar10'):
    pipeline.get_info(config)


def test_stream_is_deterministic_and_resumes_exactly(fmnist):
  config, info = fmnist
  feed = device_pipeline.DevicePipeline(config, info, sharding.make_mesh(1))
  spe = feed.steps_per_epoch
  assert spe == pipeline.steps_per_epoch(config, info) == 55_000 // 128
  stream = feed.train_batches(0)
  first = [jax.device_get(next(stream)) for _ in range(4)]
  assert first[0]['image'].dtype == np.uint8
  assert first[0]['image'].shape == (128, 28, 28, 1)
  resumed = jax.device_get(
    next(
      device_pipeline.DevicePipeline(
        config, info, sharding.make_mesh(1)
      ).train_batches(3)
    )
  )
  np.testing.assert_array_equal(resumed['image'], first[3]['image'])
  np.testing.assert_array_equal(resumed['label'], first[3]['label'])
  # Across the epoch boundary: the continuing stream = a fresh start there.
  crossing = feed.train_batches(spe - 1)
  next(crossing)
  np.testing.assert_array_equal(
    jax.device_get(next(crossing))['image'],
    jax.device_get(feed.train_batch(spe))['image'],
  )
  # Every epoch is a new permutation; another seed is another stream.
  assert not np.array_equal(feed.batch_indices(0), feed.batch_indices(spe))
  epoch = feed.epoch_table(0)
  assert epoch.shape == (spe, 128)
  assert len(np.unique(epoch)) == epoch.size  # no example twice an epoch
  other = device_pipeline.DevicePipeline(
    _config(**{**config.to_dict(), 'seed': 1}), info, sharding.make_mesh(1)
  )
  assert not np.array_equal(other.batch_indices(0), feed.batch_indices(0))


@pytest.mark.parametrize('process_count', [1, 3])
def test_each_process_feeds_its_own_part(fmnist, process_count):
  config, info = fmnist
  config = _config(**{**config.to_dict(), 'batch_size': 129})
  feeds = [
    device_pipeline.DevicePipeline(
      config,
      info,
      sharding.make_mesh(1),
      process_index=p,
      process_count=process_count,
    )
    for p in range(process_count)
  ]
  shards = [
    info.splits['train'].shard(p, process_count) for p in range(process_count)
  ]
  assert sum(s.size for s in shards) == 55_000
  spe = pipeline.steps_per_epoch(config, info, process_count)
  seen = collections.Counter()
  for step in (0, 1, spe - 1):
    step_ids = []
    for feed, shard in zip(feeds, shards):
      assert feed.steps_per_epoch == spe
      local = feed.batch_indices(step)
      assert local.shape == (129 // process_count,)
      assert local.min() >= 0 and local.max() < shard.size
      step_ids += list(shard.start + local)  # ids in the train split
    assert len(set(step_ids)) == 129  # no example twice in a global batch
    seen.update(step_ids)
  assert max(seen.values()) == 1  # nor twice in an epoch


@pytest.mark.parametrize('process_count', [1, 3])
def test_eval_counts_every_example_once(fmnist, process_count):
  config, info = fmnist
  config = _config(**{**config.to_dict(), 'batch_size': 129})
  feed = device_pipeline.DevicePipeline(
    config, info, sharding.make_mesh(1), process_count=process_count
  )
  table, mask = feed.eval_table('test')
  assert table.shape == mask.shape and table.shape[1] == 384
  local = 384 // process_count
  counts = collections.Counter()
  for p in range(process_count):
    shard = info.splits['test'].shard(p, process_count)
    ids = table[:, p * local : (p + 1) * local][
      mask[:, p * local : (p + 1) * local]
    ]
    assert ids.min() >= shard.start and ids.max() < shard.stop  # its own
    counts.update(ids)
  assert sum(counts.values()) == len(counts) == 10_000


@pytest.mark.parametrize('resize', [False, True])
def test_eval_batches_equal_the_tfdata_ones(fmnist, resize):
  """Same examples, same order, same preprocessing, every example once.

  With ``resize``: grayscale repeated to RGB and resized 28 -> 32 (bilinear,
  antialiased) on both paths, by the same eval transform in JAX.
  """
  config, info = fmnist
  if resize:
    config = _config(
      **{**config.to_dict(), 'grayscale_to_rgb': True, 'image_size': 32}
    )
    info = pipeline.get_info(config)
    assert info.image_shape == (32, 32, 3)
  feed = device_pipeline.DevicePipeline(config, info, sharding.make_mesh(1))
  ours = [jax.device_get(b) for b in feed.eval_batches('validation')]
  tfdata = inputs.TFDataPipeline(config, info, sharding.make_mesh(1))
  theirs = [jax.device_get(b) for b in tfdata.eval_batches('validation')]
  _, n = pipeline.eval_dataset(config, info, 'validation')
  assert len(ours) == len(theirs) == n == 14  # 5,000 / 384, padded
  assert sum(int(b['mask'].sum()) for b in ours) == 5_000
  for a, b in zip(ours, theirs):
    np.testing.assert_array_equal(a['mask'], b['mask'])
    np.testing.assert_array_equal(a['label'][a['mask']], b['label'][b['mask']])
    np.testing.assert_allclose(
      a['image'][a['mask']],
      b['image'][b['mask']],
      atol=1e-3 if resize else 1e-5,
    )


def test_augmentation_crops_flips_and_normalizes():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (64, 12, 12, 1), dtype=np.uint8)
  info = pipeline.InputInfo('x', 10, (12, 12, 1), {}, (0.5,), (0.25,))
  transform = jax.jit(
    device_augment.make_train_transform(
      _config(augment='crop_pad,flip', crop_padding=2), info
    )
  )
  key = jax.random.key(3)
  out, labels = transform(images, np.arange(64), key)
  again, _ = transform(images, np.arange(64), key)
  np.testing.assert_array_equal(out, again)  # a function of the key
  assert not np.array_equal(
    out, transform(images, np.arange(64), jax.random.key(4))[0]
  )
  np.testing.assert_array_equal(labels, np.arange(64))
  scaled = images / 255.0
  pad = np.pad(scaled, ((0, 0), (2, 2), (2, 2), (0, 0)))  # zero = black
  kinds = collections.Counter()
  for i in range(64):
    img = np.asarray(out[i]) * 0.25 + 0.5  # undo normalization
    match = [
      (dy, dx, f)
      for dy in range(5)
      for dx in range(5)
      for f in (False, True)
      if np.allclose(
        (
          pad[i, dy : dy + 12, dx : dx + 12, :][:, ::-1]
          if f
          else pad[i, dy : dy + 12, dx : dx + 12, :]
        ),
        img,
        atol=1e-6,
      )
    ]
    assert match, i  # each output is a padded crop, maybe mirrored
    kinds[match[0][2]] += 1
    kinds[match[0][:2]] += 1
  assert kinds[True] > 10 and kinds[False] > 10  # flips about half the time
  assert len([k for k in kinds if isinstance(k, tuple)]) > 10  # many offsets


def test_augment_key_depends_on_seed_and_step_only():
  """The key uses the state's run key (from the seed) and step, nothing else."""

  def state(seed, step):  # what augment_key reads of a TrainState
    rng = jax.random.key_data(jax.random.split(jax.random.key(seed), 3)[2])
    return types.SimpleNamespace(rng=rng, step=np.int32(step), params=seed)

  keys = lambda s: jax.random.key_data(train_step.augment_key(s))  # pylint: disable=g-long-lambda
  np.testing.assert_array_equal(keys(state(0, 5)), keys(state(0, 5)))
  assert not np.array_equal(keys(state(0, 5)), keys(state(0, 6)))
  assert not np.array_equal(keys(state(0, 5)), keys(state(1, 5)))
  # Not the dropout key of the same step.
  dropout = jax.random.key_data(
    jax.random.fold_in(jax.random.wrap_key_data(state(0, 5).rng), 5)
  )
  assert not np.array_equal(keys(state(0, 5)), dropout)


@pytest.mark.host_devices(8)
def test_eight_devices_get_the_same_batches_and_augmentation():
  assert jax.device_count() == 8, jax.devices()
  c = base.get_config()
  c.dataset = 'fashion_mnist'
  c.augment = 'crop_pad,flip'
  c.batch_size = 64
  c.eval_batch_size = 96
  info = pipeline.get_info(c)
  out = {}
  for n in (1, 8):
    mesh = sharding.make_mesh(n)
    feed = device_pipeline.DevicePipeline(c, info, mesh)
    batch = feed.train_batch(5)
    shards = batch['image'].addressable_shards
    assert len(shards) == n and {s.data.shape[0] for s in shards} == {64 // n}
    transform = jax.jit(
      feed.batch_transform,
      in_shardings=(sharding.data_sharding(mesh),) * 2
      + (sharding.replicated(mesh),),
      out_shardings=sharding.data_sharding(mesh),
    )
    key = jax.random.key(7)
    images, labels = transform(batch['image'], batch['label'], key)
    evals = [jax.device_get(b) for b in feed.eval_batches('test')]
    out[n] = (jax.device_get(batch), np.asarray(images), evals)
  for k in ('image', 'label'):
    np.testing.assert_array_equal(out[1][0][k], out[8][0][k])
  np.testing.assert_array_equal(out[1][1], out[8][1])  # augmentation too
  assert sum(int(b['mask'].sum()) for b in out[8][2]) == 10_000
  for a, b in zip(out[1][2], out[8][2]):
    for k in a:
      np.testing.assert_array_equal(a[k], b[k])


def _short_run(**overrides):
  c = lenet5_fashion_mnist.get_config()
  settings = dict(
    num_train_steps=150,
    batch_size=64,
    eval_every_epochs=1e3,
    log_every_steps=50,
    checkpoint_every_steps=1000,
    validation_examples=2000,
    shuffle_buffer=10_000,
    eval_batch_size=1000,
  )
  for k, v in {**settings, **overrides}.items():
    setattr(c, k, v)
  return c


def test_resumed_run_ends_where_the_uninterrupted_one_does(tmp_path):
  """60 steps in one go = 25 steps, stop, 35 more (across epoch ends).

  Synthetic images (a pure function of their index) keep the evaluations
  small; the input path is the one Fashion-MNIST takes.
  """
  common = dict(
    input_pipeline='device',
    lr_schedule='constant',
    dataset='synthetic',
    synthetic_shape=(28, 28, 1),
    synthetic_examples=1_700,
    validation_examples=100,
    augment='crop_pad,flip',
    eval_batch_size=100,
  )
  straight = trainer.train_and_evaluate(
    _short_run(num_train_steps=60, **common), str(tmp_path / 'straight')
  )
  resumed_dir = str(tmp_path / 'resumed')
  first = trainer.train_and_evaluate(
    _short_run(num_train_steps=25, **common), resumed_dir
  )
  assert first['step'] == 25 and first['steps_per_epoch'] == 25
  resumed = trainer.train_and_evaluate(
    _short_run(num_train_steps=60, **common), resumed_dir
  )
  assert resumed['step'] == 60
  assert resumed['validation'] == straight['validation']
  assert resumed['test'] == straight['test']
  saved = [
    checkpointing.load_variables(os.path.join(d, 'checkpoints'))
    for d in (str(tmp_path / 'straight'), resumed_dir)
  ]
  jax.tree.map(np.testing.assert_array_equal, *saved)


@pytest.mark.slow
def test_both_paths_learn(tmp_path):
  results = {
    p: trainer.train_and_evaluate(
      _short_run(input_pipeline=p, augment='crop_pad,flip', crop_padding=2),
      str(tmp_path / p),
    )
    for p in ('device', 'tfdata')
  }
  for r in results.values():
    assert r['validation']['num_examples'] == 2_000
    assert r['test']['num_examples'] == 10_000
    assert r['test']['accuracy'] > 0.7
  # Different shuffles and augmentation draws: close, not equal.
  assert (
    abs(
      results['device']['test']['accuracy']
      - results['tfdata']['test']['accuracy']
    )
    < 0.05
  )


def test_repeated_augmentation_shows_each_drawn_image_k_times(fmnist):
  config, info = fmnist
  config = _config(**{**config.to_dict(), 'aug_repeats': 3})
  feed = device_pipeline.DevicePipeline(config, info, sharding.make_mesh(1))
  plain = device_pipeline.DevicePipeline(fmnist[0], info, sharding.make_mesh(1))
  spe = feed.steps_per_epoch
  assert spe == plain.steps_per_epoch  # the epoch keeps its length
  epoch = feed.epoch_table(0).reshape(-1)
  # The plain epoch's first ceil(n / 3) draws, each three times in a row.
  drawn = plain.epoch_table(0).reshape(-1)[: -(-epoch.size // 3)]
  np.testing.assert_array_equal(epoch, np.repeat(drawn, 3)[: epoch.size])
  assert len(np.unique(epoch)) == drawn.size
  # Copies differ by their augmentation (keyed by position), not by label.
  batch = feed.train_batch(5)
  images, labels = jax.jit(feed.batch_transform)(
    batch['image'], batch['label'], jax.random.key(0)
  )
  images, labels = np.asarray(images), np.asarray(labels)
  np.testing.assert_array_equal(labels[0::3][:42], labels[1::3][:42])
  differ = [not np.array_equal(images[i], images[i + 1]) for i in (0, 3, 6, 9)]
  assert sum(differ) >= 2  # crop offsets and flips of each copy drawn apart
  # Resume: the stream restarted at a step is the same stream.
  np.testing.assert_array_equal(
    jax.device_get(
      next(
        device_pipeline.DevicePipeline(
          config, info, sharding.make_mesh(1)
        ).train_batches(spe + 2)
      )
    )['image'],
    jax.device_get(feed.train_batch(spe + 2))['image'],
  )
