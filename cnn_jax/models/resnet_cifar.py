"""Small-image residual nets (CIFAR-style), all one module: :class:`CifarResNet`.

A 3x3 stride-1 stem, stages of residual units from
:mod:`cnn_jax.models.blocks.residual` (no max pool), global average pooling
and a dense classifier. Variants (10 classes, 32x32x3 unless noted):

* ``resnet20/32/44/56/110`` (He et al. 2016, "Deep Residual Learning", sec.
  4.2): 16-channel conv-BN-ReLU stem, three stages of ``n`` basic units with
  16/32/64 channels, depth ``6n + 2``, option A (parameter-free) shortcuts.
  ResNet-20 has 269,722 trainable parameters plus 2,752 BN statistics
  (272,474 together; the paper's "0.27M").
* ``plain20/32/44/56``: the same nets without shortcuts (the paper's plain
  baselines of Fig. 6).
* ``resnet_seed`` / ``preact_resnet_seed``: the ResNet / ResNetPreAct of the
  UvA DL course tutorial 5 "Inception, ResNet and DenseNet" (the seed report),
  272,378 / 272,250 parameters. ResNetBlock: conv-BN-ReLU-conv-BN, and in a
  subsampling block a 1x1 stride-2 projection conv *with bias and no BN* (the
  tutorial's ``nn.Conv2d`` keeps its default bias: that is what makes
  272,378), ``relu(z + x)``. PreActResNetBlock: BN-ReLU-conv-BN-ReLU-conv,
  subsampling with a BN-ReLU-conv1x1 (no bias) of its own; stem conv alone
  (no BN-ReLU) and no final BN-ReLU before pooling (that is 272,250).
* ``preact_resnet164`` / ``preact_resnet1001`` (He et al. 2016, "Identity
  Mappings in Deep Residual Networks"): pre-activation bottlenecks
  (16/32/64 x4 channels, 18 / 111 units per stage), projections of the shared
  pre-activation, final BN-ReLU: 1.70M and 10.33M (paper: 1.7M, 10.2M).
* ``resnext29_8x64d`` / ``resnext29_16x64d`` (Xie et al. 2017, sec. 5.3):
  64-channel conv-BN-ReLU stem, three stages of 3 bottlenecks with 256/512/1024
  output channels and 8 or 16 groups of 64/128/256 channels (stride on the
  grouped 3x3, projection + BN where shapes change): 34.4M / 68.1M as in the
  paper.
* ``wrn16_8``, ``wrn28_10``, ``wrn40_4`` (Zagoruyko & Komodakis 2016, "Wide
  Residual Networks"): WRN-d-k with ``(d - 4) / 6`` pre-activation basic units
  per stage of 16k/32k/64k channels, projections of the shared
  pre-activation, final BN-ReLU; dropout between the convs with
  ``block_dropout_rate`` (the paper's 0.3; 0 by default).
* ``resnet_2552`` / ``plainnet_2552``: the seed report's Keras comparison net:
  conv3x3-64 + BN-ReLU, basic units 2-5-5-2 with 64-128-256-512 channels
  (stride 2 in the first unit of stages 2-4, 1x1 projection + BN shortcuts),
  4x4 average pooling of the final 4x4 map, flatten, dense 10; in Keras
  style ('SAME' padding, conv biases as Keras' default ``Conv2D``, BN epsilon
  1e-3 / momentum 0.99). The plain form drops the shortcuts.

Inputs need not be 32x32: the nets are fully convolutional up to the global
pooling, so 28x28 Fashion-MNIST images run unpadded (maps 28, 14, 7).
``resnet_2552`` flattens after a fixed 4x4 pool: it needs a 4x4 final map.

Names: stem ``conv1`` (``conv1/conv`` + ``conv1/bn``), units
``layer{s}_{i}``, ``final_bn``, ``fc``.
"""
from __future__ import annotations

import functools
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers
from cnn_jax.models.blocks import residual as rb
from cnn_jax.models.registry import register


class CifarResNet(nn.Module):
  """3x3 stem, stages of residual units, pooling, dense.

  Attributes:
    stage_sizes: units per stage.
    block_cls: the unit (class or partial).
    num_classes: classifier outputs.
    widths: per-stage unit ``features`` (bottlenecks output 4x as many).
    strides: per-stage stride.
    stem_width: channels of the 3x3 stem conv.
    stem_norm: BN-ReLU after the stem conv (post-activation nets).
    stem_bias: bias in the stem conv.
    final_norm: BN-ReLU before pooling (pre-activation nets).
    shortcut: False for plain nets.
    shortcut_type: ``'A'`` or ``'B'`` (see ``blocks.residual``).
    zero_init_residual: start every unit as its shortcut.
    block_dropout_rate: dropout inside each unit (Wide ResNets).
    drop_path_rate: stochastic depth of the last unit (linear from 0).
    pool_size: None for global average pooling; k for a k x k / k average
      pool followed by flatten (Keras ``AveragePooling2D(k)``).
    padding: conv padding, ``'torch'`` or ``'SAME'`` (Keras).
  """
  stage_sizes: Sequence[int]
  block_cls: Any = rb.BasicBlock
  num_classes: int = 10
  widths: Sequence[int] = (16, 32, 64)
  strides: Sequence[int] = (1, 2, 2)
  stem_width: int = 16
  stem_norm: bool = True
  stem_bias: bool = False
  final_norm: bool = False
  shortcut: bool = True
  shortcut_type: str = 'B'
  zero_init_residual: bool = False
  block_dropout_rate: float = 0.0
  drop_path_rate: float = 0.0
  pool_size: Optional[int] = None
  padding: layers.Padding = 'torch'
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = jnp.asarray(x, self.dtype)
    x = layers.ConvBNAct(
        self.stem_width, 3, 1, padding=self.padding, use_bn=self.stem_norm,
        act='relu' if self.stem_norm else None, use_bias=self.stem_bias,
        bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon,
        dtype=self.dtype, name='conv1')(x, train)
    extra = ({'dropout_rate': self.block_dropout_rate}
             if self.block_dropout_rate else {})
    x = rb.residual_stages(
        x, block_cls=self.block_cls, stage_sizes=self.stage_sizes,
        widths=self.widths, strides=self.strides, train=train,
        drop_path_rate=self.drop_path_rate, shortcut=self.shortcut,
        shortcut_type=self.shortcut_type,
        zero_init_last=self.zero_init_residual, padding=self.padding,
        bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon,
        dtype=self.dtype, **extra)
    if self.final_norm:
      x = nn.relu(layers.batch_norm(train, dtype=self.dtype,
                                    momentum=self.bn_momentum,
                                    epsilon=self.bn_epsilon,
                                    name='final_bn')(x))
    if self.pool_size:
      x = layers.avg_pool(x, self.pool_size, self.pool_size)
      x = x.reshape((x.shape[0], -1))
    else:
      x = layers.global_avg_pool(x)
    return layers.dense(self.num_classes, dtype=self.dtype, name='fc')(x)


def _he2016(n: int, shortcut: bool = True):
  """ResNet-(6n+2) / plain-(6n+2) of He et al. 2016 sec. 4.2 (option A)."""
  return functools.partial(CifarResNet, stage_sizes=(n, n, n),
                           shortcut_type='A', shortcut=shortcut)


ResNet20 = _he2016(3)
ResNet32 = _he2016(5)
ResNet44 = _he2016(7)
ResNet56 = _he2016(9)
ResNet110 = _he2016(18)
Plain20 = _he2016(3, shortcut=False)
Plain32 = _he2016(5, shortcut=False)
Plain44 = _he2016(7, shortcut=False)
Plain56 = _he2016(9, shortcut=False)

# The seed report's nets (UvA DL tutorial 5).
ResNetSeed = functools.partial(
    CifarResNet, stage_sizes=(3, 3, 3),
    block_cls=functools.partial(rb.BasicBlock, proj_bn=False, proj_bias=True))
PreActResNetSeed = functools.partial(
    CifarResNet, stage_sizes=(3, 3, 3), stem_norm=False,
    block_cls=functools.partial(rb.PreActBasicBlock, proj_preact='own'))


def _preact_bottleneck_net(depth: int):
  """Pre-activation ResNet-depth of He et al. 2016b (``(depth - 2) / 9``)."""
  n = (depth - 2) // 9
  return functools.partial(CifarResNet, stage_sizes=(n, n, n),
                           block_cls=rb.PreActBottleneck, stem_norm=False,
                           final_norm=True)


PreActResNet164 = _preact_bottleneck_net(164)
PreActResNet1001 = _preact_bottleneck_net(1001)


def _resnext29(groups: int, base_width: int = 64):
  return functools.partial(
      CifarResNet, stage_sizes=(3, 3, 3), widths=(64, 128, 256),
      stem_width=64,
      block_cls=functools.partial(rb.BottleneckBlock, groups=groups,
                                  base_width=base_width))


ResNeXt29_8x64d = _resnext29(8)
ResNeXt29_16x64d = _resnext29(16)


def _wrn(depth: int, k: int):
  """WRN-depth-k (Zagoruyko & Komodakis 2016)."""
  if (depth - 4) % 6:
    raise ValueError('WRN depth must be 6n + 4.')
  n = (depth - 4) // 6
  return functools.partial(CifarResNet, stage_sizes=(n, n, n),
                           widths=(16 * k, 32 * k, 64 * k),
                           block_cls=rb.PreActBasicBlock, stem_norm=False,
                           final_norm=True)


WRN16_8 = _wrn(16, 8)
WRN28_10 = _wrn(28, 10)
WRN40_4 = _wrn(40, 4)

# The seed report's Keras comparison net (Keras defaults: conv bias, SAME).
ResNet2552 = functools.partial(
    CifarResNet, stage_sizes=(2, 5, 5, 2), widths=(64, 128, 256, 512),
    strides=(1, 2, 2, 2), stem_width=64, stem_bias=True, pool_size=4,
    padding='SAME', bn_momentum=0.99, bn_epsilon=1e-3,
    block_cls=functools.partial(rb.BasicBlock, conv_bias=True, proj_bias=True))
PlainNet2552 = functools.partial(ResNet2552, shortcut=False)

for _name, _factory in {
    'resnet20': ResNet20,
    'resnet32': ResNet32,
    'resnet44': ResNet44,
    'resnet56': ResNet56,
    'resnet110': ResNet110,
    'plain20': Plain20,
    'plain32': Plain32,
    'plain44': Plain44,
    'plain56': Plain56,
    'resnet_seed': ResNetSeed,
    'preact_resnet_seed': PreActResNetSeed,
    'preact_resnet164': PreActResNet164,
    'preact_resnet1001': PreActResNet1001,
    'resnext29_8x64d': ResNeXt29_8x64d,
    'resnext29_16x64d': ResNeXt29_16x64d,
    'wrn16_8': WRN16_8,
    'wrn28_10': WRN28_10,
    'wrn40_4': WRN40_4,
    'resnet_2552': ResNet2552,
    'plainnet_2552': PlainNet2552,
}.items():
  register(_name, _factory, input_shape=(32, 32, 3), num_classes=10)
