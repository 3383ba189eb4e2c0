"""RandAugment, TrivialAugmentWide and AutoAugment (ImageNet policy) in tf.data.

The op sets, magnitude bins and policies are torchvision's
(``torchvision.transforms.autoaugment``): the same 14 ops (Identity, ShearX/Y,
TranslateX/Y, Rotate, Brightness, Color, Contrast, Sharpness, Posterize,
Solarize, AutoContrast, Equalize; AutoAugment adds Invert), nearest-neighbour
geometry filled with black, and

* RandAugment(N, M): N ops drawn uniformly, each at magnitude bin M of 31,
  with a random sign for the signed ones;
* TrivialAugmentWide: one op, at a uniformly drawn bin of 31 (its wider
  ranges: shear 0.99, translate 32 px, rotate 135 degrees, enhance 0.99);
* AutoAugment: one of the 25 ImageNet sub-policies, each of its two ops
  applied with its probability (10 magnitude bins).

They take a float image in [0, 1] (HWC, 1 or 3 channels) and work on it as
the uint8 image torchvision sees (values rounded to 0..255 before, and after
every op), and are stateless: every draw comes from the example's ``seed``
(shape [2]), so the (seed, epoch, position) determinism of the tf.data
pipeline holds.

:mod:`cnn_jax.data.device_auto_augment` is the JAX version (the on-device
input path), op for op bit-equal to these; the tables below are shared with
it, so they stay free of TensorFlow (``tf`` is imported on first use).
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

from cnn_jax.data.augment import tf

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


# --- The ops, on float images holding 0..255 --------------------------------


def _affine(image, transform):
  """Nearest-neighbour projective transform (output -> input), black fill."""
  out = tf.raw_ops.ImageProjectiveTransformV3(
    images=image[None],
    transforms=tf.reshape(tf.cast(transform, tf.float32), [1, 8]),
    output_shape=tf.shape(image)[:2],
    fill_value=0.0,
    interpolation='NEAREST',
    fill_mode='CONSTANT',
  )
  return out[0]


def _grayscale(image):
  if image.shape[-1] == 1:
    return image
  weights = tf.constant([0.2989, 0.587, 0.114], tf.float32)
  return tf.reduce_sum(image * weights, axis=-1, keepdims=True)


def _blend(image, degenerate, factor):
  """torchvision's _blend: factor * image + (1 - factor) * degenerate."""
  return tf.clip_by_value(
    factor * image + (1.0 - factor) * degenerate, 0.0, 255.0
  )


def _sharpness_degenerate(image):
  kernel = tf.constant([[1, 1, 1], [1, 5, 1], [1, 1, 1]], tf.float32) / 13.0
  c = image.shape[-1]
  kernel = tf.tile(kernel[:, :, None, None], [1, 1, c, 1])
  blurred = tf.nn.depthwise_conv2d(image[None], kernel, [1, 1, 1, 1], 'VALID')[
    0
  ]
  blurred = tf.round(blurred)
  # The border keeps its pixels (torchvision's adjust_sharpness).
  return tf.pad(blurred - image[1:-1, 1:-1], [[1, 1], [1, 1], [0, 0]]) + image


def _equalize_channel(channel):
  """torchvision's _scale_channel (PIL's ImageOps.equalize) on one channel."""
  values = tf.cast(channel, tf.int32)
  hist = tf.math.bincount(
    tf.reshape(values, [-1]), minlength=256, maxlength=256, dtype=tf.int32
  )
  nonzero = tf.boolean_mask(hist, hist > 0)
  last = nonzero[-1]
  step = (tf.reduce_sum(hist) - last) // 255

  def scaled():
    lut = (tf.cumsum(hist) + step // 2) // tf.maximum(step, 1)
    lut = tf.clip_by_value(tf.concat([[0], lut[:-1]], 0), 0, 255)
    return tf.cast(tf.gather(lut, values), tf.float32)

  return tf.cond(step == 0, lambda: channel, scaled)


def _auto_contrast(image):
  low = tf.reduce_min(image, axis=[0, 1], keepdims=True)
  high = tf.reduce_max(image, axis=[0, 1], keepdims=True)
  same = high <= low
  scale = tf.where(same, 1.0, 255.0 / tf.maximum(high - low, 1e-6))
  low = tf.where(same, 0.0, low)
  return tf.clip_by_value((image - low) * scale, 0.0, 255.0)


def apply_op(image, name: str, magnitude):
  """torchvision's ``_apply_op`` (fill 0, nearest) on 0..255 floats."""
  magnitude = tf.cast(magnitude, tf.float32)
  h = tf.cast(tf.shape(image)[0], tf.float32)
  w = tf.cast(tf.shape(image)[1], tf.float32)
  if name == 'Identity':
    return image
  # Shears about the top-left corner of the image (torchvision's center
  # [0, 0]: the corner of the first pixel, half a pixel off its centre).
  if name == 'ShearX':
    m = magnitude
    return _affine(image, [1.0, m, 0.5 * m, 0.0, 1.0, 0.0, 0.0, 0.0])
  if name == 'ShearY':
    m = magnitude
    return _affine(image, [1.0, 0.0, 0.0, m, 1.0, 0.5 * m, 0.0, 0.0])
  if name == 'TranslateX':
    t = tf.cast(tf.cast(magnitude, tf.int32), tf.float32)
    return _affine(image, [1.0, 0.0, -t, 0.0, 1.0, 0.0, 0.0, 0.0])
  if name == 'TranslateY':
    t = tf.cast(tf.cast(magnitude, tf.int32), tf.float32)
    return _affine(image, [1.0, 0.0, 0.0, 0.0, 1.0, -t, 0.0, 0.0])
  if name == 'Rotate':  # counter-clockwise by `magnitude` degrees
    a = magnitude * (math.pi / 180.0)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    cos, sin = tf.cos(a), tf.sin(a)
    return _affine(
      image,
      [
        cos,
        -sin,
        cx - cos * cx + sin * cy,
        sin,
        cos,
        cy - sin * cx - cos * cy,
        0.0,
        0.0,
      ],
    )
  if name == 'Brightness':
    return _blend(image, tf.zeros_like(image), 1.0 + magnitude)
  if name == 'Color':
    return _blend(image, _grayscale(image), 1.0 + magnitude)
  if name == 'Contrast':
    mean = tf.reduce_mean(_grayscale(image))
    return _blend(image, mean, 1.0 + magnitude)
  if name == 'Sharpness':
    return _blend(image, _sharpness_degenerate(image), 1.0 + magnitude)
  if name == 'Posterize':
    shift = tf.cast(8 - tf.cast(magnitude, tf.int32), tf.float32)
    step = tf.pow(2.0, shift)
    return tf.floor(image / step) * step
  if name == 'Solarize':
    return tf.where(image >= magnitude, 255.0 - image, image)
  if name == 'AutoContrast':
    return _auto_contrast(image)
  if name == 'Equalize':
    channels = tf.unstack(image, axis=-1)
    return tf.stack([_equalize_channel(c) for c in channels], axis=-1)
  if name == 'Invert':
    return 255.0 - image
  raise ValueError(f'Unknown op {name!r}; known: {", ".join(OPS)}.')


def _to_255(image):
  return tf.round(tf.clip_by_value(image, 0.0, 1.0) * 255.0)


def _op_by_index(image, index, magnitude, names):
  """``apply_op(image, names[index], magnitude)`` for a tensor ``index``."""
  branches = [
    (
      lambda n=n: tf.round(
        tf.clip_by_value(apply_op(image, n, magnitude), 0.0, 255.0)
      )
    )
    for n in names
  ]
  out = tf.switch_case(index, branches)
  return tf.ensure_shape(out, image.shape)


def _uniform_int(seed, high: int):
  return tf.random.stateless_uniform([], seed, 0, high, tf.int32)


def _signed(seed, magnitude):
  negative = tf.random.stateless_uniform([], seed, 0, 2, tf.int32) == 0
  return tf.where(negative, -magnitude, magnitude)


def _magnitude_table(names, table, num_bins):
  """[len(names), num_bins] magnitudes (0 for ops without one)."""
  rows = [
    table.get(n, np.zeros(num_bins, np.float32)).astype(np.float32)
    for n in names
  ]
  return tf.constant(np.stack(rows))


def make_policy(
  policy: str, *, height: int, width: int, num_ops: int = 2, magnitude: int = 9
) -> Callable:
  """``f(image, seed) -> image`` for ``policy`` (float [0, 1] images)."""
  if policy not in POLICIES:
    raise ValueError(f'auto_augment={policy!r}: one of {", ".join(POLICIES)}.')
  names = OPS[:14]  # RandAugment and TrivialAugmentWide: no Invert
  signed = tf.constant([n in SIGNED for n in names])

  if policy in ('randaugment', 'trivialaugment'):
    bins = 31
    table = _magnitude_table(
      names, magnitudes(policy, height, width, bins), bins
    )

    def transform(image, seed):
      x = _to_255(image)
      count = num_ops if policy == 'randaugment' else 1
      seeds = tf.random.experimental.stateless_split(seed, num=3 * count)
      for i in range(count):
        index = _uniform_int(seeds[3 * i], len(names))
        level = (
          tf.constant(magnitude)
          if policy == 'randaugment'
          else _uniform_int(seeds[3 * i + 1], bins)
        )
        m = table[index, level]
        m = tf.where(signed[index], _signed(seeds[3 * i + 2], m), m)
        x = _op_by_index(x, index, m, names)
      return x / 255.0

    return transform

  table = magnitudes('autoaugment', height, width, 10)
  sub_policies = []
  for pair in IMAGENET_POLICY:
    ops = []
    for name, p, level in pair:
      m = 0.0 if level is None else float(table[name][level])
      ops.append((name, p, m, name in SIGNED))
    sub_policies.append(ops)

  def transform(image, seed):
    x = _to_255(image)
    s_policy, s_probs, s_signs = tf.unstack(
      tf.random.experimental.stateless_split(seed, num=3)
    )
    probs = tf.random.stateless_uniform([2], s_probs)
    signs = tf.random.stateless_uniform([2], s_signs, 0, 2, tf.int32)

    def branch(ops):
      def run():
        y = x
        for i, (name, p, m, is_signed) in enumerate(ops):
          m = tf.constant(m)
          if is_signed:
            m = tf.where(signs[i] == 0, -m, m)
          y = tf.cond(
            probs[i] <= p,
            lambda y=y, name=name, m=m: tf.round(
              tf.clip_by_value(apply_op(y, name, m), 0.0, 255.0)
            ),
            lambda y=y: y,
          )
        return tf.ensure_shape(y, x.shape)

      return run

    index = _uniform_int(s_policy, len(sub_policies))
    x = tf.switch_case(index, [branch(ops) for ops in sub_policies])
    return x / 255.0

  return transform


def policy_for(config) -> Optional[str]:
  return config.auto_augment
