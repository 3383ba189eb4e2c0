"""Decoding only the crop window (and DCT-scaled) against full decode + resize.

The reference is what the pipeline did before: the whole JPEG decoded,
cropped, resized by ``tf.image.resize(antialias=True)``, rounded to uint8.
"""

import numpy as np
import pytest

from cnn_jax.data import augment, decode_crop
from experiments.benchmarks import imagenet_like

tf = pytest.importorskip('tensorflow')


def _jpeg(h, w, seed):
  import io

  from PIL import Image

  rng = np.random.default_rng(seed)
  out = io.BytesIO()
  Image.fromarray(imagenet_like.photo(rng, h, w)).save(out, 'JPEG', quality=90)
  return out.getvalue()


def _reference(data, offset, extent, size):
  full = tf.io.decode_jpeg(data, channels=3)
  crop = full[
    offset[0] : offset[0] + extent[0], offset[1] : offset[1] + extent[1]
  ]
  out = tf.image.resize(tf.cast(crop, tf.float32), [size, size], antialias=True)
  return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8).numpy()


def _fixed(offset, extent):
  return lambda shape: (tf.constant(offset), tf.constant(extent))


def _levels(a, b):
  return np.abs(a.astype(np.int32) - b.astype(np.int32))


def test_window_decoding_is_full_decoding_but_at_its_edges():
  """Without DCT scaling: equal to the reference except a few pixels next to
  the window's sides (libjpeg upsamples the chroma of the window alone)."""
  data = _jpeg(333, 500, 0)
  for offset, extent, size in (
    ([17, 41], [290, 377], 224),
    ([0, 0], [333, 500], 96),
    ([100, 200], [60, 90], 64),  # upscaled
  ):
    got = decode_crop.decode_crop_resize(
      tf.constant(data), _fixed(offset, extent), size, 3
    ).numpy()
    diff = _levels(got, _reference(data, offset, extent, size))
    assert got.shape == (size, size, 3) and got.dtype == np.uint8
    assert diff.mean() < 0.05 and diff.max() <= 8, (offset, diff.max())


def test_decoded_images_are_cropped_and_resized_exactly():
  image = np.random.default_rng(1).integers(0, 256, (50, 70, 1), np.uint8)
  got = decode_crop.decode_crop_resize(
    tf.constant(image), _fixed([5, 9], [40, 52]), 24, 3
  ).numpy()
  want = tf.image.resize(
    tf.constant(image[5:45, 9:61], tf.float32), [24, 24], antialias=True
  )
  want = tf.cast(tf.clip_by_value(tf.round(want), 0, 255), tf.uint8).numpy()
  assert got.shape == (24, 24, 1)  # a decoded image keeps its channels
  np.testing.assert_array_equal(got, want)


def test_dct_scaling_only_where_the_crop_is_large_enough():
  index = lambda h, w, s: int(decode_crop.dct_ratio_index([h, w], s))  # noqa: E731
  assert index(447, 900, 112) == 0  # needs a side of 2 * 2 * 112 = 448
  assert index(448, 900, 112) == 1
  assert index(900, 900, 112) == 2 and index(1800, 1800, 112) == 3
  assert index(1800, 1800, 224) == 2


def test_dct_scaled_decoding_stays_within_its_tolerance():
  """Within the tolerance stated in BENCHMARKS.md (mean under 2 levels of
  255, 99% of values within 8) and the same geometry: the DCT-scaled and
  the full decode's crops of a window agree where it matters."""
  data = _jpeg(760, 1000, 2)
  for offset, extent, size, ratio in (
    ([30, 60], [700, 900], 160, 2),
    ([0, 0], [760, 1000], 80, 4),
    ([120, 10], [500, 720], 56, 4),
  ):
    assert (
      decode_crop.RATIOS[int(decode_crop.dct_ratio_index(extent, size))]
      == ratio
    )
    got = decode_crop.decode_crop_resize(
      tf.constant(data), _fixed(offset, extent), size, 3, dct_scaling=True
    ).numpy()
    diff = _levels(got, _reference(data, offset, extent, size))
    assert diff.mean() < 2.0 and np.percentile(diff, 99) <= 8, (
      ratio,
      diff.mean(),
      np.percentile(diff, 99),
    )
    # A window shifted by a quarter of the output differs far more: the
    # scaled window is where the full one is.
    shift = [offset[0], offset[1] + extent[1] // 4]
    moved = _reference(data, shift, [extent[0], extent[1] * 3 // 4], size)
    assert _levels(got, moved).mean() > 3 * diff.mean()


def test_random_crop_of_a_jpeg_equals_the_same_crop_of_its_pixels():
  """A host crop (rrc's window) of JPEG bytes and of the decoded image."""
  data = _jpeg(300, 400, 3)
  pixels = tf.io.decode_jpeg(data, channels=3)
  seed = tf.constant([4, 2], tf.int64)
  window = augment.crop_window('rrc', seed, (0.08, 1.0), (3 / 4, 4 / 3))
  from_jpeg = decode_crop.decode_crop_resize(tf.constant(data), window, 64, 3)
  from_pixels = decode_crop.decode_crop_resize(pixels, window, 64, 3)
  diff = _levels(from_jpeg.numpy(), from_pixels.numpy())
  assert diff.mean() < 0.1 and diff.max() <= 8
