"""Offline TFDS builders for MNIST-format (IDX) datasets already on disk.

Debian's ``dataset-fashion-mnist`` ships the four Fashion-MNIST IDX files in
``/usr/share/datasets/fashion-mnist/``, recompressed: the content is right but
the sha256 differs from TFDS's registered checksums, so TFDS's own builder
refuses them. These builders keep TFDS's dataset name, version and features
and read the IDX files from a directory instead of downloading them. Once
prepared, the ordinary ``tfds.builder('fashion_mnist', data_dir=...)`` reads
the result, so every later step is the same code path as any TFDS dataset.
"""
from __future__ import annotations

import gzip
import os

import numpy as np
import tensorflow_datasets as tfds

_FILES = {
    'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
}

# Where Debian packages put the files (the package name to install, the dir).
DEBIAN_DIRS = {
    'fashion_mnist': ('dataset-fashion-mnist', '/usr/share/datasets/fashion-mnist'),
}


def _open(directory: str, stem: str):
  for name in (stem + '.gz', stem):
    path = os.path.join(directory, name)
    if os.path.exists(path):
      return gzip.open(path, 'rb') if name.endswith('.gz') else open(path, 'rb')
  raise FileNotFoundError(f'{stem}[.gz] not found in {directory}')


def read_idx(directory: str, split: str) -> tuple[np.ndarray, np.ndarray]:
  """Reads one split's images (N, 28, 28, 1) uint8 and labels (N,) int64."""
  image_stem, label_stem = _FILES[split]
  with _open(directory, image_stem) as f:
    magic, n, rows, cols = np.frombuffer(f.read(16), '>i4')
    if magic != 2051:
      raise ValueError(f'{image_stem} is not an IDX image file (magic {magic})')
    images = np.frombuffer(f.read(), np.uint8).reshape(n, rows, cols, 1)
  with _open(directory, label_stem) as f:
    magic, n_labels = np.frombuffer(f.read(8), '>i4')
    if magic != 2049 or n_labels != n:
      raise ValueError(f'{label_stem} does not match {image_stem}')
    labels = np.frombuffer(f.read(), np.uint8).astype(np.int64)
  return images, labels


class _LocalIdxMixin:
  """Replaces the download step of TFDS's MNIST builders with a local read."""

  def _split_generators(self, dl_manager):
    directory = dl_manager.manual_dir
    return {split: self._generate_examples(directory, split) for split in _FILES}

  def _generate_examples(self, directory, split):  # pylint: disable=arguments-differ
    images, labels = read_idx(directory, split)
    for i, (image, label) in enumerate(zip(images, labels)):
      yield i, {'image': image, 'label': label}


class LocalFashionMNIST(_LocalIdxMixin, tfds.image_classification.FashionMNIST,
                        skip_registration=True):
  name = 'fashion_mnist'
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      'Put the four Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz], ...) '
      'in the manual dir; on Debian: apt-get install dataset-fashion-mnist.')


class LocalMNIST(_LocalIdxMixin, tfds.image_classification.MNIST,
                 skip_registration=True):
  name = 'mnist'
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      'Put the four MNIST IDX files (train-images-idx3-ubyte[.gz], ...) in the '
      'manual dir.')


LOCAL_BUILDERS = {'fashion_mnist': LocalFashionMNIST, 'mnist': LocalMNIST}


def prepare(name: str, data_dir: str, manual_dir: str) -> None:
  """Builds TFDS's ``name`` in ``data_dir`` from IDX files in ``manual_dir``."""
  builder = LOCAL_BUILDERS[name](data_dir=data_dir)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
