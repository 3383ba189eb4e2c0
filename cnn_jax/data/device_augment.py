"""Preprocessing and augmentation in JAX, run inside the jitted train step.

Both input paths hand the train step uint8 images: the on-device path
(:mod:`cnn_jax.data.device_pipeline`) the dataset's own, the tf.data path
(:mod:`cnn_jax.data.pipeline`) the host's decoded, cropped and resized ones.
:func:`make_train_transform` builds the step's ``batch_transform(images,
labels, key) -> (images, targets)`` hook
(:func:`cnn_jax.training.train_step.train_step`): uint8 -> float32 in [0, 1],
grayscale -> RGB if asked, resize to ``image_size`` if set (nothing to do
where the host resized), then the configured augmentations in order, then
normalization with the dataset's mean and std. :func:`make_eval_transform`
is evaluation's: the central crop and resize (where the host did not), and
normalization.

Randomness: the step passes one key per batch, derived from (seed, step);
example ``i`` of the global batch draws from ``fold_in(key, i)``. So the
augmentation of an example depends on the seed, the step and its position in
the global batch only, not on how the batch is split over devices or hosts.
Random erasing, mixup and CutMix run after this hook
(:mod:`cnn_jax.data.batch_augment`).

Augmentations here: ``crop_pad`` (zero-pad each side by ``crop_padding``,
random crop back to the size, as torchvision's ``RandomCrop(size,
padding)``) and ``flip`` (horizontal, probability 1/2); then the
``auto_augment`` policy (RandAugment, TrivialAugmentWide or AutoAugment:
:mod:`cnn_jax.data.device_auto_augment`) on the cropped and flipped image,
keyed by ``fold_in(example key, AUTO_STREAM)``, apart from the crop and flip
draws. ``color_jitter`` (torchvision's ``ColorJitter`` with one strength for
brightness, contrast and saturation: :func:`color_jitter`) runs between the
two, keyed by ``fold_in(example key, JITTER_STREAM)``. The crops that
resize (``rrc``, ``inception_crop``) are drawn on the host, when it
decodes (:mod:`cnn_jax.data.augment`): the on-device path, which has no host
step, does not have them.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import lax

from cnn_jax.data import augment, device_auto_augment

AUGMENTATIONS = ('crop_pad', 'flip')
AUTO_STREAM = 0xA08  # fold_in tag of the auto_augment policy's key
JITTER_STREAM = 0xA09  # fold_in tag of color_jitter's key
# torchvision's ColorJitter brightness, contrast and saturation: on PIL
# images, ImageEnhance's Brightness, Contrast and Color, the enhance ops of
# the auto_augment policies.
JITTER_OPS = ('Brightness', 'Contrast', 'Color')


def augment_names(config, host_crops_done: bool = False) -> list[str]:
  """The configured augmentations this module runs (``host_crops_done``:
  without the crops the host drew)."""
  return [
    a
    for a in augment.names(config)
    if not (host_crops_done and a in augment.HOST_CROPS)
  ]


def unsupported(config) -> list[str]:
  """The configured augmentations that have no JAX version here."""
  return [a for a in augment_names(config) if a not in AUGMENTATIONS]


def crop_pad(image, key, padding: int):
  """One HWC image: zero-pad each side by ``padding``, crop a random window."""
  if padding <= 0:
    return image
  h, w, c = image.shape
  padded = jnp.pad(image, ((padding, padding), (padding, padding), (0, 0)))
  offsets = jax.random.randint(key, (2,), 0, 2 * padding + 1)
  return lax.dynamic_slice(padded, (offsets[0], offsets[1], 0), (h, w, c))


def flip(image, key):
  """One HWC image, mirrored left-right with probability 1/2."""
  return jnp.where(jax.random.bernoulli(key), image[:, ::-1], image)


def color_jitter(image, key, strength: float):
  """torchvision's ``ColorJitter(s, s, s)`` on one float HWC image in [0, 1]:
  brightness, contrast and saturation in a random order, each by a factor
  drawn uniformly from [max(0, 1 - s), 1 + s], on the 0..255 levels of the
  PIL image it sees: each blend truncated to a level, as PIL's ImageEnhance
  (brightness exactly PIL's; contrast and saturation within a level, PIL
  rounding its grayscale to integers)."""
  order_key, factor_key = jax.random.split(key)
  order = jax.random.permutation(order_key, len(JITTER_OPS))
  factors = jax.random.uniform(
    factor_key,
    (len(JITTER_OPS),),
    minval=max(0.0, 1.0 - strength),
    maxval=1.0 + strength,
  )
  ops = [
    lambda x, f, name=name: jnp.floor(
      device_auto_augment.apply_op(x, name, f - 1.0)
    )
    for name in JITTER_OPS
  ]
  x = jnp.round(jnp.clip(image, 0.0, 1.0) * 255.0)
  for i in range(len(JITTER_OPS)):
    x = lax.switch(order[i], ops, x, factors[order[i]])
  return x / 255.0


def to_float(images, grayscale_to_rgb: bool = False):
  """uint8 NHWC -> float32 in [0, 1]; 1 channel -> 3 if asked."""
  images = images.astype(jnp.float32) / 255.0
  if grayscale_to_rgb and images.shape[-1] == 1:
    images = jnp.repeat(images, 3, axis=-1)
  return images


def resize(images, size: int):
  """NHWC -> N x size x size x C, bilinear with antialiasing (as tf.image)."""
  n, h, w, c = images.shape
  if (h, w) == (size, size):
    return images
  return jax.image.resize(
    images, (n, size, size, c), method='linear', antialias=True
  )


def central_crop(images, fraction: float):
  """The central ``fraction`` of the shorter side, square (NHWC)."""
  if fraction >= 1.0:
    return images
  h, w = images.shape[1:3]
  side = int(min(h, w) * fraction)
  top, left = (h - side) // 2, (w - side) // 2
  return images[:, top : top + side, left : left + side, :]


def normalize(images, mean: Sequence[float], std: Sequence[float]):
  return (images - jnp.asarray(mean, jnp.float32)) / jnp.asarray(
    std, jnp.float32
  )


def example_keys(key, n: int):
  """``fold_in(key, i)`` for each position ``i`` of a global batch of ``n``."""
  return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(
    key, jnp.arange(n, dtype=jnp.uint32)
  )


def make_train_transform(
  config, info, host_crops_done: bool = False
) -> Callable:
  """The train step's ``batch_transform`` for ``config``; see the module doc.

  ``info`` is the run's :class:`cnn_jax.data.pipeline.InputInfo` (mean, std).
  ``host_crops_done``: the tf.data path's images, on which the host already
  drew the configured ``rrc`` / ``inception_crop``.
  """
  names = augment_names(config, host_crops_done)
  bad = [a for a in names if a not in AUGMENTATIONS]
  if bad:
    raise ValueError(
      f'Augmentation(s) {bad} have no on-device version (it has '
      f'{", ".join(AUGMENTATIONS)}). Use --config.input_pipeline=tfdata, '
      'which has them all.'
    )
  size, padding = config.image_size, config.crop_padding
  gray_to_rgb, mean, std = config.grayscale_to_rgb, info.mean, info.std
  auto_augment = config.get('auto_augment')
  jitter = config.get('color_jitter')
  num_ops = config.get('randaugment_num_ops', 2)
  magnitude = config.get('randaugment_magnitude', 9)

  def augment_one(image, key, policy):
    keys = jax.random.split(key, max(1, len(names)))
    for name, k in zip(names, keys):
      if name == 'crop_pad':
        image = crop_pad(image, k, padding)
      elif name == 'flip':
        image = flip(image, k)
    if jitter is not None:  # keys of their own, apart from the ops'
      image = color_jitter(
        image, jax.random.fold_in(key, JITTER_STREAM), jitter
      )
    if policy is not None:
      image = policy(image, jax.random.fold_in(key, AUTO_STREAM))
    return image

  def batch_transform(images, labels, key):
    x = to_float(images, gray_to_rgb)
    if size is not None:
      x = resize(x, size)
    policy = None
    if auto_augment is not None:  # its translations scale with the size
      policy = device_auto_augment.make_policy(
        auto_augment,
        height=x.shape[1],
        width=x.shape[2],
        num_ops=num_ops,
        magnitude=magnitude,
      )
    if names or jitter is not None or policy is not None:
      x = jax.vmap(lambda im, k: augment_one(im, k, policy))(
        x, example_keys(key, x.shape[0])
      )
    return normalize(x, mean, std), labels

  return batch_transform


def make_eval_transform(config, info, host_resized: bool = False) -> Callable:
  """uint8 NHWC -> the model's float32 input: the central ``eval_crop_fraction``
  resized to the evaluation size (unless ``host_resized``: the host decoded
  that window already), normalized."""
  from cnn_jax.data import pipeline  # pylint: disable=g-import-not-at-top

  size, fraction = pipeline.eval_size(config), config.eval_crop_fraction
  gray_to_rgb, mean, std = config.grayscale_to_rgb, info.mean, info.std

  def eval_transform(images):
    x = to_float(images, gray_to_rgb)
    if size is not None and not host_resized:
      x = resize(central_crop(x, fraction), size)
    return normalize(x, mean, std)

  return eval_transform
