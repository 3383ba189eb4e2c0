"""RandAugment, TrivialAugmentWide and AutoAugment (ImageNet policy) in JAX.

torchvision's op sets, magnitude bins and ImageNet sub-policies
(``torchvision.transforms.autoaugment``: the tables below), run inside the
train step for both input paths (:mod:`cnn_jax.data.device_augment`). The
same 14 ops (Identity, ShearX/Y, TranslateX/Y, Rotate, Brightness, Color,
Contrast, Sharpness, Posterize, Solarize, AutoContrast, Equalize; AutoAugment
adds Invert), nearest-neighbour geometry filled with black, and

* RandAugment(N, M): N ops drawn uniformly, each at magnitude bin M of 31,
  with a random sign for the signed ones;
* TrivialAugmentWide: one op, at a uniformly drawn bin of 31 (its wider
  ranges: shear 0.99, translate 32 px, rotate 135 degrees, enhance 0.99);
* AutoAugment: one of the 25 ImageNet sub-policies, each of its two ops
  applied with its probability (10 magnitude bins).

:func:`make_policy` gives ``f(image, key) -> image`` for one float HWC image
in [0, 1] (1 or 3 channels); it is pure and vmappable, and every draw comes
from the JAX ``key`` (:func:`make_sampler`). It works on the uint8 image
torchvision sees: values are rounded to 0..255 before, and after every op.

The op is picked with ``lax.switch``; under ``vmap`` (one image per example)
every branch runs and the example's result is selected, so the five
geometric ops share one branch (one gather, its coefficients switched) to
keep that cheap. The ops of a policy run in a ``lax.scan`` (see
:func:`make_policy`).

Agreement with torchvision's uint8 ``_apply_op``
(``tests/test_device_auto_augment.py``, every magnitude bin of the three
policies, either sign):

* The geometric ops are equal except where a source coordinate is a tie
  (``x.5``): output pixel ``(x, y)`` reads input ``(a0 x + a1 y + a2, b0 x
  + b1 y + b2)``, with integer pixel coordinates, rounded half away from
  zero (``std::round``, where torchvision's ``grid_sample`` rounds half to
  even), black outside; shears about the top-left corner, rotation about
  the centre ``((w - 1) / 2, (h - 1) / 2)``.
* Blends (Brightness, Color, Contrast, Sharpness) and AutoContrast's
  scaling are rounded where torchvision truncates: within 1 level; Color
  within 2 (torchvision also truncates the grayscale image it blends with).
  The other ops are equal.
* XLA contracts a product that feeds a sum into one fused multiply-add (one
  rounding where PyTorch's separate kernels round twice); :func:`_product`
  keeps those products apart from their sums, so a blend landing on a half
  rounds the same way on every backend.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

POLICIES = ('randaugment', 'trivialaugment', 'autoaugment')

# Op order of torchvision's _augmentation_space (the index RandAugment and
# TrivialAugmentWide draw).
OPS = (
  'Identity',
  'ShearX',
  'ShearY',
  'TranslateX',
  'TranslateY',
  'Rotate',
  'Brightness',
  'Color',
  'Contrast',
  'Sharpness',
  'Posterize',
  'Solarize',
  'AutoContrast',
  'Equalize',
  'Invert',
)
SIGNED = {
  'ShearX',
  'ShearY',
  'TranslateX',
  'TranslateY',
  'Rotate',
  'Brightness',
  'Color',
  'Contrast',
  'Sharpness',
}

# torchvision's AutoAugmentPolicy.IMAGENET: (op, probability, magnitude bin).
IMAGENET_POLICY = (
  (('Posterize', 0.4, 8), ('Rotate', 0.6, 9)),
  (('Solarize', 0.6, 5), ('AutoContrast', 0.6, None)),
  (('Equalize', 0.8, None), ('Equalize', 0.6, None)),
  (('Posterize', 0.6, 7), ('Posterize', 0.6, 6)),
  (('Equalize', 0.4, None), ('Solarize', 0.2, 4)),
  (('Equalize', 0.4, None), ('Rotate', 0.8, 8)),
  (('Solarize', 0.6, 3), ('Equalize', 0.6, None)),
  (('Posterize', 0.8, 5), ('Equalize', 1.0, None)),
  (('Rotate', 0.2, 3), ('Solarize', 0.6, 8)),
  (('Equalize', 0.6, None), ('Posterize', 0.4, 6)),
  (('Rotate', 0.8, 8), ('Color', 0.4, 0)),
  (('Rotate', 0.4, 9), ('Equalize', 0.6, None)),
  (('Equalize', 0.0, None), ('Equalize', 0.8, None)),
  (('Invert', 0.6, None), ('Equalize', 1.0, None)),
  (('Color', 0.6, 4), ('Contrast', 1.0, 8)),
  (('Rotate', 0.8, 8), ('Color', 1.0, 2)),
  (('Color', 0.8, 8), ('Solarize', 0.8, 7)),
  (('Sharpness', 0.4, 7), ('Invert', 0.6, None)),
  (('ShearX', 0.6, 5), ('Equalize', 1.0, None)),
  (('Color', 0.4, 0), ('Equalize', 0.6, None)),
  (('Equalize', 0.4, None), ('Solarize', 0.2, 4)),
  (('Solarize', 0.6, 5), ('AutoContrast', 0.6, None)),
  (('Invert', 0.6, None), ('Equalize', 1.0, None)),
  (('Color', 0.6, 4), ('Contrast', 1.0, 8)),
  (('Equalize', 0.8, None), ('Equalize', 0.6, None)),
)


def magnitudes(
  policy: str, height: int, width: int, num_bins: int
) -> dict[str, np.ndarray]:
  """torchvision's magnitude bins of each op for ``policy``."""
  lin = lambda hi: np.linspace(0.0, hi, num_bins)  # noqa: E731
  bits = 6 if policy == 'trivialaugment' else 4
  table = {
    'Posterize': 8
    - np.round(np.arange(num_bins) / ((num_bins - 1) / bits)).astype(int),
    'Solarize': np.linspace(255.0, 0.0, num_bins),
  }
  if policy == 'trivialaugment':
    table.update(
      ShearX=lin(0.99),
      ShearY=lin(0.99),
      TranslateX=lin(32.0),
      TranslateY=lin(32.0),
      Rotate=lin(135.0),
      Brightness=lin(0.99),
      Color=lin(0.99),
      Contrast=lin(0.99),
      Sharpness=lin(0.99),
    )
  else:
    table.update(
      ShearX=lin(0.3),
      ShearY=lin(0.3),
      TranslateX=lin(150.0 / 331.0 * width),
      TranslateY=lin(150.0 / 331.0 * height),
      Rotate=lin(30.0),
      Brightness=lin(0.9),
      Color=lin(0.9),
      Contrast=lin(0.9),
      Sharpness=lin(0.9),
    )
  return {k: np.asarray(v, np.float32) for k, v in table.items()}


GEOMETRIC = ('ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate')


def _product(a, b):
  """``a * b``, rounded to float32 before any sum it feeds.

  XLA:CPU lets LLVM contract ``a * b + c`` into a fused multiply-add,
  rounding once where PyTorch's separate kernels round twice. Behind a
  select on a condition the compiler cannot fold (``a * b`` is NaN whenever
  an operand is, so it is the product either way), the multiply cannot be
  absorbed by the add.
  """
  a = jnp.asarray(a, jnp.float32)
  b = jnp.asarray(b, jnp.float32)
  return jnp.where(jnp.isnan(a) | jnp.isnan(b), a + b, a * b)


# --- The ops, on float images holding 0..255 --------------------------------


def _coefficients(name: str, magnitude, height: int, width: int):
  """The affine map (output -> input) of a geometric op, as TF's: 6 floats."""
  m = jnp.asarray(magnitude, jnp.float32)
  one, zero = jnp.float32(1.0), jnp.float32(0.0)
  if name == 'ShearX':  # about the top-left corner (torchvision's center 0)
    return (one, m, _product(jnp.float32(0.5), m), zero, one, zero)
  if name == 'ShearY':
    return (one, zero, zero, m, one, _product(jnp.float32(0.5), m))
  if name in ('TranslateX', 'TranslateY'):
    t = -m.astype(jnp.int32).astype(jnp.float32)  # whole pixels, truncated
    if name == 'TranslateX':
      return (one, zero, t, zero, one, zero)
    return (one, zero, zero, zero, one, t)
  if name == 'Rotate':  # counter-clockwise by `magnitude` degrees
    a = _product(m, jnp.float32(math.pi / 180.0))
    cx, cy = jnp.float32((width - 1) / 2), jnp.float32((height - 1) / 2)
    cos, sin = jnp.cos(a), jnp.sin(a)
    return (
      cos,
      -sin,
      (cx - _product(cos, cx)) + _product(sin, cy),
      sin,
      cos,
      (cy - _product(sin, cx)) - _product(cos, cy),
    )
  raise ValueError(f'{name!r} is not one of {", ".join(GEOMETRIC)}.')


def _affine(image, coefficients):
  """Nearest-neighbour affine warp, black fill: TF's ImageProjectiveTransformV3
  (input coordinates rounded half away from zero, as ``std::round``)."""
  a0, a1, a2, b0, b1, b2 = (jnp.asarray(c, jnp.float32) for c in coefficients)
  h, w = image.shape[0], image.shape[1]
  y = jnp.arange(h, dtype=jnp.float32)[:, None]
  x = jnp.arange(w, dtype=jnp.float32)[None, :]
  away = lax.RoundingMethod.AWAY_FROM_ZERO
  src_x = lax.round((_product(a0, x) + _product(a1, y)) + a2, away)
  src_y = lax.round((_product(b0, x) + _product(b1, y)) + b2, away)
  # Far outside (a huge shear) is outside: clip before the int conversion.
  src_x = jnp.clip(src_x, -1.0, float(w)).astype(jnp.int32)
  src_y = jnp.clip(src_y, -1.0, float(h)).astype(jnp.int32)
  inside = (src_x >= 0) & (src_x < w) & (src_y >= 0) & (src_y < h)
  out = image[jnp.clip(src_y, 0, h - 1), jnp.clip(src_x, 0, w - 1)]
  return jnp.where(inside[..., None], out, 0.0)


def _grayscale(image):
  if image.shape[-1] == 1:
    return image
  r, g, b = image[..., 0:1], image[..., 1:2], image[..., 2:3]
  return (
    _product(r, jnp.float32(0.2989)) + _product(g, jnp.float32(0.587))
  ) + _product(b, jnp.float32(0.114))


def _blend(image, degenerate, factor):
  """torchvision's _blend: factor * image + (1 - factor) * degenerate."""
  factor = jnp.asarray(factor, jnp.float32)
  mixed = _product(factor, image) + _product(1.0 - factor, degenerate)
  return jnp.clip(mixed, 0.0, 255.0)


def _sharpness_degenerate(image):
  """The 3x3 smoothing ([[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13), rounded;
  the border keeps its pixels (torchvision's adjust_sharpness).

  The weighted sum of integers, k, is exact, and k / 13 is at least 1/26
  away from any half, far more than the float error of torchvision's
  convolution, so both round to the same integer."""
  h, w = image.shape[0], image.shape[1]
  total = 4.0 * image[1:-1, 1:-1]  # the centre's 5, less the 1 below
  for dy in range(3):
    for dx in range(3):
      total = total + image[dy : dy + h - 2, dx : dx + w - 2]
  blurred = jnp.round(total / 13.0)
  return image.at[1:-1, 1:-1].set(blurred)


def _equalize_channel(channel):
  """torchvision's _scale_channel (PIL's ImageOps.equalize) on one channel."""
  values = channel.astype(jnp.int32)
  hist = jnp.bincount(values.reshape(-1), length=256)
  last = hist[jnp.max(values)]  # the last non-empty bin
  step = (values.size - last) // 255
  lut = (jnp.cumsum(hist) + step // 2) // jnp.maximum(step, 1)
  lut = jnp.clip(jnp.concatenate([jnp.zeros(1, lut.dtype), lut[:-1]]), 0, 255)
  return jnp.where(step == 0, channel, lut[values].astype(jnp.float32))


def _auto_contrast(image):
  low = jnp.min(image, axis=(0, 1), keepdims=True)
  high = jnp.max(image, axis=(0, 1), keepdims=True)
  same = high <= low
  scale = jnp.where(same, 1.0, 255.0 / jnp.maximum(high - low, 1e-6))
  low = jnp.where(same, 0.0, low)
  return jnp.clip((image - low) * scale, 0.0, 255.0)


def apply_op(image, name: str, magnitude):
  """torchvision's ``_apply_op`` (fill 0, nearest) on 0..255 floats."""
  magnitude = jnp.asarray(magnitude, jnp.float32)
  if name == 'Identity':
    return image
  if name in GEOMETRIC:
    h, w = image.shape[0], image.shape[1]
    return _affine(image, _coefficients(name, magnitude, h, w))
  if name == 'Brightness':
    return _blend(image, jnp.zeros_like(image), 1.0 + magnitude)
  if name == 'Color':
    return _blend(image, _grayscale(image), 1.0 + magnitude)
  if name == 'Contrast':
    return _blend(image, jnp.mean(_grayscale(image)), 1.0 + magnitude)
  if name == 'Sharpness':
    return _blend(image, _sharpness_degenerate(image), 1.0 + magnitude)
  if name == 'Posterize':
    shift = 8 - magnitude.astype(jnp.int32)
    step = jnp.left_shift(1, jnp.clip(shift, 0, 8)).astype(jnp.float32)
    return jnp.floor(image / step) * step
  if name == 'Solarize':
    return jnp.where(image >= magnitude, 255.0 - image, image)
  if name == 'AutoContrast':
    return _auto_contrast(image)
  if name == 'Equalize':
    channels = [
      _equalize_channel(image[..., i]) for i in range(image.shape[-1])
    ]
    return jnp.stack(channels, axis=-1)
  if name == 'Invert':
    return 255.0 - image
  raise ValueError(f'Unknown op {name!r}; known: {", ".join(OPS)}.')


def _to_255(image):
  return jnp.round(jnp.clip(image, 0.0, 1.0) * 255.0)


def op_by_index(image, index, magnitude, names):
  """``apply_op(image, names[index], magnitude)``, rounded to 0..255, for a
  traced ``index``: one ``lax.switch`` whose geometric branch is shared."""
  h, w = image.shape[0], image.shape[1]
  geometric = [n for n in names if n in GEOMETRIC]
  others = [n for n in names if n not in GEOMETRIC]
  branch, sub = [], []  # per name: its branch, its geometric op's index
  for n in names:
    if n in GEOMETRIC:
      branch.append(len(others))
      sub.append(geometric.index(n))
    else:
      branch.append(others.index(n))
      sub.append(0)

  def warp(x, m, k):
    coefficients = lax.switch(
      k,
      [lambda m, n=n: _coefficients(n, m, h, w) for n in geometric],
      m,
    )
    return _affine(x, coefficients)

  branches = [lambda x, m, k, n=n: apply_op(x, n, m) for n in others]
  if geometric:
    branches.append(warp)
  out = lax.switch(
    jnp.asarray(branch, jnp.int32)[index],
    branches,
    image,
    jnp.asarray(magnitude, jnp.float32),
    jnp.asarray(sub, jnp.int32)[index],
  )
  return jnp.round(jnp.clip(out, 0.0, 255.0))


def _magnitude_table(names, table, num_bins):
  """[len(names), num_bins] magnitudes (0 for ops without one)."""
  rows = [
    table.get(n, np.zeros(num_bins, np.float32)).astype(np.float32)
    for n in names
  ]
  return jnp.asarray(np.stack(rows))


def make_sampler(
  policy: str, *, height: int, width: int, num_ops: int = 2, magnitude: int = 9
) -> tuple[tuple[str, ...], Callable]:
  """``(names, sample)``: ``sample(key) -> (ops, magnitudes, applied)``, the
  ops ``policy`` runs in turn (indices into ``names``), their signed
  magnitudes and whether each runs, drawn from a JAX key:

  * randaugment: ``num_ops`` ops drawn uniformly from the 14, each at bin
    ``magnitude`` of 31, negated with probability 1/2 if signed;
  * trivialaugment: one op of the 14, at a uniform bin of 31, random sign;
  * autoaugment: one of the 25 ImageNet sub-policies, uniformly; each of its
    two ops applied with its probability, with a random sign if signed.
  """
  if policy not in POLICIES:
    raise ValueError(f'auto_augment={policy!r}: one of {", ".join(POLICIES)}.')

  if policy in ('randaugment', 'trivialaugment'):
    names = OPS[:14]  # no Invert
    bins = 31
    table = _magnitude_table(
      names, magnitudes(policy, height, width, bins), bins
    )
    signed = jnp.asarray([n in SIGNED for n in names])
    count = num_ops if policy == 'randaugment' else 1

    def draw(key):
      k_op, k_level, k_sign = jax.random.split(key, 3)
      index = jax.random.randint(k_op, (), 0, len(names))
      if policy == 'randaugment':
        level = jnp.int32(magnitude)
      else:
        level = jax.random.randint(k_level, (), 0, bins)
      m = table[index, level]
      return index, jnp.where(
        signed[index] & jax.random.bernoulli(k_sign), -m, m
      )

    def sample(key):
      ops, mags = jax.vmap(draw)(jax.random.split(key, count))
      return ops, mags, jnp.ones(count, bool)

    return names, sample

  used = {name for pair in IMAGENET_POLICY for name, _, _ in pair}
  names = tuple(n for n in OPS if n in used)
  table = magnitudes('autoaugment', height, width, 10)
  ops = np.array(
    [[names.index(n) for n, _, _ in pair] for pair in IMAGENET_POLICY],
    np.int32,
  )
  probs = np.array(
    [[p for _, p, _ in pair] for pair in IMAGENET_POLICY], np.float32
  )
  mags = np.array(
    [
      [0.0 if level is None else table[n][level] for n, _, level in pair]
      for pair in IMAGENET_POLICY
    ],
    np.float32,
  )
  signs = np.array(
    [[n in SIGNED for n, _, _ in pair] for pair in IMAGENET_POLICY]
  )
  ops, probs, mags, signs = map(jnp.asarray, (ops, probs, mags, signs))

  def sample(key):
    k_policy, k_probs, k_signs = jax.random.split(key, 3)
    index = jax.random.randint(k_policy, (), 0, len(IMAGENET_POLICY))
    negative = jax.random.bernoulli(k_signs, shape=(2,))
    m = jnp.where(signs[index] & negative, -mags[index], mags[index])
    applied = jax.random.uniform(k_probs, (2,)) <= probs[index]
    return ops[index], m, applied

  return names, sample


def make_policy(
  policy: str, *, height: int, width: int, num_ops: int = 2, magnitude: int = 9
) -> Callable:
  """``f(image, key) -> image`` for ``policy`` (one float [0, 1] HWC image):
  the ops :func:`make_sampler` draws from ``key``, in turn, on the image
  rounded to 0..255, each rounded again; the result back in [0, 1].

  The ops run in a ``lax.scan``, so that each one's input is a buffer: XLA
  would otherwise fuse the previous op (all its branches, under ``vmap``)
  into every consumer of its output (the nine shifted reads of Sharpness,
  the gathers...) and recompute it there (RandAugment with 2 ops: 4x the
  time of 1 op, with 3 ops 8x).
  """
  names, sample = make_sampler(
    policy, height=height, width=width, num_ops=num_ops, magnitude=magnitude
  )

  def step(x, op):
    index, m, applied = op
    return jnp.where(applied, op_by_index(x, index, m, names), x), None

  def transform(image, key):
    x, _ = lax.scan(step, _to_255(image), sample(key))
    return x / 255.0

  return transform
