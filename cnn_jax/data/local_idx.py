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

import tensorflow_datasets as tfds

# The readers live in raw_files (no TensorFlow); kept importable from here.
from cnn_jax.data.raw_files import DEBIAN_DIRS, read_idx  # noqa: F401

_SPLITS = ('train', 'test')


class _LocalIdxMixin:
  """Replaces the download step of TFDS's MNIST builders with a local read."""

  def _split_generators(self, dl_manager):
    directory = dl_manager.manual_dir
    return {
      split: self._generate_examples(directory, split) for split in _SPLITS
    }

  def _generate_examples(self, directory, split):  # pylint: disable=arguments-differ
    images, labels = read_idx(directory, split)
    for i, (image, label) in enumerate(zip(images, labels)):
      yield i, {'image': image, 'label': label}


class LocalFashionMNIST(
  _LocalIdxMixin, tfds.image_classification.FashionMNIST, skip_registration=True
):
  name = 'fashion_mnist'
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
    'Put the four Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz], ...) '
    'in the manual dir; on Debian: apt-get install dataset-fashion-mnist.'
  )


class LocalMNIST(
  _LocalIdxMixin, tfds.image_classification.MNIST, skip_registration=True
):
  name = 'mnist'
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
    'Put the four MNIST IDX files (train-images-idx3-ubyte[.gz], ...) in the '
    'manual dir.'
  )


LOCAL_BUILDERS = {'fashion_mnist': LocalFashionMNIST, 'mnist': LocalMNIST}


def prepare(name: str, data_dir: str, manual_dir: str) -> None:
  """Builds TFDS's ``name`` in ``data_dir`` from IDX files in ``manual_dir``."""
  builder = LOCAL_BUILDERS[name](data_dir=data_dir)
  builder.download_and_prepare(
    download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
  )
