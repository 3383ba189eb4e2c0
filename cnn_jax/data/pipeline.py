"""TFDS + tf.data input pipelines for training and evaluation.

* Splits: the validation set is carved from the end of the training split
  (``config.validation_examples``); the test split is kept for the final
  figure. Each process reads its own contiguous shard of every split.
* The host only decodes, crops and resizes (:mod:`cnn_jax.data.decode_crop`):
  ImageNet's JPEGs are read as bytes (TFDS's ``SkipDecoding``) and decoded
  inside the example's crop window, after a resumed run's skip; images of
  one size (the small datasets) pass as they are. Batches are uint8; the
  rest (``crop_pad``, ``flip``, ``auto_augment``, normalization, random
  erasing, mixup / CutMix, and a small dataset's resize) runs in the train
  step (:mod:`cnn_jax.data.device_augment`, the ``batch_transform`` of
  :class:`cnn_jax.data.inputs.TFDataPipeline`).
* Training is an endless stream of epochs. Epoch ``e`` is shuffled with a seed
  derived from ``(config.seed, e)`` and each example's crop is drawn with a
  seed derived from ``(config.seed, e, position)``, so the stream is a pure
  function of the config: a run resumed at step ``s`` rebuilds it and skips
  the first ``s`` batches, seeing exactly what the uninterrupted run saw.
  Repeated augmentation (``aug_repeats = k``) keeps the first
  ``ceil(n / k)`` examples of the shuffle and shows each ``k`` times in a
  row, each copy cropped with its own position's seed (a JPEG is then
  decoded whole, once for its ``k`` copies).
* Evaluation sees every example exactly once: the last batch is padded with
  ``mask == 0`` examples, and every process runs the same number of batches.
* tf.data runs on a private thread pool of this process's cores, one
  thread per op (:func:`options`), deterministically (resume depends on it).

TensorFlow is imported when a tf.data pipeline is built, not with this module:
the split facts (:func:`get_info`, :func:`steps_per_epoch`) serve the
on-device input path (:mod:`cnn_jax.data.device_pipeline`) too, which runs
without TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

import numpy as np

if TYPE_CHECKING:
  import tensorflow as tf

from cnn_jax import config_validation
from cnn_jax.data import arrays, augment, datasets, decode_crop, image_folder


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
  # JPEG photos of varying sizes (ImageNet): the host decodes, crops and
  # resizes them; other datasets' images pass to the train step as stored.
  jpeg_photos: bool = False

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
  return InputInfo(
    spec.name, num_classes, shape, splits, mean, std, spec.jpeg_photos
  )


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


def read(config, sl: Slice) -> tf.data.Dataset:
  """Examples ``{'image', 'label': int32}`` of a slice: the image is JPEG
  bytes for JPEG photos (decoded later, in its crop window), else uint8 HWC."""
  tf = _tf()
  if config.dataset == 'synthetic':
    return _synthetic(config, sl)
  if config.dataset == image_folder.NAME:
    return image_folder.read(config, sl)
  tfds = datasets.import_tfds()
  builder = datasets.get_builder(
    config.dataset, config.data_dir, config.manual_dir, config.download
  )
  decoders = None
  if datasets.get_spec(config.dataset).jpeg_photos:
    decoders = {'image': tfds.decode.SkipDecoding()}
  ds = builder.as_dataset(
    split=f'{sl.split}[{sl.start}:{sl.stop}]',
    shuffle_files=False,
    decoders=decoders,
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


def cpu_count() -> int:
  """The cores this process may run on."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:
    return os.cpu_count() or 1


def options(threads: Optional[int] = None) -> tf.data.Options:
  """The pipelines' tf.data options: a private pool of ``threads`` (default:
  this process's cores), one thread per op (examples run in parallel,
  not the ops of one example), order kept, autotuned buffers."""
  tf = _tf()
  opts = tf.data.Options()
  opts.deterministic = True
  opts.threading.private_threadpool_size = threads or cpu_count()
  opts.threading.max_intra_op_parallelism = 1
  opts.autotune.enabled = True
  opts.experimental_optimization.map_parallelization = True
  return opts


def describe_options(opts) -> dict[str, Any]:
  """The tf.data options that shape throughput, as a record."""
  return {
    'deterministic': opts.deterministic,
    'private_threadpool_size': opts.threading.private_threadpool_size,
    'max_intra_op_parallelism': opts.threading.max_intra_op_parallelism,
    'autotune': opts.autotune.enabled,
    'map_parallelization': opts.experimental_optimization.map_parallelization,
    'map_num_parallel_calls': 'AUTOTUNE',
    'prefetch': 'AUTOTUNE',
  }


def _example_seed(seed: int, epoch, position, process_index: int):
  tf = _tf()
  return tf.stack(
    [
      tf.cast(seed, tf.int64) * 1_000_003 + epoch,
      position + (process_index << 32),
    ]
  )


def train_image_fn(config, info: InputInfo) -> Optional[Callable]:
  """The host's work on a training image, ``f(image, example_seed) ->
  uint8``: decode (JPEG photos), the configured ``rrc`` / ``inception_crop``
  window, resize to ``image_size``; None where there is none to do (the
  image goes to the train step as stored)."""
  tf = _tf()
  crop, index = augment.host_crop(config)
  if crop is None and not info.jpeg_photos:
    return None
  if config.image_size is None:
    raise ValueError(
      f'{config.dataset}: its images differ in size; set --config.image_size.'
    )
  count = max(1, len(augment.names(config)))
  channels = jpeg_channels(info)

  def image_fn(image, example_seed):
    window = decode_crop.whole
    if crop is not None:  # the crop's seed: its share of the example's
      seeds = tf.random.experimental.stateless_split(example_seed, num=count)
      window = augment.crop_window(
        crop, seeds[index], config.rrc_scale, config.rrc_ratio
      )
    return decode_crop.decode_crop_resize(
      image, window, config.image_size, channels, dct_scaling=True
    )

  return image_fn


def eval_image_fn(config, info: InputInfo) -> Optional[Callable]:
  """The host's work on an evaluation image, ``f(image) -> uint8``: JPEG
  photos decoded in their central ``eval_crop_fraction`` and resized to the
  evaluation size (exactly: no DCT scaling); None for other datasets (the
  train step's eval transform crops and resizes them)."""
  if not info.jpeg_photos:
    return None
  size = eval_size(config)
  if size is None:
    raise ValueError(
      f'{config.dataset}: its images differ in size; set --config.image_size.'
    )
  window = augment.central_window(config.eval_crop_fraction)
  channels = jpeg_channels(info)
  return lambda image: decode_crop.decode_crop_resize(
    image, window, size, channels
  )


def jpeg_channels(info: InputInfo) -> Optional[int]:
  """The channels a JPEG photo is decoded to (None: the images are decoded
  already and keep theirs)."""
  if not info.jpeg_photos:
    return None
  return datasets.get_spec(info.dataset).image_shape[2]


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
  base = read(config, sl)
  if config.cache:
    base = base.cache()
  image_fn = train_image_fn(config, info)
  seed = config.seed

  used = spe * local_batch
  repeats = config.get('aug_repeats', 1)
  start_epoch, offset = divmod(start_step, spe)
  skipped = offset * local_batch  # of the first epoch: skipped, not decoded

  def decoded(index, ex):  # a JPEG decoded whole, once for all its copies
    image = ex['image']
    if image.dtype == tf.string:
      image = tf.io.decode_jpeg(image, channels=jpeg_channels(info))
    return index, {**ex, 'image': image}

  def epoch(e):
    first = tf.where(e == start_epoch, tf.constant(skipped, tf.int64), 0)
    shuffled = base.shuffle(
      config.shuffle_buffer,
      seed=seed * 1_000_003 + e * 7919 + process_index,
      reshuffle_each_iteration=False,
    )
    if repeats <= 1:
      examples = shuffled.take(used).enumerate().skip(first)
    else:  # repeated augmentation: the copies differ by position
      drawn = shuffled.take(-(-used // repeats)).enumerate()
      drawn = drawn.skip(first // repeats).map(
        decoded, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
      )
      examples = drawn.flat_map(copies)
      examples = examples.skip(first % repeats).take(used - first)

    def tagged(i, ex):
      return e, i, ex

    return examples.map(tagged)

  def copies(d, ex):  # drawn image d at positions d k, ..., d k + k - 1
    def copy(j):
      return d * repeats + j, ex

    return tf.data.Dataset.range(repeats).map(copy)

  def preprocess(e, i, ex):
    image = ex['image']
    if image_fn is not None:
      image = image_fn(image, _example_seed(seed, e, i, process_index))
    return {'image': image, 'label': ex['label']}

  ds = tf.data.Dataset.range(start_epoch, 1 << 40).flat_map(epoch)
  ds = ds.map(
    preprocess, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
  )
  ds = ds.batch(local_batch, drop_remainder=True)
  return ds.prefetch(tf.data.AUTOTUNE).with_options(options())


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
  image_fn = eval_image_fn(config, info)

  def preprocess(ex):
    image = ex['image'] if image_fn is None else image_fn(ex['image'])
    return {'image': image, 'label': ex['label'], 'mask': tf.constant(True)}

  ds = read(config, sl).map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
  padding = num_batches * local_batch - sl.size
  if padding:
    blank = {
      'image': tf.zeros(ds.element_spec['image'].shape, tf.uint8),
      'label': tf.constant(0, tf.int32),
      'mask': tf.constant(False),
    }
    ds = ds.concatenate(tf.data.Dataset.from_tensors(blank).repeat(padding))
  ds = ds.batch(local_batch, drop_remainder=True)
  if config.cache:
    ds = ds.cache()
  return ds.prefetch(tf.data.AUTOTUNE).with_options(options()), num_batches


def as_numpy(ds: tf.data.Dataset) -> Iterator[dict[str, np.ndarray]]:
  return iter(ds.as_numpy_iterator())


def hide_gpus_from_tensorflow(tf_module: Optional[object] = None) -> None:
  """tf.data must not grab accelerator memory that JAX needs."""
  (tf_module or _tf()).config.set_visible_devices([], 'GPU')
