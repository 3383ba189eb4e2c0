"""The arrays of a dataset that fits in memory: :func:`load_arrays`.

``load_arrays(config, split_slice)`` returns the examples of a
:class:`cnn_jax.data.pipeline.Slice` as numpy arrays, ``images`` uint8
``[N, H, W, C]`` (the stored images, before any resizing or augmentation) and
``labels`` int32 ``[N]``. The on-device input path
(:mod:`cnn_jax.data.device_pipeline`) puts them on the devices once.

Where the examples come from (:func:`source`), in this order:

* ``synthetic``: random images and labels, a pure function of the example
  index (they differ from the tf.data pipeline's synthetic images, which
  TensorFlow's stateless RNG draws);
* TFDS, when it can be imported: the same examples in the same order as the
  tf.data pipeline reads (Fashion-MNIST and MNIST are prepared from their IDX
  files on first use, as there);
* otherwise the dataset's own files (:mod:`cnn_jax.data.raw_files`) in
  ``config.manual_dir`` (default: Debian's folder for Fashion-MNIST, else
  ``<data_dir>/downloads/manual``). The files list the examples in another
  order than TFDS stores them, so the validation set carved from the end of
  the training split differs from a TFDS run's: compare runs that read from
  the same source (the trainer logs it).

Each base split is read once per process and kept (read-only) for the
process's lifetime: at most two, e.g. CIFAR's 150 MB training split and its
test split.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from cnn_jax.data import datasets, raw_files

SOURCES = ('synthetic', 'tfds', 'files')
_SYNTHETIC_BLOCK = 1024  # examples drawn per generator call


def has_arrays(name: str) -> bool:
  """Whether :func:`load_arrays` can read dataset ``name``."""
  return name in datasets.DATASETS and datasets.get_spec(name).in_memory


def _files_dir(config) -> str:
  data_dir = datasets.default_data_dir(config.data_dir)
  return datasets.default_manual_dir(
    config.dataset, data_dir, config.manual_dir
  )


@functools.lru_cache(maxsize=8)
def _source(name: str, data_dir: str, manual_dir: str, download: bool) -> str:
  if name == 'synthetic':
    return 'synthetic'
  if not has_arrays(name):
    raise ValueError(
      f'Dataset {name!r} does not fit in memory; it is read by '
      'the tf.data pipeline (--config.input_pipeline=tfdata).'
    )
  data_dir = datasets.default_data_dir(data_dir)
  files = datasets.default_manual_dir(name, data_dir, manual_dir)
  tfds = datasets.import_tfds()
  if tfds is not None:
    try:
      datasets.get_builder(name, data_dir, manual_dir, download)
      return 'tfds'
    except datasets.DatasetNotPreparedError:
      if not raw_files.has_files(name, files):
        raise
  if raw_files.has_files(name, files):
    return 'files'
  spec = datasets.get_spec(name)
  raise datasets.DatasetNotPreparedError(
    f'Dataset {name!r} was not found: TensorFlow Datasets is not installed '
    f'here, and {files} does not hold {raw_files.expected_files(name)}. Put '
    'them there, or in a folder given by --config.manual_dir=DIR. With '
    'TFDS installed: '
    + spec.how_to_prepare.format(name=name, data_dir=data_dir, manual_dir=files)
  )


def source(config) -> str:
  """Where ``config.dataset`` is read from: 'synthetic', 'tfds' or 'files'."""
  return _source(
    config.dataset, config.data_dir, config.manual_dir, bool(config.download)
  )


def split_sizes(config) -> dict[str, int]:
  """``{'train': n, 'test': n}``: the sizes of the dataset's two base splits."""
  spec = datasets.get_spec(config.dataset)
  where = source(config)
  if where == 'synthetic':
    return {
      'train': config.synthetic_examples,
      'test': max(1, config.synthetic_examples // 10),
    }
  if where == 'tfds':
    builder = datasets.get_builder(
      spec.name, config.data_dir, config.manual_dir, config.download
    )
    return {
      name: builder.info.splits[split].num_examples
      for name, split in (
        ('train', spec.train_split),
        ('test', spec.test_split),
      )
    }
  return {
    name: raw_files.num_examples(spec.name, _files_dir(config), split)
    for name, split in (('train', spec.train_split), ('test', spec.test_split))
  }


@functools.lru_cache(maxsize=2)
def _read_tfds(
  name: str, data_dir: str, manual_dir: str, download: bool, split: str
) -> tuple[np.ndarray, np.ndarray]:
  tfds = datasets.import_tfds()
  builder = datasets.get_builder(name, data_dir, manual_dir, download)
  # shuffle_files=False: the order the tf.data pipeline reads.
  data = tfds.as_numpy(
    builder.as_dataset(split=split, batch_size=-1, shuffle_files=False)
  )
  images = np.asarray(data['image'], np.uint8)
  labels = np.asarray(data['label'], np.int64)
  images.flags.writeable = False
  labels.flags.writeable = False
  return images, labels


def _synthetic(config, split: str, start: int, stop: int):
  """Examples ``[start, stop)``: each a pure function of its index."""
  shape = tuple(config.synthetic_shape)
  offset = 0 if split == 'train' else 1 << 30
  images, labels = [], []
  for block in range(
    start // _SYNTHETIC_BLOCK,
    (stop - 1) // _SYNTHETIC_BLOCK + 1 if stop > start else 0,
  ):
    rng = np.random.default_rng([17, offset + block])
    images.append(rng.integers(0, 256, (_SYNTHETIC_BLOCK, *shape), np.uint8))
    labels.append(rng.integers(0, config.synthetic_classes, _SYNTHETIC_BLOCK))
  if not images:
    return (np.zeros((0, *shape), np.uint8), np.zeros((0,), np.int64))
  first = (start // _SYNTHETIC_BLOCK) * _SYNTHETIC_BLOCK
  rows = slice(start - first, stop - first)
  return np.concatenate(images)[rows], np.concatenate(labels)[rows]


def load_arrays(config, split_slice: Any) -> tuple[np.ndarray, np.ndarray]:
  """Images uint8 ``[N, H, W, C]`` and labels int32 ``[N]`` of a slice.

  ``split_slice`` is a :class:`cnn_jax.data.pipeline.Slice` (a base split and
  ``[start, stop)``). The images are the stored ones: the model's input size,
  ``grayscale_to_rgb`` and augmentation are applied on the device.
  """
  sl = split_slice
  where = source(config)
  if where == 'synthetic':
    images, labels = _synthetic(config, sl.split, sl.start, sl.stop)
  elif where == 'tfds':
    images, labels = _read_tfds(
      config.dataset,
      config.data_dir,
      config.manual_dir,
      bool(config.download),
      sl.split,
    )
  else:
    images, labels = raw_files.read_split(
      config.dataset, _files_dir(config), sl.split
    )
  if where != 'synthetic':
    if sl.stop > len(labels):
      raise ValueError(
        f'{sl} is beyond the {len(labels)} examples of '
        f'{config.dataset} {sl.split}.'
      )
    images, labels = images[sl.start : sl.stop], labels[sl.start : sl.stop]
  return images, labels.astype(np.int32)
