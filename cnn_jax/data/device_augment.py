"""Preprocessing and augmentation in JAX, run inside the jitted train step.

The on-device input path (:mod:`cnn_jax.data.device_pipeline`) hands the train
step uint8 images; :func:`make_train_transform` builds the step's
``batch_transform(images, labels, key) -> (images, targets)`` hook
(:func:`cnn_jax.training.train_step.train_step`): uint8 -> float32 in [0, 1],
grayscale -> RGB if asked, resize to ``image_size`` if set, then the
configured augmentations in order, then normalization with the dataset's
mean and std. The tf.data pipeline (:mod:`cnn_jax.data.augment`) does the
same steps in the same order.

Randomness: the step passes one key per batch, derived from (seed, step);
example ``i`` of the global batch draws from ``fold_in(key, i)``. So the
augmentation of an example depends on the seed, the step and its position in
the global batch only, not on how the batch is split over devices or hosts.
Random erasing, mixup and CutMix run after this hook, on both input paths
(:mod:`cnn_jax.data.batch_augment`).

Augmentations on the device: ``crop_pad`` (zero-pad each side by
``crop_padding``, random crop back to the size, as torchvision's
``RandomCrop(size, padding)``) and ``flip`` (horizontal, probability 1/2);
then, as in the tf.data path, the ``auto_augment`` policy (RandAugment,
TrivialAugmentWide or AutoAugment: :mod:`cnn_jax.data.device_auto_augment`,
the tf.data ops' arithmetic in JAX) on the cropped and flipped image, keyed
by ``fold_in(example key, AUTO_STREAM)``, apart from the crop and flip draws.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import lax

from cnn_jax.data import device_auto_augment
from cnn_jax.data.augment import AUTO_STREAM

AUGMENTATIONS = ('crop_pad', 'flip')


def augment_names(config) -> list[str]:
  return [a for a in config.augment.split(',') if a]


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


def make_train_transform(config, info) -> Callable:
  """The train step's ``batch_transform`` for ``config``; see the module doc.

  ``info`` is the run's :class:`cnn_jax.data.pipeline.InputInfo` (mean, std).
  """
  names = augment_names(config)
  bad = unsupported(config)
  if bad:
    raise ValueError(
      f'Augmentation(s) {bad} have no on-device version (it has '
      f'{", ".join(AUGMENTATIONS)}). Use --config.input_pipeline=tfdata, '
      'which has them all.'
    )
  size, padding = config.image_size, config.crop_padding
  gray_to_rgb, mean, std = config.grayscale_to_rgb, info.mean, info.std
  auto_augment = config.get('auto_augment')
  num_ops = config.get('randaugment_num_ops', 2)
  magnitude = config.get('randaugment_magnitude', 9)

  def augment_one(image, key, policy):
    keys = jax.random.split(key, max(1, len(names)))
    for name, k in zip(names, keys):
      if name == 'crop_pad':
        image = crop_pad(image, k, padding)
      elif name == 'flip':
        image = flip(image, k)
    if policy is not None:  # a key of its own, apart from the ops' (tf.data's)
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
    if names or policy is not None:
      x = jax.vmap(lambda im, k: augment_one(im, k, policy))(
        x, example_keys(key, x.shape[0])
      )
    return normalize(x, mean, std), labels

  return batch_transform


def make_eval_transform(config, info) -> Callable:
  """uint8 NHWC -> the model's float32 input: what the tf.data eval does."""
  from cnn_jax.data import pipeline  # pylint: disable=g-import-not-at-top

  size, fraction = pipeline.eval_size(config), config.eval_crop_fraction
  gray_to_rgb, mean, std = config.grayscale_to_rgb, info.mean, info.std

  def eval_transform(images):
    x = to_float(images, gray_to_rgb)
    if size is not None:
      x = resize(central_crop(x, fraction), size)
    return normalize(x, mean, std)

  return eval_transform
