"""Random erasing, mixup and CutMix in JAX, inside the train step.

They run on the normalized float batch, after the input path's own
augmentation (tf.data's, or :mod:`cnn_jax.data.device_augment`'s), on both
input paths, in timm's order: random erasing per example, then mixup or
CutMix on the whole batch.

* :func:`random_erase` is timm's ``RandomErasing`` (``probability``, area
  0.02-1/3 of the image, aspect ratio log-uniform in (0.3, 1/0.3), up to 10
  tries for a box that fits, one box; ``mode='pixel'`` fills it with
  per-pixel normal noise, ``'const'`` with zeros: the normalized mean).
* :func:`mix_batch` is timm's ``Mixup`` in ``mode='batch'``: with probability
  ``mix_prob`` the batch is mixed with its reverse, by one ``lam ~ Beta(a,
  a)`` for the batch; with both mixup and CutMix set, CutMix with probability
  ``switch_prob``. CutMix pastes a box of side ``sqrt(1 - lam)`` of the image
  around a uniform centre, clipped to the image, and corrects ``lam`` to the
  pasted area. The targets are timm's ``mixup_target``: label smoothing on
  the one-hot first (``1 - s + s/K`` and ``s/K``), then mixed by ``lam``.

Randomness: one key per batch (:func:`cnn_jax.training.train_step.recipe_key`,
a function of the seed and the step); example ``i`` of the global batch
draws from ``fold_in(key, i)``; the batch-level draws from keys of their own.
So a run and its resumed copy see the same transforms.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp

# Stream tags: the batch-level draws, apart from the per-example keys.
_MIX_STREAM = 0x7FFF_0001
_ERASE_STREAM = 0x7FFF_0002


def _example_keys(key, n: int):
  return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(
    key, jnp.arange(n, dtype=jnp.uint32)
  )


def random_erase(
  image,
  key,
  probability: float,
  mode: str = 'pixel',
  area=(0.02, 1 / 3),
  log_ratio=(math.log(0.3), math.log(1 / 0.3)),
  attempts: int = 10,
):
  """One HWC image with a random box erased with ``probability`` (timm)."""
  h, w, _ = image.shape
  k_apply, k_area, k_ratio, k_top, k_left, k_noise = jax.random.split(key, 6)
  target = jax.random.uniform(
    k_area, (attempts,), minval=area[0], maxval=area[1]
  )
  target = target * (h * w)
  ratio = jnp.exp(
    jax.random.uniform(
      k_ratio, (attempts,), minval=log_ratio[0], maxval=log_ratio[1]
    )
  )
  eh = jnp.round(jnp.sqrt(target * ratio)).astype(jnp.int32)
  ew = jnp.round(jnp.sqrt(target / ratio)).astype(jnp.int32)
  fits = (eh < h) & (ew < w) & (eh > 0) & (ew > 0)
  first = jnp.argmax(fits)  # the first try that fits, as timm's loop
  eh, ew = eh[first], ew[first]
  apply = jax.random.bernoulli(k_apply, probability) & fits[first]
  top = jax.random.randint(k_top, (), 0, h - eh + 1)
  left = jax.random.randint(k_left, (), 0, w - ew + 1)
  rows = jnp.arange(h)[:, None]
  cols = jnp.arange(w)[None, :]
  box = (rows >= top) & (rows < top + eh) & (cols >= left) & (cols < left + ew)
  box = (box & apply)[:, :, None]
  if mode == 'pixel':
    fill = jax.random.normal(k_noise, image.shape, image.dtype)
  elif mode == 'const':
    fill = jnp.zeros_like(image)
  else:
    raise ValueError(f"random_erasing_mode={mode!r}: 'pixel' or 'const'.")
  return jnp.where(box, fill, image)


def erase_batch(images, key, probability: float, mode: str = 'pixel'):
  """:func:`random_erase` on each example (key ``fold_in(key, i)``)."""
  keys = _example_keys(key, images.shape[0])
  return jax.vmap(lambda x, k: random_erase(x, k, probability, mode))(
    images, keys
  )


def smooth_one_hot(labels, num_classes: int, smoothing: float):
  off = smoothing / num_classes
  on = 1.0 - smoothing + off
  return jnp.where(
    jax.nn.one_hot(labels, num_classes, dtype=jnp.bool_), on, off
  ).astype(jnp.float32)


def cutmix_box(key, h: int, w: int, lam):
  """timm's ``rand_bbox``: (top, bottom, left, right) of the box to paste."""
  cut = jnp.sqrt(1.0 - lam)
  cut_h = jnp.floor(h * cut).astype(jnp.int32)
  cut_w = jnp.floor(w * cut).astype(jnp.int32)
  ky, kx = jax.random.split(key)
  cy = jax.random.randint(ky, (), 0, h)
  cx = jax.random.randint(kx, (), 0, w)
  top = jnp.clip(cy - cut_h // 2, 0, h)
  bottom = jnp.clip(cy + cut_h // 2, 0, h)
  left = jnp.clip(cx - cut_w // 2, 0, w)
  right = jnp.clip(cx + cut_w // 2, 0, w)
  return top, bottom, left, right


def mix_batch(
  images,
  labels,
  key,
  *,
  num_classes: int,
  mixup_alpha: Optional[float],
  cutmix_alpha: Optional[float],
  mix_prob: float = 1.0,
  switch_prob: float = 0.5,
  label_smoothing: float = 0.0,
):
  """``(images, soft targets [N, K], lam, used_cutmix)``; see the module doc.

  Each example ``i`` is mixed with example ``N - 1 - i`` (timm's flip).
  """
  k_mix, k_switch, k_mixup, k_cutmix, k_box = jax.random.split(key, 5)
  mixup_on = mixup_alpha is not None and mixup_alpha > 0
  cutmix_on = cutmix_alpha is not None and cutmix_alpha > 0
  if not (mixup_on or cutmix_on):
    raise ValueError('mix_batch needs mixup_alpha or cutmix_alpha.')
  if mixup_on and cutmix_on:
    use_cutmix = jax.random.bernoulli(k_switch, switch_prob)
  else:
    use_cutmix = jnp.asarray(cutmix_on)
  lam_mixup = (
    jax.random.beta(k_mixup, mixup_alpha, mixup_alpha) if mixup_on else 1.0
  )
  lam_cutmix = (
    jax.random.beta(k_cutmix, cutmix_alpha, cutmix_alpha) if cutmix_on else 1.0
  )
  lam = jnp.where(use_cutmix, lam_cutmix, lam_mixup).astype(jnp.float32)
  mixed = jax.random.bernoulli(k_mix, mix_prob)
  lam = jnp.where(mixed, lam, 1.0)

  _, h, w, _ = images.shape
  flipped = images[::-1]
  top, bottom, left, right = cutmix_box(k_box, h, w, lam)
  rows = jnp.arange(h)[:, None]
  cols = jnp.arange(w)[None, :]
  box = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)
  box = box & use_cutmix & mixed
  box_lam = 1.0 - jnp.sum(box) / (h * w)  # timm's correct_lam
  lam = jnp.where(use_cutmix, box_lam, lam).astype(jnp.float32)
  cut_images = jnp.where(box[None, :, :, None], flipped, images)
  blend = (lam * images + (1.0 - lam) * flipped).astype(images.dtype)
  images = jnp.where(use_cutmix, cut_images, blend)

  y = smooth_one_hot(labels, num_classes, label_smoothing)
  targets = lam * y + (1.0 - lam) * y[::-1]
  return images, targets, lam, use_cutmix & mixed


def mixing(config) -> bool:
  return any(
    a is not None and a > 0 for a in (config.mixup_alpha, config.cutmix_alpha)
  )


def make_recipe_transform(config, num_classes: int) -> Optional[Callable]:
  """``f(images, labels, key) -> (images, targets)`` for the config's random
  erasing and mixup / CutMix, or None when neither is on.

  With mixup / CutMix the targets are soft and carry the label smoothing
  (the loss must not smooth them again: ``train_step`` is told so).
  """
  erasing = config.random_erasing
  erasing = erasing if erasing is not None and erasing > 0 else None
  mix = mixing(config)
  if erasing is None and not mix:
    return None
  mode = config.random_erasing_mode

  def transform(images, labels, key):
    if erasing is not None:
      images = erase_batch(
        images, jax.random.fold_in(key, _ERASE_STREAM), erasing, mode
      )
    if mix:
      images, labels, _, _ = mix_batch(
        images,
        labels,
        jax.random.fold_in(key, _MIX_STREAM),
        num_classes=num_classes,
        mixup_alpha=config.mixup_alpha,
        cutmix_alpha=config.cutmix_alpha,
        mix_prob=config.mix_prob,
        switch_prob=config.mix_switch_prob,
        label_smoothing=config.label_smoothing,
      )
    return images, labels

  return transform
