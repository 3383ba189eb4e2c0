"""Xception (Chollet 2017, "Xception: Deep Learning with Depthwise Separable
Convolutions").

Entry flow: two plain 3x3 convs ('valid', the first stride 2), then three
blocks of two separable convs + 3x3/2 max pool with a strided 1x1 conv + BN
shortcut (128, 256, 728 channels). Middle flow: eight residual blocks of three
ReLU-separable conv-BN units at 728 channels. Exit flow: a 728 -> 1024 block
with max pool and 1x1 shortcut, then separable convs to 1536 and 2048 (each
BN + ReLU), global average pooling and a linear classifier. 299x299 inputs.

One module matches both references layer for layer (same parameters; the
Keras count also includes the BN moving statistics):

* ``xception``: ``keras.applications.Xception`` (Chollet's own implementation):
  'SAME' max pooling (pads only at the end for even inputs) and Keras BN
  (epsilon 1e-3, momentum 0.99). 22,855,952 params + 54,528 BN statistics
  = Keras' 22,910,480.
* ``LegacyXception``: timm's ``LegacyXception`` (formerly ``xception``, the
  Cadene port of the Keras weights): PyTorch symmetric padding (max pool pad 1
  on both sides) and PyTorch BN (epsilon 1e-5, momentum 0.1). 22,855,952
  params, timm's count. With the same weights, the two differ only where the
  stride-2 max pools see an even-sized input (the 74 -> 37 and 38 -> 19 pools
  at 299x299) and in the BN epsilon.

Module names follow timm (block1..block12, conv3/bn3, conv4/bn4, fc).
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers
from cnn_jax.models.registry import register


class XceptionBlock(nn.Module):
  """``reps`` x (ReLU, 3x3 separable conv, BN), optional max pool, shortcut.

  As timm's ``Block``: ``grow_first`` widens at the first separable conv (else
  at the last); ``start_with_relu=False`` drops the first ReLU (block1, which
  follows the stem's ReLU). The shortcut is a strided 1x1 conv + BN when the
  shape changes, else the identity.
  """

  features: int
  reps: int
  strides: int = 1
  start_with_relu: bool = True
  grow_first: bool = True
  padding: str = 'SAME'  # 'SAME' (Keras) or 'torch' (timm), for the pool.
  bn_epsilon: float = 1e-3
  bn_momentum: float = 0.99
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, inp, train: bool = False):
    in_features = inp.shape[-1]
    x = inp
    for i in range(self.reps):
      if self.grow_first:
        features = self.features
      else:
        features = in_features if i < self.reps - 1 else self.features
      if i > 0 or self.start_with_relu:
        x = nn.relu(x)
      x = layers.separable_conv_bn(
        x,
        train,
        features,
        names=(f'sepconv{i + 1}', f'bn{i + 1}'),
        padding=self.padding,
        bn_epsilon=self.bn_epsilon,
        bn_momentum=self.bn_momentum,
        dtype=self.dtype,
      )
    if self.strides != 1:
      pad = 'SAME' if self.padding == 'SAME' else 1
      x = layers.max_pool(x, 3, self.strides, padding=pad)

    if self.features != in_features or self.strides != 1:
      skip = layers.ConvBNAct(
        self.features,
        1,
        self.strides,
        padding='VALID',
        act=None,
        bn_epsilon=self.bn_epsilon,
        bn_momentum=self.bn_momentum,
        dtype=self.dtype,
        name='skip',
      )(inp, train)
    else:
      skip = inp
    return x + skip


class Xception(nn.Module):
  """Xception; see the module docstring for the two reference settings.

  Attributes:
    num_classes: classifier outputs.
    padding: 'SAME' (Keras) or 'torch' (timm) for the stride-2 max pools
      (stride-1 separable convs are the same either way; the two stem convs
      and the 1x1 shortcuts are unpadded in both).
    bn_epsilon, bn_momentum: BatchNorm settings (Flax momentum convention).
    middle_blocks: residual blocks in the middle flow (8 in the paper).
    dropout_rate: dropout before the classifier (0 in both references; the
      paper mentions an optional dropout of 0.5 there).
    dtype: compute dtype.
  """

  num_classes: int = 1000
  padding: str = 'SAME'
  bn_epsilon: float = 1e-3
  bn_momentum: float = 0.99
  middle_blocks: int = 8
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    bn_kw = dict(
      bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum, dtype=self.dtype
    )
    block = functools.partial(XceptionBlock, padding=self.padding, **bn_kw)
    x = x.astype(self.dtype)
    # Entry flow.
    x = layers.ConvBNAct(32, 3, 2, padding='VALID', name='conv1', **bn_kw)(
      x, train
    )
    x = layers.ConvBNAct(64, 3, 1, padding='VALID', name='conv2', **bn_kw)(
      x, train
    )
    x = block(128, 2, 2, start_with_relu=False, name='block1')(x, train)
    x = block(256, 2, 2, name='block2')(x, train)
    x = block(728, 2, 2, name='block3')(x, train)
    # Middle flow.
    for i in range(self.middle_blocks):
      x = block(728, 3, 1, name=f'block{i + 4}')(x, train)
    # Exit flow.
    x = block(
      1024, 2, 2, grow_first=False, name=f'block{self.middle_blocks + 4}'
    )(x, train)
    for name, features in (('3', 1536), ('4', 2048)):
      x = layers.separable_conv_bn(
        x,
        train,
        features,
        names=(f'conv{name}', f'bn{name}'),
        padding=self.padding,
        bn_epsilon=self.bn_epsilon,
        bn_momentum=self.bn_momentum,
        dtype=self.dtype,
      )
      x = nn.relu(x)
    x = layers.global_avg_pool(x)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return layers.dense(self.num_classes, self.dtype, name='fc')(x)


LegacyXception = functools.partial(
  Xception, padding='torch', bn_epsilon=1e-5, bn_momentum=0.9
)

register('xception', Xception, input_shape=(299, 299, 3), num_classes=1000)
register(
  'legacy_xception', LegacyXception, input_shape=(299, 299, 3), num_classes=1000
)
