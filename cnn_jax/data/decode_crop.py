"""Decode, crop and resize one image on the host: the tf.data path's work.

:func:`decode_crop_resize` turns an example's image, JPEG bytes (read with
TFDS's ``SkipDecoding``) or decoded uint8, into the uint8 ``size`` x ``size``
image of a crop window (``augment``'s windows: random for ``rrc`` /
``inception_crop``, central for evaluation, the whole image otherwise). It is
``tf.image.resize(crop, antialias=True)`` of the crop, rounded to uint8, made
cheap:

* a JPEG is decoded only inside the window (``tf.io.decode_and_crop_jpeg``:
  libjpeg-turbo skips the rows above and the columns beside it);
* with ``dct_scaling``, a crop at least 4, 8 or 16 times the output's side
  is decoded at 1/2, 1/4 or 1/8 scale by JPEG's scaled inverse DCT (the
  largest ratio that leaves the scaled crop at least :data:`MIN_SCALED`
  times the output's side, so that the antialiased resize still does the
  filtering), which saves most of the decoding work; the resize then maps
  the exact, fractional window of the scaled image (the geometry is
  unchanged). The result differs from full decoding by less than JPEG's own
  compression error (measured in BENCHMARKS.md, "ImageNet input on the
  host"); evaluation does not use it;
* the resize reads the uint8 crop as it is (no float copy of the crop), and
  a window smaller than the output is interpolated without the (then
  idle) antialiasing filter.
"""

from __future__ import annotations

from typing import Callable, Optional

from cnn_jax.data.augment import tf

RATIOS = (1, 2, 4, 8)  # the JPEG DCT scalings tf.io.decode_and_crop_jpeg has
MIN_SCALED = 2  # a DCT-scaled crop keeps at least this times the output side

# window(shape [3] int32) -> (offset [2], extent [2]) int32, in pixels.
Window = Callable


def whole(shape):
  """The window of the whole image."""
  return tf.zeros([2], tf.int32), tf.cast(shape[:2], tf.int32)


def dct_ratio_index(extent, size: int):
  """Index into :data:`RATIOS` of the largest ratio ``r`` with
  ``min(extent) >= MIN_SCALED * r * size``."""
  side = tf.reduce_min(extent)
  return tf.add_n(
    [tf.cast(side >= MIN_SCALED * r * size, tf.int32) for r in RATIOS[1:]]
  )


def _resize(image, offset, extent, size: int):
  """The window (float ``offset``, ``extent`` in ``image``'s pixels) resized
  to ``size`` x ``size``, antialiased, rounded to uint8.

  An image that is the window and grows in both directions is resized by
  plain bilinear interpolation: antialiasing then changes nothing (equal to
  float rounding), and it is several times cheaper.
  """

  def antialiased():
    scale = tf.cast(size, tf.float32) / extent
    return tf.raw_ops.ScaleAndTranslate(
      images=image[None],
      size=[size, size],
      scale=scale,
      translation=-offset * scale,
      kernel_type='triangle',
      antialias=True,
    )[0]

  def bilinear():
    return tf.image.resize(image, [size, size], 'bilinear', antialias=False)

  grows = tf.reduce_all(extent <= size) & tf.reduce_all(offset == 0.0)
  out = tf.cond(grows, bilinear, antialiased)
  return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)


def decode_window(
  image,
  window: Window,
  size: int,
  channels: Optional[int],
  dct_scaling: bool = False,
):
  """``(pixels, offset, extent)``: the decoded uint8 pixels that hold the
  window (a JPEG's DCT-scaled if asked, for an output of ``size``) and the
  window's float position in them."""
  if image.dtype != tf.string:  # decoded already: slice
    offset, extent = window(tf.shape(image))
    begin = tf.concat([offset, [0]], 0)
    crop = tf.slice(image, begin, tf.concat([extent, [-1]], 0))
    return crop, tf.zeros([2]), tf.cast(extent, tf.float32)
  shape = tf.io.extract_jpeg_shape(image)
  offset, extent = window(shape)

  def at_ratio(r: int):
    def decode():
      # libjpeg's 1/r image has ceil(side / r) pixels; pixel i covers the
      # original's [i r, (i + 1) r).
      scaled_shape = -(-shape[:2] // r)
      start = offset // r
      stop = tf.minimum(-(-(offset + extent) // r), scaled_shape)
      crop = tf.io.decode_and_crop_jpeg(
        image,
        tf.concat([start, stop - start], 0),
        channels=channels,
        ratio=r,
      )
      fraction = tf.cast(offset, tf.float32) / r - tf.cast(start, tf.float32)
      return crop, fraction, tf.cast(extent, tf.float32) / r

    return decode

  if not dct_scaling:
    return at_ratio(1)()
  return tf.switch_case(
    dct_ratio_index(extent, size), [at_ratio(r) for r in RATIOS]
  )


def decode_crop_resize(
  image,
  window: Window,
  size: int,
  channels: Optional[int],
  dct_scaling: bool = False,
):
  """uint8 [size, size, channels]: ``image``'s ``window``, resized.

  ``image``: a string tensor of JPEG bytes, or a decoded uint8 HWC image
  (which keeps its channels). ``channels``: what a JPEG is decoded to (1 or
  3).
  """
  if image.dtype != tf.string:
    channels = image.shape[-1]
  out = _resize(
    *decode_window(image, window, size, channels, dct_scaling), size
  )
  return tf.ensure_shape(out, [size, size, channels])
