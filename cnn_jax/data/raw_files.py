"""Reads small datasets straight from the files their authors distribute.

No TensorFlow: numpy, gzip, tarfile and pickle only. This is how the on-device
input path (:mod:`cnn_jax.data.arrays`) gets MNIST, Fashion-MNIST and
CIFAR-10/100 where TFDS is not installed (a GPU box without TensorFlow).

* MNIST and Fashion-MNIST: the four IDX files, gzipped or not
  (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
  ``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``).
* CIFAR-10 / CIFAR-100: the "python version" from the authors' page, either
  the archive (``cifar-10-python.tar.gz``, ``cifar-100-python.tar.gz``) or its
  extracted folder (``cifar-10-batches-py/``, ``cifar-100-python/``).
  CIFAR-100 labels are the 100 fine classes, as in TFDS's ``label``.

Examples come in the files' order. TFDS stores them in another order, so the
validation set carved from the end of the training split holds other images
when the same run reads through TFDS (see :mod:`cnn_jax.data.arrays`).
"""

from __future__ import annotations

import functools
import gzip
import os
import pickle
import tarfile
from typing import Optional

import numpy as np

_IDX_FILES = {
  'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
  'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
}

# Where Debian packages put the files (the package name to install, the dir).
DEBIAN_DIRS = {
  'fashion_mnist': (
    'dataset-fashion-mnist',
    '/usr/share/datasets/fashion-mnist',
  ),
}

# CIFAR "python version": archive name, folder inside it, files per split,
# and the key of the labels in each pickled batch.
_CIFAR = {
  'cifar10': (
    'cifar-10-python.tar.gz',
    'cifar-10-batches-py',
    {'train': [f'data_batch_{i}' for i in range(1, 6)], 'test': ['test_batch']},
    b'labels',
  ),
  'cifar100': (
    'cifar-100-python.tar.gz',
    'cifar-100-python',
    {'train': ['train'], 'test': ['test']},
    b'fine_labels',
  ),
}

FORMATS = {
  'mnist': 'idx',
  'fashion_mnist': 'idx',
  'cifar10': 'cifar',
  'cifar100': 'cifar',
}

# What to put where, for error messages.
EXPECTED_FILES = {
  'idx': (
    'the four IDX files (train-images-idx3-ubyte.gz, '
    'train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, '
    't10k-labels-idx1-ubyte.gz; gzipped or not)'
  ),
  'cifar10': (
    'cifar-10-python.tar.gz (the "python version" from '
    'https://www.cs.toronto.edu/~kriz/cifar.html) or its extracted '
    'cifar-10-batches-py folder'
  ),
  'cifar100': (
    'cifar-100-python.tar.gz (the "python version" from '
    'https://www.cs.toronto.edu/~kriz/cifar.html) or its extracted '
    'cifar-100-python folder'
  ),
}


def expected_files(name: str) -> str:
  fmt = FORMATS[name]
  return EXPECTED_FILES[name if fmt == 'cifar' else fmt]


def _idx_path(directory: str, stem: str) -> Optional[str]:
  for name in (stem + '.gz', stem):
    path = os.path.join(directory, name)
    if os.path.exists(path):
      return path
  return None


def _open_idx(directory: str, stem: str):
  path = _idx_path(directory, stem)
  if path is None:
    raise FileNotFoundError(f'{stem}[.gz] not found in {directory}')
  return gzip.open(path, 'rb') if path.endswith('.gz') else open(path, 'rb')


def read_idx(directory: str, split: str) -> tuple[np.ndarray, np.ndarray]:
  """Reads one split's images (N, 28, 28, 1) uint8 and labels (N,) int64."""
  image_stem, label_stem = _IDX_FILES[split]
  with _open_idx(directory, image_stem) as f:
    magic, n, rows, cols = np.frombuffer(f.read(16), '>i4')
    if magic != 2051:
      raise ValueError(f'{image_stem} is not an IDX image file (magic {magic})')
    images = np.frombuffer(f.read(), np.uint8).reshape(n, rows, cols, 1)
  with _open_idx(directory, label_stem) as f:
    magic, n_labels = np.frombuffer(f.read(8), '>i4')
    if magic != 2049 or n_labels != n:
      raise ValueError(f'{label_stem} does not match {image_stem}')
    labels = np.frombuffer(f.read(), np.uint8).astype(np.int64)
  return images, labels


def _cifar_location(name: str, directory: str) -> Optional[str]:
  """The extracted folder or the archive of CIFAR ``name`` in ``directory``."""
  archive, folder, _, _ = _CIFAR[name]
  for path in (os.path.join(directory, folder), directory):
    if os.path.isdir(path) and os.path.exists(
      os.path.join(path, _CIFAR[name][2]['test'][0])
    ):
      return path
  path = os.path.join(directory, archive)
  return path if os.path.isfile(path) else None


def read_cifar(
  name: str, directory: str, split: str
) -> tuple[np.ndarray, np.ndarray]:
  """Reads CIFAR ``name``'s split: images (N, 32, 32, 3) uint8, labels int64."""
  location = _cifar_location(name, directory)
  if location is None:
    raise FileNotFoundError(f'No {expected_files(name)} in {directory}')
  _, folder, files, label_key = _CIFAR[name]
  batches = []
  if os.path.isdir(location):
    for f in files[split]:
      with open(os.path.join(location, f), 'rb') as fh:
        batches.append(pickle.load(fh, encoding='bytes'))
  else:
    with tarfile.open(location, 'r:gz') as tar:
      for f in files[split]:
        batches.append(
          pickle.load(tar.extractfile(f'{folder}/{f}'), encoding='bytes')
        )
  data = np.concatenate([np.asarray(b[b'data'], np.uint8) for b in batches])
  images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
  labels = np.concatenate([np.asarray(b[label_key], np.int64) for b in batches])
  return np.ascontiguousarray(images), labels


def has_files(name: str, directory: Optional[str]) -> bool:
  """Whether ``directory`` holds dataset ``name``'s files."""
  if name not in FORMATS or not directory or not os.path.isdir(directory):
    return False
  if FORMATS[name] == 'idx':
    return all(
      _idx_path(directory, stem) is not None
      for stems in _IDX_FILES.values()
      for stem in stems
    )
  return _cifar_location(name, directory) is not None


@functools.lru_cache(maxsize=2)
def read_split(
  name: str, directory: str, split: str
) -> tuple[np.ndarray, np.ndarray]:
  """One split of ``name`` (read once per process; callers must not write)."""
  if FORMATS[name] == 'idx':
    images, labels = read_idx(directory, split)
  else:
    images, labels = read_cifar(name, directory, split)
  images.flags.writeable = False
  labels.flags.writeable = False
  return images, labels


def num_examples(name: str, directory: str, split: str) -> int:
  """The split's size (IDX: from the header, without reading the images)."""
  if FORMATS[name] == 'idx':
    with _open_idx(directory, _IDX_FILES[split][1]) as f:
      return int(np.frombuffer(f.read(8), '>i4')[1])
  return len(read_split(name, directory, split)[1])
