"""The training augmentations, and the crop windows the host draws for them.

``augment`` (the config field) lists augmentations from
:data:`AUGMENTATIONS`. Two of them pick the region of the image to keep and
resize it (:data:`HOST_CROPS`: ``rrc``, torchvision's RandomResizedCrop, and
``inception_crop``, Szegedy et al.'s crop that covers at least 10%): on the
tf.data path the host draws their window here and decodes only that
(:mod:`cnn_jax.data.decode_crop`). Everything per pixel after that
(``crop_pad``, ``flip``, the ``auto_augment`` policy, normalization, random
erasing, mixup / CutMix) runs in JAX inside the train step, on both input
paths (:mod:`cnn_jax.data.device_augment`, :mod:`cnn_jax.data.batch_augment`).

The windows are stateless: each takes an explicit ``seed`` (a shape-[2] int
tensor) derived from (seed, epoch, position), so a resumed run draws the
crops the uninterrupted run drew.
"""

from __future__ import annotations


class _TensorFlow:
  """``tensorflow``, imported on first use: the names below (read by config
  validation) must be importable without TensorFlow."""

  def __getattr__(self, name):
    import tensorflow  # pylint: disable=g-import-not-at-top

    return getattr(tensorflow, name)


tf = _TensorFlow()

AUGMENTATIONS = ('crop_pad', 'flip', 'rrc', 'inception_crop')
HOST_CROPS = ('rrc', 'inception_crop')  # crop + resize: drawn on the host


def names(config) -> list[str]:
  """The configured augmentations, in order."""
  return [a for a in config.augment.split(',') if a]


def host_crop(config):
  """The configured crop that resizes (an element of :data:`HOST_CROPS`) and
  its index in :func:`names` (its seed), or (None, None)."""
  for index, name in enumerate(names(config)):
    if name in HOST_CROPS:
      return name, index
  return None, None


def random_box(shape, seed, scale, ratio, min_object_covered: float):
  """(offset, extent): a box of area ``scale`` and aspect ``ratio`` ranges
  (10 tries; the whole image if none fits), of an image of ``shape``."""
  begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
    tf.cast(shape, tf.int32),
    bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
    seed=seed,
    min_object_covered=min_object_covered,
    aspect_ratio_range=tuple(ratio),
    area_range=tuple(scale),
    max_attempts=10,
    use_image_if_no_bounding_boxes=True,
  )
  return begin[:2], size[:2]


def crop_window(name: str, seed, scale, ratio):
  """The window of host crop ``name`` ('rrc' or 'inception_crop')."""
  if name not in HOST_CROPS:
    raise ValueError(f'{name!r} is not one of {", ".join(HOST_CROPS)}.')
  covered = 0.1 if name == 'inception_crop' else 0.0
  return lambda shape: random_box(shape, seed, scale, ratio, covered)


def central_window(fraction: float):
  """The central square of ``fraction`` of the shorter side; with 1.0 the
  whole image (resized to a square, stretched if it is not one)."""

  def window(shape):
    hw = tf.cast(shape[:2], tf.int32)
    if fraction >= 1.0:
      return tf.zeros([2], tf.int32), hw
    side = tf.cast(tf.cast(tf.reduce_min(hw), tf.float32) * fraction, tf.int32)
    return (hw - side) // 2, tf.stack([side, side])

  return window
