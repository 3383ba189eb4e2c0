"""How fast the tf.data input path feeds, and what each of its stages costs.

:func:`run` times the config's real training stream
(:func:`cnn_jax.data.pipeline.train_dataset`, as ``as_numpy`` batches: what
the host hands over) on all of this process's cores, then each stage of the
host's per-image work on one thread, over the first ``examples`` images of
the training split held in memory. Per core is counted both ways: images/s
divided by the cores, and images per second of this process's CPU time
(``per_cpu_s``: on a machine shared with other work, what a core of its own
would do):

* ``read``: TFDS's records of the split, as stored (JPEG bytes for ImageNet),
  from the file system;
* ``decode_whole``: the whole JPEG decoded (what TFDS's own decoding costs;
  for comparison, not a stage of the path);
* ``crop_window``: the crop window drawn (the JPEG's header read, the
  random box), nothing decoded;
* ``decode_window``: the window drawn and only it decoded (DCT-scaled where
  the window allows: :mod:`cnn_jax.data.decode_crop`);
* ``resize``: the window resized to the output, rounded to uint8;
* ``host_image``: the two together, as the pipeline runs them;
* ``resize_bilinear``: for comparison, the window resized without
  antialiasing (what a faster, less faithful resize would cost);
* ``transfer``: a uint8 batch assembled and copied to the devices
  (``sharding.global_batch``), per image.

(The stages are those of one image; with repeated augmentation the stream
decodes each JPEG whole, once for its copies.) ``windows`` says, of the same
images' crop windows, which fraction each DCT ratio decodes and which
fraction is enlarged (resized by plain bilinear interpolation).

And the work the train step does on the devices for the input (the
``batch_transform`` and the recipe's random erasing / mixup / CutMix), timed
on the devices of this process, for reference.
"""

from __future__ import annotations

import resource
import time
from typing import Any, Callable

from cnn_jax.data import augment, decode_crop, pipeline


def cpu_seconds() -> float:
  """CPU time this process has used (all its threads)."""
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def _images_per_cpu_s(ds, count: int) -> float:
  """Images per CPU-second of iterating ``count`` elements of ``ds`` (one
  image each) on one thread."""
  it = iter(ds)
  next(it)  # builds the pipeline, fills its first buffers
  start = cpu_seconds()
  for _ in range(count):
    next(it)
  return count / (cpu_seconds() - start)


def stream_rate(config, info, batches: int, warmup: int) -> dict[str, Any]:
  """Images/s of the training stream on all cores."""
  ds = pipeline.train_dataset(config, info)
  it = pipeline.as_numpy(ds)
  start = time.perf_counter()
  for _ in range(warmup):
    next(it)
  warm_s = time.perf_counter() - start
  start, cpu = time.perf_counter(), cpu_seconds()
  n = sum(len(next(it)['label']) for _ in range(batches))
  rate = n / (time.perf_counter() - start)
  cores = pipeline.cpu_count()
  return {
    'images_per_s': rate,
    'images_per_s_per_core': rate / cores,
    'images_per_cpu_s': n / (cpu_seconds() - cpu),
    'cpu_cores': cores,
    'warmup_s': warm_s,
    'tfdata_options': pipeline.describe_options(ds.options()),
  }


def stage_rates(config, info, examples: int = 256):
  """Images per CPU-second of each host stage on one thread, and the
  fractions of their windows (see the module doc)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  n = min(examples, info.num_examples('train'))
  sl = pipeline.Slice(info.splits['train'].split, 0, n)
  one_thread = pipeline.options(threads=1)
  read = pipeline.read(config, sl).with_options(one_thread)
  rates = {'read': _images_per_cpu_s(read.repeat(), n)}
  held = read.cache().repeat()
  for _ in held.take(n):  # fills the cache
    pass
  size = config.image_size
  channels = pipeline.jpeg_channels(info)
  crop, _ = augment.host_crop(config)

  def window(i):
    if crop is None:
      return decode_crop.whole
    seed = tf.stack([tf.constant(config.seed, tf.int64), i])
    return augment.crop_window(crop, seed, config.rrc_scale, config.rrc_ratio)

  def window_pixels(i, ex):
    return decode_crop.decode_window(
      ex['image'], window(i), size, channels, dct_scaling=True
    )

  def bilinear(i, ex):
    pixels = window_pixels(i, ex)[0]
    return tf.image.resize(pixels, [size, size], antialias=False)

  def shape(image):
    if image.dtype == tf.string:
      return tf.io.extract_jpeg_shape(image)
    return tf.shape(image)

  stages: dict[str, Callable] = {
    'crop_window': lambda i, ex: window(i)(shape(ex['image'])),
    'decode_window': lambda i, ex: window_pixels(i, ex)[0],
    'resize_bilinear_with_decode': bilinear,
    'host_image': lambda i, ex: decode_crop.decode_crop_resize(
      ex['image'], window(i), size, channels, dct_scaling=True
    ),
  }
  if info.jpeg_photos:
    stages['decode_whole'] = lambda i, ex: tf.io.decode_jpeg(
      ex['image'], channels=channels
    )
  rates['windows'] = _window_fractions(held.take(n), window, shape, size)
  for name, fn in stages.items():
    ds = held.enumerate().map(fn, num_parallel_calls=1).with_options(one_thread)
    rates[name] = _images_per_cpu_s(ds, n)
  windows = rates.pop('windows')
  # A resize's share: what decoding the window leaves of the whole.
  alone = lambda whole: 1.0 / max(  # noqa: E731
    1.0 / whole - 1.0 / rates['decode_window'], 1e-9
  )
  rates['resize'] = alone(rates['host_image'])
  rates['resize_bilinear'] = alone(rates.pop('resize_bilinear_with_decode'))
  return rates, windows


def _window_fractions(examples, window, shape, size: int) -> dict[str, float]:
  """Fractions of ``examples``' windows decoded at each DCT ratio, and
  enlarged in both directions."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def facts(i, ex):
    _, extent = window(i)(shape(ex['image']))
    return (
      decode_crop.dct_ratio_index(extent, size),
      tf.reduce_all(extent <= size),
    )

  counts = [0] * len(decode_crop.RATIOS)
  enlarged = total = 0
  for index, grows in examples.enumerate().map(facts).as_numpy_iterator():
    counts[int(index)] += 1
    enlarged += int(grows)
    total += 1
  out = {
    f'dct_ratio_{r}': c / max(total, 1)
    for r, c in zip(decode_crop.RATIOS, counts)
  }
  out['enlarged'] = enlarged / max(total, 1)
  return out


def transfer_rate(shape, mesh, repeats: int = 10) -> dict[str, float]:
  """A uint8 training batch of this host (``shape``), assembled and copied
  to the devices (``sharding.global_batch``): images/s and MB per batch."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from cnn_jax.training import sharding  # pylint: disable=g-import-not-at-top

  local = shape[0]
  batch = {
    'image': np.zeros(shape, np.uint8),
    'label': np.zeros((local,), np.int32),
  }
  jax.block_until_ready(sharding.global_batch(batch, mesh))
  start = time.perf_counter()
  for _ in range(repeats):
    jax.block_until_ready(sharding.global_batch(batch, mesh))
  seconds = (time.perf_counter() - start) / repeats
  return {
    'images_per_s': local / seconds,
    'mb_per_batch': batch['image'].nbytes / 1e6,
  }


def step_transform_rate(config, info, mesh, shape, repeats: int = 5) -> float:
  """Images/s of the train step's input work on the devices (its
  ``batch_transform`` and recipe transform) on a uint8 batch of ``shape``
  (this process's part of the global batch)."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from cnn_jax.data import batch_augment, device_augment  # pylint: disable=g-import-not-at-top
  from cnn_jax.training import sharding  # pylint: disable=g-import-not-at-top

  transform = device_augment.make_train_transform(
    config, info, host_crops_done=True
  )
  recipe = batch_augment.make_recipe_transform(config, info.num_classes)

  def work(images, labels, key):
    x, y = transform(images, labels, key)
    if recipe is not None:
      x, y = recipe(x, y, jax.random.fold_in(key, 1))
    return x, y

  batch = sharding.global_batch(
    {
      'image': np.zeros(shape, np.uint8),
      'label': np.zeros(shape[:1], np.int32),
    },
    mesh,
  )
  n = config.batch_size
  fn = jax.jit(work)
  key = jax.random.key(0)
  jax.block_until_ready(fn(batch['image'], batch['label'], key))
  start = time.perf_counter()
  for i in range(repeats):
    out = fn(batch['image'], batch['label'], jax.random.fold_in(key, i))
  jax.block_until_ready(out)
  return n * repeats / (time.perf_counter() - start)


def run(
  config, *, batches: int = 50, warmup: int = 5, examples: int = 256
) -> dict[str, Any]:
  """All of the above for ``config`` (see the module doc)."""
  from cnn_jax.training import sharding  # pylint: disable=g-import-not-at-top

  pipeline.hide_gpus_from_tensorflow()
  info = pipeline.get_info(config)
  mesh = sharding.make_mesh(config.num_devices)
  out = {
    'dataset': config.dataset,
    'augment': config.augment,
    'image_size': config.image_size,
    'input_pipeline': 'tfdata',
    'batch_size': config.batch_size,
    'batches': batches,
    'warmup': warmup,
    **stream_rate(config, info, batches, warmup),
  }
  shape = next(pipeline.as_numpy(pipeline.train_dataset(config, info)))[
    'image'
  ].shape
  if config.image_size is not None:
    out['stages_per_core'], out['windows'] = stage_rates(config, info, examples)
  out['transfer'] = transfer_rate(shape, mesh)
  out['step_input_work_images_per_s'] = step_transform_rate(
    config, info, mesh, shape
  )
  return out
