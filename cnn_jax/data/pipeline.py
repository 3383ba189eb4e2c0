"""TFDS + tf.data input pipelines for training and evaluation.

* Splits: the validation set is carved from the end of the training split
  (``config.validation_examples``); the test split is kept for the final
  figure. Each process reads its own contiguous shard of every split.
* Training is an endless stream of epochs. Epoch ``e`` is shuffled with a seed
  derived from ``(config.seed, e)`` and each example is augmented with a seed
  derived from ``(config.seed, e, position)``, so the stream is a pure function
  of the config: a run resumed at step ``s`` rebuilds it and skips the first
  ``s`` batches, seeing exactly what the uninterrupted run saw. Repeated
  augmentation (``aug_repeats = k``) keeps the first ``ceil(n / k)``
  examples of the shuffle and shows each ``k`` times in a row, each copy
  augmented with its own position's seed.
* Evaluation sees every example exactly once: the last batch is padded with
  ``mask == 0`` examples, and every process runs the same number of batches.

TensorFlow is imported when a tf.data pipeline is built, not with this module:
the split facts (:func:`get_info`, :func:`steps_per_epoch`) serve the
on-device input path (:mod:`cnn_jax.data.device_pipeline`) too, which runs
without TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Iterator, Optional

import numpy as np

if TYPE_CHECKING:
  import tensorflow as tf

from cnn_jax import config_validation
from cnn_jax.data import arrays, augment, datasets, image_folder


def _tf():
  """TensorFlow, imported on first use (only tf.data pipelines need it)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return tf


@dataclasses.dataclass(frozen=True)
class Slice:
  """Examples ``[start, stop)`` of a base split (e.g. 'train')."""

  split: str
  start: int
  stop: int

  @property
  def size(self) -> int:
    return self.stop - self.start

  def shard(self, index: int, count: int) -> 'Slice':
    """The ``index``-th of ``count`` near-equal contiguous parts."""
    bounds = [self.start + self.size * i // count for i in range(count + 1)]
    return Slice(self.split, bounds[index], bounds[index + 1])


@dataclasses.dataclass(frozen=True)
class InputInfo:
  dataset: str
  num_classes: int
  image_shape: tuple[int, int, int]  # what the model sees.
  splits: dict  # 'train' / 'validation' / 'test' -> Slice (global).
  mean: tuple[float, ...]
  std: tuple[float, ...]

  def num_examples(self, split: str) -> int:
    return self.splits[split].size if split in self.splits else 0


def _spec_shape(config, spec) -> tuple[int, int, int]:
  if spec.name == 'synthetic':
    return tuple(config.synthetic_shape)
  return spec.image_shape


def _split_sizes(config, spec) -> dict[str, int]:
  if spec.name == 'synthetic':
    return {
      'train': config.synthetic_examples,
      'test': max(1, config.synthetic_examples // 10),
    }
  if arrays.has_arrays(spec.name):  # TFDS, or the dataset's files without it
    return arrays.split_sizes(config)
  builder = datasets.get_builder(
    spec.name, config.data_dir, config.manual_dir, config.download
  )
  return {
    name: builder.info.splits[split].num_examples
    for name, split in (('train', spec.train_split), ('test', spec.test_split))
  }


def get_info(config) -> InputInfo:
  """Dataset facts for ``config`` (prepares local data on first use)."""
  if config.dataset == image_folder.NAME:
    return _image_folder_info(config)
  spec = datasets.get_spec(config.dataset)
  sizes = _split_sizes(config, spec)
  n_val = config.validation_examples
  if config.get('validation_fraction') is not None:
    n_val = int(round(sizes['train'] * config.validation_fraction))
  if not 0 <= n_val < sizes['train']:
    raise config_validation.ConfigError(
      [
        f'validation_examples={n_val}: must be in [0, {sizes["train"]}) for '
        f'{spec.name} (the size of its training split).'
      ]
    )
  n_train = sizes['train'] - n_val
  splits = {
    'train': Slice(spec.train_split, 0, n_train),
    'test': Slice(spec.test_split, 0, sizes['test']),
  }
  if n_val:
    splits['validation'] = Slice(spec.train_split, n_train, sizes['train'])
  shape = _spec_shape(config, spec)
  if config.grayscale_to_rgb and shape[2] == 1:
    shape = (*shape[:2], 3)
  if config.image_size is not None:
    shape = (config.image_size, config.image_size, shape[2])
  num_classes = (
    config.synthetic_classes if spec.name == 'synthetic' else spec.num_classes
  )
  channels = shape[2]
  mean = tuple(config.mean) or _per_channel(spec.mean, channels)
  std = tuple(config.std) or _per_channel(spec.std, channels)
  return InputInfo(spec.name, num_classes, shape, splits, mean, std)


def _image_folder_info(config) -> InputInfo:
  """``get_info`` of an image folder (layout checked by ``image_folder``)."""
  folder = image_folder.scan_for(config)
  splits = {
    name: Slice(*sl)
    for name, sl in image_folder.split_slices(config, folder).items()
  }
  shape = image_folder.native_shape(config, folder)
  if config.grayscale_to_rgb and shape[2] == 1:
    shape = (*shape[:2], 3)
  mean, std = image_folder.default_mean_std(shape[2])
  mean = tuple(config.mean) or mean
  std = tuple(config.std) or std
  return InputInfo(
    image_folder.NAME, len(folder.class_names), shape, splits, mean, std
  )


def _per_channel(values, channels):
  return tuple(values) * channels if len(values) == 1 else tuple(values)


def _read(config, sl: Slice) -> tf.data.Dataset:
  """Decoded examples ``{'image': uint8 HWC, 'label': int32}`` of a slice."""
  tf = _tf()
  if config.dataset == 'synthetic':
    return _synthetic(config, sl)
  if config.dataset == image_folder.NAME:
    return image_folder.read(config, sl)
  builder = datasets.get_builder(
    config.dataset, config.data_dir, config.manual_dir, config.download
  )
  ds = builder.as_dataset(
    split=f'{sl.split}[{sl.start}:{sl.stop}]', shuffle_files=False
  )
  return ds.map(
    lambda ex: {'image': ex['image'], 'label': tf.cast(ex['label'], tf.int32)},
    num_parallel_calls=tf.data.AUTOTUNE,
  )


def _synthetic(config, sl: Slice) -> tf.data.Dataset:
  """Random images and labels, a pure function of the example index."""
  tf = _tf()
  shape = tuple(config.synthetic_shape)
  offset = 0 if sl.split == 'train' else 1 << 30

  def make(i):
    seed = tf.stack([tf.cast(i + offset, tf.int64), tf.constant(17, tf.int64)])
    image = tf.random.stateless_uniform(shape, seed, 0, 256, tf.int32)
    label = tf.random.stateless_uniform(
      [], seed + 1, 0, config.synthetic_classes, tf.int32
    )
    return {'image': tf.cast(image, tf.uint8), 'label': label}

  return tf.data.Dataset.range(sl.start, sl.stop).map(
    make, num_parallel_calls=tf.data.AUTOTUNE
  )


def _decoder(config):
  """uint8 image -> float32 in [0, 1], 3 channels if asked."""
  tf = _tf()

  def to_float(image):
    if config.grayscale_to_rgb and image.shape[-1] == 1:
      image = tf.repeat(image, 3, axis=-1)
    return tf.cast(image, tf.float32) / 255.0

  return to_float


def local_batch_size(global_batch: int, process_count: int) -> int:
  if global_batch % process_count:
    raise ValueError(
      f'Batch size {global_batch} does not divide over '
      f'{process_count} processes.'
    )
  return global_batch // process_count


def steps_per_epoch(config, info: InputInfo, process_count: int = 1) -> int:
  """Train steps per epoch: full global batches of the smallest shard."""
  local_batch = local_batch_size(config.batch_size, process_count)
  smallest = info.num_examples('train') // process_count
  steps = smallest // local_batch
  if steps == 0:
    raise ValueError(
      f'batch_size={config.batch_size} is larger than the '
      f'{info.num_examples("train")} training examples.'
    )
  return steps


def train_dataset(
  config,
  info: InputInfo,
  *,
  start_step: int = 0,
  process_index: int = 0,
  process_count: int = 1,
) -> tf.data.Dataset:
  """Endless stream of local training batches, starting at ``start_step``."""
  tf = _tf()
  sl = info.splits['train'].shard(process_index, process_count)
  local_batch = local_batch_size(config.batch_size, process_count)
  spe = steps_per_epoch(config, info, process_count)
  base = _read(config, sl)
  if config.cache:
    base = base.cache()
  transform = augment.make_train_transform(
    [a for a in config.augment.split(',') if a],
    size=config.image_size,
    padding=config.crop_padding,
    scale=config.rrc_scale,
    ratio=config.rrc_ratio,
    auto_augment=config.get('auto_augment'),
    randaugment_num_ops=config.get('randaugment_num_ops', 2),
    randaugment_magnitude=config.get('randaugment_magnitude', 9),
  )
  seed = config.seed
  to_float = _decoder(config)

  used = spe * local_batch
  repeats = config.get('aug_repeats', 1)

  def epoch(e):
    shuffled = base.shuffle(
      config.shuffle_buffer,
      seed=seed * 1_000_003 + e * 7919 + process_index,
      reshuffle_each_iteration=False,
    )
    if repeats > 1:  # repeated augmentation: the copies differ by position
      shuffled = shuffled.take(-(-used // repeats)).flat_map(
        lambda ex: tf.data.Dataset.from_tensors(ex).repeat(repeats)
      )
    return shuffled.take(used).enumerate().map(lambda i, ex: (e, i, ex))

  def preprocess(e, i, ex):
    example_seed = tf.stack(
      [tf.cast(seed, tf.int64) * 1_000_003 + e, i + (process_index << 32)]
    )
    image = transform(to_float(ex['image']), example_seed)
    image = augment.normalize(image, info.mean, info.std)
    return {'image': image, 'label': ex['label']}

  start_epoch, offset = divmod(start_step, spe)
  ds = tf.data.Dataset.range(start_epoch, 1 << 40).flat_map(epoch)
  ds = ds.skip(offset * local_batch)
  ds = ds.map(
    preprocess, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
  )
  ds = ds.batch(local_batch, drop_remainder=True)
  return ds.prefetch(tf.data.AUTOTUNE)


def eval_size(config) -> Optional[int]:
  """The side of the evaluation input: eval_image_size, else image_size."""
  size = config.get('eval_image_size')
  return size if size is not None else config.image_size


def eval_dataset(
  config,
  info: InputInfo,
  split: str,
  *,
  process_index: int = 0,
  process_count: int = 1,
) -> tuple[tf.data.Dataset, int]:
  """One pass over ``split`` in padded batches with a ``mask``; and #batches."""
  tf = _tf()
  if split not in info.splits:
    raise ValueError(f'No {split!r} split (validation_examples=0?).')
  full = info.splits[split]
  sl = full.shard(process_index, process_count)
  local_batch = local_batch_size(config.eval_batch_size, process_count)
  largest = max(full.shard(i, process_count).size for i in range(process_count))
  num_batches = math.ceil(largest / local_batch)
  size = eval_size(config)
  to_float = _decoder(config)

  def preprocess(ex):
    image = to_float(ex['image'])
    if size is not None:
      image = augment.central_crop_resize(
        image, size, config.eval_crop_fraction
      )
    image = augment.normalize(image, info.mean, info.std)
    return {'image': image, 'label': ex['label'], 'mask': tf.constant(True)}

  ds = _read(config, sl).map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
  padding = num_batches * local_batch - sl.size
  if padding:
    blank = {
      'image': tf.zeros(
        (size, size, info.image_shape[2]) if size else info.image_shape,
        tf.float32,
      ),
      'label': tf.constant(0, tf.int32),
      'mask': tf.constant(False),
    }
    ds = ds.concatenate(tf.data.Dataset.from_tensors(blank).repeat(padding))
  ds = ds.batch(local_batch, drop_remainder=True)
  if config.cache:
    ds = ds.cache()
  return ds.prefetch(tf.data.AUTOTUNE), num_batches


def as_numpy(ds: tf.data.Dataset) -> Iterator[dict[str, np.ndarray]]:
  return iter(ds.as_numpy_iterator())


def hide_gpus_from_tensorflow(tf_module: Optional[object] = None) -> None:
  """tf.data must not grab accelerator memory that JAX needs."""
  (tf_module or _tf()).config.set_visible_devices([], 'GPU')
