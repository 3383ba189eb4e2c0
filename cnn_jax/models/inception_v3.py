"""Inception-v3 (Szegedy et al. 2016, "Rethinking the Inception architecture
for computer vision", CVPR).

``inception_v3`` / ``inception_v3_aux`` -- torchvision's Inception3 (the
TF-slim layout): conv-BN(eps 1e-3)-ReLU units without conv bias, modules
Mixed_5b..Mixed_7c (InceptionA x3, B, C x4, D, E x2), global average pooling,
dropout 0.5, linear; the aux head on Mixed_6e (5x5/3 average pool, 1x1 conv-
128, 5x5 conv-768, linear) returns logits in training. 299x299 input. Names
follow torchvision (``Mixed_6b/branch7x7_2/conv``) and so does layer order.
23,834,568 parameters without the aux head and 27,161,264 with it.
``transform_input=True`` is torchvision's pretrained model (``googlenet``).

``inception_v3_keras`` -- keras.applications.InceptionV3: the same layers, but
BatchNorm without scale (``scale=False``), Keras BN settings (epsilon 1e-3,
momentum 0.99), 'SAME'/'VALID' padding, branch average pools that exclude the
padding from the count, no dropout and no aux head: 23,851,784 parameters
including BN statistics, as Keras counts.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers
from cnn_jax.models.googlenet import imagenet_to_unit_range
from cnn_jax.models.registry import register


class InceptionBlock(nn.Module):
  """Base of the Inception modules: a conv-BN-ReLU factory and pools (shared
  with Inception-v4 and Inception-ResNet-v2)."""

  conv: Callable[..., nn.Module]
  pool_include_pad: bool = True

  def avg_pool3(self, x):
    return layers.avg_pool(
      x, 3, 1, padding=1, count_include_pad=self.pool_include_pad
    )


class InceptionA(InceptionBlock):
  """35x35 module: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""

  pool_features: int = 32

  @nn.compact
  def __call__(self, x, train: bool = False):
    c = self.conv
    b1 = c(64, 1, name='branch1x1')(x, train)
    b5 = c(48, 1, name='branch5x5_1')(x, train)
    b5 = c(64, 5, name='branch5x5_2')(b5, train)
    b3 = c(64, 1, name='branch3x3dbl_1')(x, train)
    b3 = c(96, 3, name='branch3x3dbl_2')(b3, train)
    b3 = c(96, 3, name='branch3x3dbl_3')(b3, train)
    bp = c(self.pool_features, 1, name='branch_pool')(self.avg_pool3(x), train)
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(InceptionBlock):
  """Grid reduction 35 -> 17: 3x3/2 | 1x1-3x3-3x3/2 | maxpool 3/2."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    c = self.conv
    b3 = c(384, 3, 2, padding='VALID', name='branch3x3')(x, train)
    bd = c(64, 1, name='branch3x3dbl_1')(x, train)
    bd = c(96, 3, name='branch3x3dbl_2')(bd, train)
    bd = c(96, 3, 2, padding='VALID', name='branch3x3dbl_3')(bd, train)
    return jnp.concatenate([b3, bd, layers.max_pool(x, 3, 2)], axis=-1)


class InceptionC(InceptionBlock):
  """17x17 module with factorized 7x7 convs (1x7 and 7x1)."""

  channels_7x7: int = 128

  @nn.compact
  def __call__(self, x, train: bool = False):
    c, c7 = self.conv, self.channels_7x7
    b1 = c(192, 1, name='branch1x1')(x, train)
    b7 = c(c7, 1, name='branch7x7_1')(x, train)
    b7 = c(c7, (1, 7), name='branch7x7_2')(b7, train)
    b7 = c(192, (7, 1), name='branch7x7_3')(b7, train)
    bd = c(c7, 1, name='branch7x7dbl_1')(x, train)
    bd = c(c7, (7, 1), name='branch7x7dbl_2')(bd, train)
    bd = c(c7, (1, 7), name='branch7x7dbl_3')(bd, train)
    bd = c(c7, (7, 1), name='branch7x7dbl_4')(bd, train)
    bd = c(192, (1, 7), name='branch7x7dbl_5')(bd, train)
    bp = c(192, 1, name='branch_pool')(self.avg_pool3(x), train)
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(InceptionBlock):
  """Grid reduction 17 -> 8: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool 3/2."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    c = self.conv
    b3 = c(192, 1, name='branch3x3_1')(x, train)
    b3 = c(320, 3, 2, padding='VALID', name='branch3x3_2')(b3, train)
    b7 = c(192, 1, name='branch7x7x3_1')(x, train)
    b7 = c(192, (1, 7), name='branch7x7x3_2')(b7, train)
    b7 = c(192, (7, 1), name='branch7x7x3_3')(b7, train)
    b7 = c(192, 3, 2, padding='VALID', name='branch7x7x3_4')(b7, train)
    return jnp.concatenate([b3, b7, layers.max_pool(x, 3, 2)], axis=-1)


class InceptionE(InceptionBlock):
  """8x8 module with expanded filter banks (parallel 1x3 and 3x1)."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    c = self.conv
    b1 = c(320, 1, name='branch1x1')(x, train)
    b3 = c(384, 1, name='branch3x3_1')(x, train)
    b3 = jnp.concatenate(
      [
        c(384, (1, 3), name='branch3x3_2a')(b3, train),
        c(384, (3, 1), name='branch3x3_2b')(b3, train),
      ],
      -1,
    )
    bd = c(448, 1, name='branch3x3dbl_1')(x, train)
    bd = c(384, 3, name='branch3x3dbl_2')(bd, train)
    bd = jnp.concatenate(
      [
        c(384, (1, 3), name='branch3x3dbl_3a')(bd, train),
        c(384, (3, 1), name='branch3x3dbl_3b')(bd, train),
      ],
      -1,
    )
    bp = c(192, 1, name='branch_pool')(self.avg_pool3(x), train)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionAux(nn.Module):
  """Aux head on Mixed_6e: avgpool 5/3, 1x1-128, 5x5-768, global pool, FC."""

  num_classes: int
  conv: Callable[..., nn.Module]
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = layers.avg_pool(x, 5, 3)
    x = self.conv(128, 1, name='conv0')(x, train)
    x = self.conv(768, 5, padding='VALID', name='conv1')(x, train)
    x = layers.global_avg_pool(x)
    return layers.dense(self.num_classes, dtype=self.dtype, name='fc')(x)


class InceptionV3(nn.Module):
  """Inception-v3; see the module docstring for the registered variants.

  Attributes:
    aux_logits: build the auxiliary classifier on Mixed_6e (needs 299 input).
    dropout: dropout rate before the classifier (0.5 torchvision, 0 Keras).
    keras: Keras conventions (BN without scale, momentum 0.99, 'SAME'
      padding, branch average pools excluding padding).
    transform_input: re-normalize ImageNet-normalized input to [-1, 1]
      first, as torchvision's pretrained Inception-v3 does (see
      ``googlenet.imagenet_to_unit_range``).
  """

  num_classes: int = 1000
  aux_logits: bool = False
  dropout: float = 0.5
  keras: bool = False
  transform_input: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.transform_input:
      x = imagenet_to_unit_range(x)
    if self.keras:
      conv = functools.partial(
        layers.ConvBNAct,
        padding='SAME',
        bn_scale=False,
        bn_momentum=0.99,
        bn_epsilon=1e-3,
        dtype=self.dtype,
      )
    else:
      conv = functools.partial(
        layers.ConvBNAct, use_bias=False, bn_epsilon=1e-3, dtype=self.dtype
      )
    block = dict(conv=conv, pool_include_pad=not self.keras)
    x = x.astype(self.dtype)
    x = conv(32, 3, 2, padding='VALID', name='Conv2d_1a_3x3')(x, train)
    x = conv(32, 3, padding='VALID', name='Conv2d_2a_3x3')(x, train)
    x = conv(64, 3, name='Conv2d_2b_3x3')(x, train)
    x = layers.max_pool(x, 3, 2)
    x = conv(80, 1, padding='VALID', name='Conv2d_3b_1x1')(x, train)
    x = conv(192, 3, padding='VALID', name='Conv2d_4a_3x3')(x, train)
    x = layers.max_pool(x, 3, 2)
    x = InceptionA(pool_features=32, name='Mixed_5b', **block)(x, train)
    x = InceptionA(pool_features=64, name='Mixed_5c', **block)(x, train)
    x = InceptionA(pool_features=64, name='Mixed_5d', **block)(x, train)
    x = InceptionB(name='Mixed_6a', **block)(x, train)
    for name, c7 in (
      ('Mixed_6b', 128),
      ('Mixed_6c', 160),
      ('Mixed_6d', 160),
      ('Mixed_6e', 192),
    ):
      x = InceptionC(channels_7x7=c7, name=name, **block)(x, train)
    aux = None
    if self.aux_logits and (train or self.is_initializing()):
      aux = InceptionAux(
        self.num_classes, conv, dtype=self.dtype, name='AuxLogits'
      )(x, train)
    x = InceptionD(name='Mixed_7a', **block)(x, train)
    x = InceptionE(name='Mixed_7b', **block)(x, train)
    x = InceptionE(name='Mixed_7c', **block)(x, train)
    x = layers.global_avg_pool(x)
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    x = layers.dense(self.num_classes, dtype=self.dtype, name='fc')(x)
    if self.aux_logits and train:
      return x, [aux]
    return x


InceptionV3Keras = functools.partial(InceptionV3, keras=True, dropout=0.0)

register('inception_v3', InceptionV3, input_shape=(299, 299, 3))
register(
  'inception_v3_aux',
  functools.partial(InceptionV3, aux_logits=True),
  input_shape=(299, 299, 3),
)
register('inception_v3_keras', InceptionV3Keras, input_shape=(299, 299, 3))
