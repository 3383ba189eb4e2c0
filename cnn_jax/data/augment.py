"""Image preprocessing and augmentation ops for tf.data (stateless, seeded).

Every random op takes an explicit ``seed`` (a shape-[2] int tensor) so that a
run is reproducible example by example, and a resumed run sees exactly the
augmentations the uninterrupted run would have seen. Images are float32 in
[0, 1], HWC, until ``normalize``.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence


class _TensorFlow:
  """``tensorflow``, imported on first use: the names below (read by config
  validation) must be importable without TensorFlow."""

  def __getattr__(self, name):
    import tensorflow  # pylint: disable=g-import-not-at-top

    return getattr(tensorflow, name)


tf = _TensorFlow()

AUGMENTATIONS = ('crop_pad', 'flip', 'rrc', 'inception_crop')
AUTO_STREAM = 0xA08  # fold_in tag of the auto_augment policy's seed


def crop_pad(image, seed, padding: int):
  """Zero-pads each side by ``padding`` and takes a random crop of the size."""
  h, w, c = image.shape
  padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
  return tf.image.stateless_random_crop(padded, [h, w, c], seed)


def flip(image, seed):
  return tf.image.stateless_random_flip_left_right(image, seed)


def _random_box_crop(
  image, seed, size: int, scale, ratio, min_object_covered: float
):
  begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
    tf.shape(image),
    bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
    seed=seed,
    min_object_covered=min_object_covered,
    aspect_ratio_range=tuple(ratio),
    area_range=tuple(scale),
    max_attempts=10,
    use_image_if_no_bounding_boxes=True,
  )
  crop = tf.slice(image, begin, crop_size)
  return resize(crop, size)


def random_resized_crop(
  image, seed, size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)
):
  """torchvision's RandomResizedCrop: random area and aspect, then resize."""
  return _random_box_crop(image, seed, size, scale, ratio, 0.0)


def inception_crop(
  image, seed, size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)
):
  """Inception-style crop (Szegedy et al. 2015): the box must cover >= 10%."""
  return _random_box_crop(image, seed, size, scale, ratio, 0.1)


def resize(image, size: int):
  return tf.image.resize(image, [size, size], method='bilinear', antialias=True)


def central_crop_resize(image, size: int, fraction: float):
  """Takes the central ``fraction`` of the shorter side, resizes to ``size``."""
  if fraction < 1.0:
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    side = tf.cast(tf.cast(tf.minimum(h, w), tf.float32) * fraction, tf.int32)
    image = tf.image.crop_to_bounding_box(
      image, (h - side) // 2, (w - side) // 2, side, side
    )
  return resize(image, size)


def normalize(image, mean: Sequence[float], std: Sequence[float]):
  return (image - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


def make_train_transform(
  names: Sequence[str],
  *,
  size: int,
  padding: int,
  scale,
  ratio,
  auto_augment: Optional[str] = None,
  randaugment_num_ops: int = 2,
  randaugment_magnitude: int = 9,
) -> Callable:
  """Chains the named augmentations into ``f(image, seed) -> image``.

  ``size`` is the output side (None: keep the native size). Unless a crop op
  already resizes, the image is resized to ``size`` first. ``auto_augment``
  (:mod:`cnn_jax.data.auto_augment`: 'randaugment', 'trivialaugment' or
  'autoaugment') runs after them, on the cropped and flipped image, as in
  torchvision's ImageNet recipes.
  """
  unknown = [n for n in names if n not in AUGMENTATIONS]
  if unknown:
    raise ValueError(
      f'Unknown augmentation(s) {unknown}; known: {", ".join(AUGMENTATIONS)}'
    )
  resizes = any(n in ('rrc', 'inception_crop') for n in names)
  if resizes and size is None:
    raise ValueError('rrc / inception_crop need config.image_size.')

  policies = {}  # (height, width) -> the auto_augment policy

  def policy(image):
    h, w = image.shape[0], image.shape[1]
    if h is None or w is None:
      raise ValueError(
        'auto_augment needs images of a known size: set --config.image_size.'
      )
    if (h, w) not in policies:
      from cnn_jax.data import auto_augment as aa  # pylint: disable=g-import-not-at-top

      policies[h, w] = aa.make_policy(
        auto_augment,
        height=h,
        width=w,
        num_ops=randaugment_num_ops,
        magnitude=randaugment_magnitude,
      )
    return policies[h, w]

  def transform(image, seed):
    if size is not None and not resizes:
      image = resize(image, size)
    seeds = tf.unstack(
      tf.random.experimental.stateless_split(seed, num=max(1, len(names)))
    )
    for name, s in zip(names, seeds):
      if name == 'crop_pad':
        image = crop_pad(image, s, padding)
      elif name == 'flip':
        image = flip(image, s)
      elif name == 'rrc':
        image = random_resized_crop(image, s, size, scale, ratio)
      elif name == 'inception_crop':
        image = inception_crop(image, s, size, scale, ratio)
    if auto_augment is not None:  # a seed of its own, apart from the ops'
      policy_seed = tf.random.experimental.stateless_fold_in(seed, AUTO_STREAM)
      image = policy(image)(image, policy_seed)
    return image

  return transform
