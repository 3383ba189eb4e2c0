"""Inception-v4 and Inception-ResNet-v2 (Szegedy et al. 2017, "Inception-v4,
Inception-ResNet and the Impact of Residual Connections on Learning", AAAI).

Both as timm builds them (ports of the TF-slim networks): conv-BN(eps
1e-3)-ReLU units without conv bias (``inception_v3``'s unit and
``InceptionBlock``), unpadded 3x3 convs wherever TF-slim pads 'VALID',
branch average pools that leave the padding out of the count, global average
pooling, dropout (timm's default 0; the paper's 0.2 is a config's
``model_kwargs.dropout``), linear. 299x299 input.

``inception_v4`` -- timm's ``inception_v4``: stem (3x3/2, 3x3, 3x3, Mixed3a,
Mixed4a, Mixed5a), 4 x Inception-A, Reduction-A, 7 x Inception-B,
Reduction-B, 3 x Inception-C; 42,679,816 parameters. Names follow timm's
``features.<i>`` (``features_10/branch1_2``).

``inception_resnet_v2`` -- timm's ``inception_resnet_v2``: Inception-v3's
stem, Mixed_5b, 10 x Block35 (scale 0.17), Mixed_6a, 20 x Block17 (0.10),
Mixed_7a, 9 x Block8 (0.20) and a last Block8 (scale 1, no ReLU), 1x1 conv to
1536. A block adds ``scale x`` a 1x1 conv (with bias, no BN) of its
concatenated branches to its input; 55,843,464 parameters. Names follow
timm's (``repeat_1_4/branch1_2``).

``inception_resnet_v2_keras`` -- keras.applications.InceptionResNetV2: the
same layers, data flow and padding (Keras' 'same' convs all have stride 1
and odd kernels, hence symmetric; its strided ones are 'valid'), but
BatchNorm without scale and Keras' momentum 0.99: 55,873,736 parameters in
Keras' count (BN statistics included).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers
from cnn_jax.models.inception_v3 import InceptionBlock
from cnn_jax.models.registry import register

VALID = 'VALID'


def _cat(*xs):
  return jnp.concatenate(xs, axis=-1)


def _max_pool(x):
  return layers.max_pool(x, 3, 2)


# --- Inception-v4 ------------------------------------------------------------


class Mixed3a(InceptionBlock):
  """Max-pool 3/2 | 3x3/2 conv-96."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    return _cat(
      _max_pool(x), self.conv(96, 3, 2, padding=VALID, name='conv')(x, train)
    )


class Mixed4a(InceptionBlock):
  """1x1-64, 3x3-96 | 1x1-64, 1x7, 7x1, 3x3-96 (3x3s unpadded)."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    c = self.conv
    b0 = c(64, 1, name='branch0_0')(x, train)
    b0 = c(96, 3, padding=VALID, name='branch0_1')(b0, train)
    b1 = c(64, 1, name='branch1_0')(x, train)
    b1 = c(64, (1, 7), name='branch1_1')(b1, train)
    b1 = c(64, (7, 1), name='branch1_2')(b1, train)
    b1 = c(96, 3, padding=VALID, name='branch1_3')(b1, train)
    return _cat(b0, b1)


class Mixed5a(InceptionBlock):
  """3x3/2 conv-192 | max-pool 3/2."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    return _cat(
      self.conv(192, 3, 2, padding=VALID, name='conv')(x, train), _max_pool(x)
    )


class InceptionA(InceptionBlock):
  """35x35: 1x1-96 | 1x1-64, 3x3-96 | 1x1-64, 3x3-96, 3x3-96 | avg, 1x1-96."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    c = self.conv
    b0 = c(96, 1, name='branch0')(x, train)
    b1 = c(64, 1, name='branch1_0')(x, train)
    b1 = c(96, 3, name='branch1_1')(b1, train)
    b2 = c(64, 1, name='branch2_0')(x, train)
    b2 = c(96, 3, name='branch2_1')(b2, train)
    b2 = c(96, 3, name='branch2_2')(b2, train)
    b3 = c(96, 1, name='branch3_1')(self.avg_pool3(x), train)
    return _cat(b0, b1, b2, b3)


class ReductionA(InceptionBlock):
  """35 -> 17: 3x3/2-384 | 1x1-192, 3x3-224, 3x3/2-256 | max-pool."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    c = self.conv
    b0 = c(384, 3, 2, padding=VALID, name='branch0')(x, train)
    b1 = c(192, 1, name='branch1_0')(x, train)
    b1 = c(224, 3, name='branch1_1')(b1, train)
    b1 = c(256, 3, 2, padding=VALID, name='branch1_2')(b1, train)
    return _cat(b0, b1, _max_pool(x))


class InceptionB(InceptionBlock):
  """17x17: 1x1-384 | 1x1-192, 1x7-224, 7x1-256 | 1x1-192, 7x1-192,
  1x7-224, 7x1-224, 1x7-256 | avg, 1x1-128."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    c = self.conv
    b0 = c(384, 1, name='branch0')(x, train)
    b1 = c(192, 1, name='branch1_0')(x, train)
    b1 = c(224, (1, 7), name='branch1_1')(b1, train)
    b1 = c(256, (7, 1), name='branch1_2')(b1, train)
    b2 = c(192, 1, name='branch2_0')(x, train)
    b2 = c(192, (7, 1), name='branch2_1')(b2, train)
    b2 = c(224, (1, 7), name='branch2_2')(b2, train)
    b2 = c(224, (7, 1), name='branch2_3')(b2, train)
    b2 = c(256, (1, 7), name='branch2_4')(b2, train)
    b3 = c(128, 1, name='branch3_1')(self.avg_pool3(x), train)
    return _cat(b0, b1, b2, b3)


class ReductionB(InceptionBlock):
  """17 -> 8: 1x1-192, 3x3/2-192 | 1x1-256, 1x7-256, 7x1-320, 3x3/2-320 |
  max-pool."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    c = self.conv
    b0 = c(192, 1, name='branch0_0')(x, train)
    b0 = c(192, 3, 2, padding=VALID, name='branch0_1')(b0, train)
    b1 = c(256, 1, name='branch1_0')(x, train)
    b1 = c(256, (1, 7), name='branch1_1')(b1, train)
    b1 = c(320, (7, 1), name='branch1_2')(b1, train)
    b1 = c(320, 3, 2, padding=VALID, name='branch1_3')(b1, train)
    return _cat(b0, b1, _max_pool(x))


class InceptionC(InceptionBlock):
  """8x8: 1x1-256 | 1x1-384, (1x3-256 | 3x1-256) | 1x1-384, 3x1-448,
  1x3-512, (1x3-256 | 3x1-256) | avg, 1x1-256."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    c = self.conv
    b0 = c(256, 1, name='branch0')(x, train)
    b1 = c(384, 1, name='branch1_0')(x, train)
    b1 = _cat(
      c(256, (1, 3), name='branch1_1a')(b1, train),
      c(256, (3, 1), name='branch1_1b')(b1, train),
    )
    b2 = c(384, 1, name='branch2_0')(x, train)
    b2 = c(448, (3, 1), name='branch2_1')(b2, train)
    b2 = c(512, (1, 3), name='branch2_2')(b2, train)
    b2 = _cat(
      c(256, (1, 3), name='branch2_3a')(b2, train),
      c(256, (3, 1), name='branch2_3b')(b2, train),
    )
    b3 = c(256, 1, name='branch3_1')(self.avg_pool3(x), train)
    return _cat(b0, b1, b2, b3)


def _conv_unit(keras: bool, dtype) -> functools.partial:
  """timm's ConvNormAct (BN eps 1e-3, PyTorch momentum) or Keras' conv2d_bn
  (BN without scale, eps 1e-3, momentum 0.99)."""
  if keras:
    return functools.partial(
      layers.ConvBNAct,
      bn_scale=False,
      bn_momentum=0.99,
      bn_epsilon=1e-3,
      dtype=dtype,
    )
  return functools.partial(
    layers.ConvBNAct, use_bias=False, bn_epsilon=1e-3, dtype=dtype
  )


def _head(x, num_classes, dropout, train, dtype, name):
  x = layers.global_avg_pool(x)
  x = nn.Dropout(dropout, deterministic=not train)(x)
  return layers.dense(num_classes, dtype, name=name)(x)


# (features.<i> index, module) after the three stem convs.
V4_BLOCKS = (
  (3, Mixed3a),
  (4, Mixed4a),
  (5, Mixed5a),
  *[(i, InceptionA) for i in range(6, 10)],
  (10, ReductionA),
  *[(i, InceptionB) for i in range(11, 18)],
  (18, ReductionB),
  *[(i, InceptionC) for i in range(19, 22)],
)


class InceptionV4(nn.Module):
  """Inception-v4 (see the module docstring)."""

  num_classes: int = 1000
  dropout: float = 0.0
  blocks: Sequence[tuple[int, Any]] = V4_BLOCKS
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    conv = _conv_unit(False, self.dtype)
    x = x.astype(self.dtype)
    x = conv(32, 3, 2, padding=VALID, name='features_0')(x, train)
    x = conv(32, 3, padding=VALID, name='features_1')(x, train)
    x = conv(64, 3, name='features_2')(x, train)
    for index, block in self.blocks:
      x = block(conv, pool_include_pad=False, name=f'features_{index}')(
        x, train
      )
    return _head(
      x, self.num_classes, self.dropout, train, self.dtype, 'last_linear'
    )


# --- Inception-ResNet-v2 ------------------------------------------------------


class Mixed5b(InceptionBlock):
  """35x35: 1x1-96 | 1x1-48, 5x5-64 | 1x1-64, 3x3-96, 3x3-96 | avg, 1x1-64."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    c = self.conv
    b0 = c(96, 1, name='branch0')(x, train)
    b1 = c(48, 1, name='branch1_0')(x, train)
    b1 = c(64, 5, name='branch1_1')(b1, train)
    b2 = c(64, 1, name='branch2_0')(x, train)
    b2 = c(96, 3, name='branch2_1')(b2, train)
    b2 = c(96, 3, name='branch2_2')(b2, train)
    b3 = c(64, 1, name='branch3_1')(self.avg_pool3(x), train)
    return _cat(b0, b1, b2, b3)


class ResidualInception(InceptionBlock):
  """Block35 / Block17 / Block8: ``act(x + scale * conv1x1(branches(x)))``.

  ``branches``: per branch, its convs as (features, kernel); every branch
  reads ``x``. The 1x1 conv back to the input width has a bias and no BN.
  """

  branches: Sequence[Sequence[tuple[int, Any]]] = ()
  scale: float = 1.0
  relu: bool = True

  @nn.compact
  def __call__(self, x, train: bool = False):
    outs = []
    for b, branch in enumerate(self.branches):
      y = x
      for i, (features, kernel) in enumerate(branch):
        name = f'branch{b}' if len(branch) == 1 else f'branch{b}_{i}'
        y = self.conv(features, kernel, name=name)(y, train)
      outs.append(y)
    up = layers.conv(
      x.shape[-1], 1, use_bias=True, dtype=x.dtype, name='conv2d'
    )(_cat(*outs))
    x = x + self.scale * up
    return nn.relu(x) if self.relu else x


BLOCK35 = (((32, 1),), ((32, 1), (32, 3)), ((32, 1), (48, 3), (64, 3)))
BLOCK17 = (((192, 1),), ((128, 1), (160, (1, 7)), (192, (7, 1))))
BLOCK8 = (((192, 1),), ((192, 1), (224, (1, 3)), (256, (3, 1))))


class Mixed6a(InceptionBlock):
  """35 -> 17: 3x3/2-384 | 1x1-256, 3x3-256, 3x3/2-384 | max-pool."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    c = self.conv
    b0 = c(384, 3, 2, padding=VALID, name='branch0')(x, train)
    b1 = c(256, 1, name='branch1_0')(x, train)
    b1 = c(256, 3, name='branch1_1')(b1, train)
    b1 = c(384, 3, 2, padding=VALID, name='branch1_2')(b1, train)
    return _cat(b0, b1, _max_pool(x))


class Mixed7a(InceptionBlock):
  """17 -> 8: 1x1-256, 3x3/2-384 | 1x1-256, 3x3/2-288 | 1x1-256, 3x3-288,
  3x3/2-320 | max-pool."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    c = self.conv
    b0 = c(256, 1, name='branch0_0')(x, train)
    b0 = c(384, 3, 2, padding=VALID, name='branch0_1')(b0, train)
    b1 = c(256, 1, name='branch1_0')(x, train)
    b1 = c(288, 3, 2, padding=VALID, name='branch1_1')(b1, train)
    b2 = c(256, 1, name='branch2_0')(x, train)
    b2 = c(288, 3, name='branch2_1')(b2, train)
    b2 = c(320, 3, 2, padding=VALID, name='branch2_2')(b2, train)
    return _cat(b0, b1, b2, _max_pool(x))


class InceptionResNetV2(nn.Module):
  """Inception-ResNet-v2 (see the module docstring).

  Attributes:
    keras: Keras' conventions (BN without scale, momentum 0.99).
    repeats: Block35, Block17 and Block8 units (the last Block8, scale 1
      without ReLU, comes on top).
  """

  num_classes: int = 1000
  dropout: float = 0.0
  keras: bool = False
  repeats: Sequence[int] = (10, 20, 9)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    conv = _conv_unit(self.keras, self.dtype)
    block = dict(conv=conv, pool_include_pad=False)
    x = x.astype(self.dtype)
    x = conv(32, 3, 2, padding=VALID, name='conv2d_1a')(x, train)
    x = conv(32, 3, padding=VALID, name='conv2d_2a')(x, train)
    x = conv(64, 3, name='conv2d_2b')(x, train)
    x = _max_pool(x)
    x = conv(80, 1, name='conv2d_3b')(x, train)
    x = conv(192, 3, padding=VALID, name='conv2d_4a')(x, train)
    x = _max_pool(x)
    x = Mixed5b(name='mixed_5b', **block)(x, train)
    stages = (
      ('repeat', BLOCK35, 0.17, Mixed6a, 'mixed_6a'),
      ('repeat_1', BLOCK17, 0.10, Mixed7a, 'mixed_7a'),
      ('repeat_2', BLOCK8, 0.20, None, None),
    )
    for (name, branches, scale, reduction, reduction_name), n in zip(
      stages, self.repeats
    ):
      for i in range(n):
        x = ResidualInception(
          branches=branches, scale=scale, name=f'{name}_{i}', **block
        )(x, train)
      if reduction is not None:
        x = reduction(name=reduction_name, **block)(x, train)
    x = ResidualInception(
      branches=BLOCK8, scale=1.0, relu=False, name='block8', **block
    )(x, train)
    x = conv(1536, 1, name='conv2d_7b')(x, train)
    return _head(
      x, self.num_classes, self.dropout, train, self.dtype, 'classif'
    )


register('inception_v4', InceptionV4, input_shape=(299, 299, 3))
register('inception_resnet_v2', InceptionResNetV2, input_shape=(299, 299, 3))
register(
  'inception_resnet_v2_keras',
  functools.partial(InceptionResNetV2, keras=True),
  input_shape=(299, 299, 3),
)
