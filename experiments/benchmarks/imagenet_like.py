r"""ImageNet-like JPEGs in ILSVRC2012 tars, for TFDS's real imagenet2012 builder.

Run::

  python -m experiments.benchmarks.imagenet_like --manual_dir=DIR \
      [--train=2000] [--val=500] [--classes=20] [--seed=0]

writes ``DIR/ILSVRC2012_img_train.tar`` (one ``<wnid>.tar`` per class of
``<wnid>_<i>.JPEG``, as image-net.org ships it) and
``DIR/ILSVRC2012_img_val.tar`` (``ILSVRC2012_val_<8 digits>.JPEG``, labelled
by TFDS's own validation label list in name order). ``cnn_jax.main`` (or
``cnn_jax.benchmark``) with ``--config.manual_dir=DIR`` then prepares them
through TFDS's ``imagenet2012`` builder on first use.

The images stand in for ImageNet's in what the input pipeline's cost depends
on: their sizes (the longer side 500 px for most, smaller ones and a few large
ones; mean about 400 x 350 px) and their compressed size (mean about 110 KB:
JPEG quality 85-97 of photo-like content). Content: a background and a few
objects of 1/f-spectrum texture (the spectrum of natural images), colour
smoother than brightness, under a smooth illumination, so that JPEG
compresses them as it does photographs (not as noise, nor as flat shapes).
"""

from __future__ import annotations

import argparse
import io
import os
import tarfile
import time
from typing import Iterator

import numpy as np

TRAIN_TAR = 'ILSVRC2012_img_train.tar'
VAL_TAR = 'ILSVRC2012_img_val.tar'


def image_size(rng: np.random.Generator) -> tuple[int, int]:
  """(height, width) drawn to match ImageNet's mix of sizes."""
  u = rng.random()
  if u < 0.5:
    longer = 500
  elif u < 0.975:
    longer = int(rng.integers(160, 500))
  else:
    longer = int(rng.integers(600, 1000))
  aspect = rng.choice([4 / 3, 3 / 2, 1.0], p=[0.6, 0.3, 0.1])
  shorter = max(1, int(round(longer / aspect)))
  if rng.random() < 0.75:  # landscape
    return shorter, longer
  return longer, shorter


def _field(rng: np.random.Generator, h: int, w: int, exponent: float):
  """A zero-mean, unit-variance random field with a 1/f^exponent amplitude."""
  fy = np.fft.fftfreq(h)[:, None]
  fx = np.fft.rfftfreq(w)[None, :]
  f = np.sqrt(fx * fx + fy * fy)
  f[0, 0] = 1.0
  amplitude = f**-exponent
  amplitude[0, 0] = 0.0
  phase = rng.random((h, w // 2 + 1)) * 2 * np.pi
  field = np.fft.irfft2(amplitude * np.exp(1j * phase), s=(h, w))
  return field / (field.std() + 1e-12)


def _ellipse(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
  """A random rotated ellipse's mask."""
  cy, cx = rng.random() * h, rng.random() * w
  ry, rx = (0.1 + 0.4 * rng.random(2)) * np.array([h, w])
  angle = rng.random() * np.pi
  y, x = np.mgrid[:h, :w]
  dy, dx = y - cy, x - cx
  c, s = np.cos(angle), np.sin(angle)
  u, v = (c * dx + s * dy) / rx, (-s * dx + c * dy) / ry
  return u * u + v * v <= 1.0


def photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
  """A photo-like uint8 RGB image (see the module doc)."""
  luma = 0.0
  chroma = np.zeros((2, h, w))
  regions = [np.ones((h, w), bool)] + [
    _ellipse(h, w, rng) for _ in range(int(rng.integers(1, 5)))
  ]
  for mask in regions:  # each region: its own texture, brightness, colour
    detail = 0.5 + rng.random()
    texture = (
      rng.normal(0.0, 0.6) + detail * 1.0 * _field(rng, h, w, 0.85)
    ) * 50 + 120
    luma = np.where(mask, texture, luma)
    for k in range(2):
      tint = rng.normal(0, 25) + 12 * _field(rng, h, w, 1.6)
      chroma[k] = np.where(mask, tint, chroma[k])
  light = 1.0 + 0.25 * _field(rng, h, w, 2.5)
  y = luma * light + rng.normal(0.0, 1.0 + 4.0 * rng.random(), (h, w))  # grain
  cb, cr = chroma
  rgb = np.stack(
    [y + 1.402 * cr, y - 0.344 * cb - 0.714 * cr, y + 1.772 * cb], axis=-1
  )
  return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def jpeg(rng: np.random.Generator) -> tuple[bytes, tuple[int, int]]:
  """One ImageNet-like JPEG file's bytes, and its (height, width)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top

  h, w = image_size(rng)
  out = io.BytesIO()
  Image.fromarray(photo(rng, h, w)).save(
    out, 'JPEG', quality=int(rng.integers(85, 98))
  )
  return out.getvalue(), (h, w)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
  info = tarfile.TarInfo(name)
  info.size = len(data)
  info.mtime = 0
  tar.addfile(info, io.BytesIO(data))


def train_classes(count: int) -> list[str]:
  """The first ``count`` ImageNet class ids (TFDS's label order)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  path = tfds.core.tfds_path('datasets/imagenet2012/labels.txt')
  with open(path) as f:
    return f.read().split()[:count]


def write_tars(
  manual_dir: str,
  train: int,
  val: int,
  classes: int = 20,
  seed: int = 0,
) -> dict:
  """Writes the two tars; returns what they hold (counts, mean size/bytes)."""
  os.makedirs(manual_dir, exist_ok=True)
  rng = np.random.default_rng(seed)
  wnids = train_classes(classes)
  sizes, lengths = [], []

  def files(n: int) -> Iterator[bytes]:
    for _ in range(n):
      data, hw = jpeg(rng)
      lengths.append(len(data))
      sizes.append(hw)
      yield data

  with tarfile.open(os.path.join(manual_dir, TRAIN_TAR), 'w') as outer:
    for c, wnid in enumerate(wnids):
      inner = io.BytesIO()
      count = train // classes + (c < train % classes)
      with tarfile.open(fileobj=inner, mode='w') as tar:
        for i, data in enumerate(files(count)):
          _add(tar, f'{wnid}_{i}.JPEG', data)
      _add(outer, f'{wnid}.tar', inner.getvalue())
  with tarfile.open(os.path.join(manual_dir, VAL_TAR), 'w') as tar:
    for i, data in enumerate(files(val)):
      _add(tar, f'ILSVRC2012_val_{i + 1:08d}.JPEG', data)
  return {
    'train': train,
    'validation': val,
    'classes': classes,
    'mean_bytes': float(np.mean(lengths)) if lengths else 0.0,
    'mean_hw': [float(v) for v in np.mean(sizes, axis=0)],
  }


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--manual_dir', required=True)
  parser.add_argument('--train', type=int, default=2000)
  parser.add_argument('--val', type=int, default=500)
  parser.add_argument('--classes', type=int, default=20)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)
  t = time.perf_counter()
  facts = write_tars(
    args.manual_dir, args.train, args.val, args.classes, args.seed
  )
  print(
    f'{args.manual_dir}: {facts["train"]} train / {facts["validation"]} '
    f'validation JPEGs of {facts["classes"]} classes, mean '
    f'{facts["mean_bytes"] / 1e3:.0f} KB, mean size about '
    f'{facts["mean_hw"][1]:.0f} x {facts["mean_hw"][0]:.0f} px (w x h), in '
    f'{time.perf_counter() - t:.0f} s'
  )


if __name__ == '__main__':
  main()
