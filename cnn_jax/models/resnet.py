"""ImageNet ResNets and their descendants, all one module: :class:`ResNet`.

Every variant is a ``functools.partial`` over :class:`ResNet` with stage sizes
and a residual unit from :mod:`cnn_jax.models.blocks.residual`:

* ResNet v1.5 (He et al. 2016, "Deep Residual Learning for Image
  Recognition"; stride on the 3x3 conv as torchvision): ``resnet18``,
  ``resnet34``, ``resnet50``, ``resnet101``, ``resnet152`` (torchvision's
  counts). The stem is a 7x7/2 conv, BN, ReLU and a 3x3/2 max pool (padding 1).
* ResNeXt (Xie et al. 2017, "Aggregated Residual Transformations"; grouped 3x3
  conv): ``resnext50_32x4d``, ``resnext101_32x8d``, ``resnext101_64x4d``
  (torchvision).
* Wide ResNet-50/101-2 (Zagoruyko & Komodakis 2016; torchvision's ImageNet
  form: bottleneck 3x3 convs twice as wide): ``wide_resnet50_2``,
  ``wide_resnet101_2``.
* Squeeze-and-excitation nets (Hu et al. 2018), as timm builds them:
  ``seresnet50``, ``seresnext50_32x4d`` and ``senet154`` (deep 3-conv stem of
  64-64-128 channels, 64x4d groups with the first 1x1 conv at half the 3x3
  width, 3x3 strided projections, dropout 0.2 before the classifier as in the
  paper / the original Caffe model; timm's ``senet154`` defaults to no dropout,
  which changes no parameter).
* Pre-activation ResNets (He et al. 2016, "Identity Mappings in Deep Residual
  Networks"):

  - ``preact_resnet18/34/50/101/152``: timm's ``resnetv2_18/34/50/101/152``
    (7x7/2 conv without BN and a max pool, pre-activation units whose
    projections take the shared pre-activation, a final BN-ReLU).
  - ``resnet50v2``, ``resnet101v2``, ``resnet152v2``: Keras'
    ``ResNet50V2/101V2/152V2``: stem conv with bias, each stage's stride in
    its *last* unit (whose shortcut is a strided subsampling), projections and
    last 1x1 convs with bias, max pool over zero padding, BN epsilon 1.001e-5
    and Keras momentum 0.99. Keras counts BN statistics in its totals.

* ``resnet50_keras``: Keras' ``ResNet50`` (v1: stride on the first 1x1 conv;
  every conv has a bias; BN epsilon 1.001e-5, momentum 0.99).

Keras' ``ZeroPadding2D`` + 'valid' convs are exactly PyTorch's symmetric
padding, so every variant uses it. ``small_input_stem=True`` replaces the
stem by a 3x3/1 conv without max pool (the common CIFAR adaptation of
ResNet-18, e.g. for 28x28 or 32x32 images).

Small-image (CIFAR-style) nets: a 3x3 stride-1 stem (``small_input_stem``),
no max pool, three stages of 16/32/64 channels unless noted, 10 classes,
32x32x3:

* ``resnet20/32/44/56/110`` (He et al. 2016, "Deep Residual Learning", sec.
  4.2): 16-channel conv-BN-ReLU stem, three stages of ``n`` basic units with
  16/32/64 channels, depth ``6n + 2``, option A (parameter-free) shortcuts.
  ResNet-20 has 269,722 trainable parameters plus 2,752 BN statistics
  (272,474 together; the paper's "0.27M").
* ``plain20/32/44/56``: the same nets without shortcuts (the paper's plain
  baselines of Fig. 6).
* ``resnet_uvadl`` / ``preact_resnet_uvadl``: the ResNet / ResNetPreAct of the
  UvA DL course tutorial 5 "Inception, ResNet and DenseNet",
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
* ``resnet30_keras`` / ``plain30_keras``: the UvA DL tutorial's Keras comparison net:
  conv3x3-64 + BN-ReLU, basic units 2-5-5-2 with 64-128-256-512 channels
  (stride 2 in the first unit of stages 2-4, 1x1 projection + BN shortcuts),
  4x4 average pooling of the final 4x4 map, flatten, dense 10; in Keras
  style ('SAME' padding, conv biases as Keras' default ``Conv2D``, BN epsilon
  1e-3 / momentum 0.99). The plain form drops the shortcuts.

Inputs need not be 32x32: the nets are fully convolutional up to the global
pooling, so 28x28 Fashion-MNIST images run unpadded (maps 28, 14, 7).
``resnet30_keras`` flattens after a fixed 4x4 pool: it needs a 4x4 final map.


Names follow torchvision: ``conv1`` (``conv1/conv`` + ``conv1/bn`` = torch's
``conv1`` + ``bn1``), units ``layer{s}_{i}`` (``layerS.I``), ``fc``; the deep
stem is ``conv1_0..2`` (timm's ``conv1.0/.1``, ``.3/.4``, ``.6`` + ``bn1``);
the final norm of pre-activation nets is ``final_bn`` (timm ``norm``, Keras
``post_bn``).
"""

from __future__ import annotations

import functools
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers
from cnn_jax.models.blocks import residual as rb
from cnn_jax.models.registry import register


class ResNet(nn.Module):
  """A stem, four stages of residual units, global average pooling, dense.

  Attributes:
    stage_sizes: units per stage.
    block_cls: the unit (class or partial) from ``blocks.residual``.
    num_classes: classifier outputs.
    widths: per-stage ``features`` of the unit ("planes": bottleneck units
      output 4x as many channels).
    strides: per-stage stride.
    stride_in_last_block: put each stage's stride in its last unit (Keras v2).
    stem: ``'standard'`` (7x7/2 conv + 3x3/2 max pool) or ``'deep'`` (three
      3x3 convs of ``stem_width``, ``stem_width``, ``2 * stem_width``, then the
      max pool; SENet-154).
    small_input_stem: a 3x3 stride-1 conv and no max pool, for 28-32 px images.
    stem_width: channels of the stem conv.
    stem_norm: BN-ReLU after the stem conv (False in pre-activation nets,
      whose first unit normalizes).
    stem_bias: bias in the stem conv (Keras).
    pool_zero_padding: pad the max pool with zeros, not -inf (Keras'
      ``ZeroPadding2D`` before ``MaxPooling2D``; matters only when the stem has
      no ReLU).
    final_norm: BN-ReLU after the last stage (pre-activation nets).
    shortcut: False removes every shortcut (a plain net).
    shortcut_type: ``'A'`` (parameter-free, He et al.'s CIFAR nets) or ``'B'``
      (projections; see ``blocks.residual``).
    zero_init_residual: start every unit as its shortcut (see
      ``blocks.residual``).
    drop_path_rate: stochastic depth of the last unit (linear from 0).
    dropout_rate: dropout before the classifier.
    block_dropout_rate: dropout inside each unit (Wide ResNets).
    pool_size: None for global average pooling; k for a k x k / k average
      pool followed by flatten (Keras ``AveragePooling2D(k)``).
    padding: conv padding, ``'torch'`` or ``'SAME'`` (Keras).
    bn_momentum, bn_epsilon: BatchNorm settings (Flax momentum convention).
  """

  stage_sizes: Sequence[int]
  block_cls: Any
  num_classes: int = 1000
  widths: Sequence[int] = (64, 128, 256, 512)
  strides: Sequence[int] = (1, 2, 2, 2)
  stride_in_last_block: bool = False
  stem: str = 'standard'
  small_input_stem: bool = False
  stem_width: int = 64
  stem_norm: bool = True
  stem_bias: bool = False
  pool_zero_padding: bool = False
  final_norm: bool = False
  shortcut: bool = True
  shortcut_type: str = 'B'
  zero_init_residual: bool = False
  drop_path_rate: float = 0.0
  dropout_rate: float = 0.0
  block_dropout_rate: float = 0.0
  pool_size: Optional[int] = None
  padding: layers.Padding = 'torch'
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = jnp.asarray(x, self.dtype)
    cba = functools.partial(
      layers.ConvBNAct,
      bn_momentum=self.bn_momentum,
      bn_epsilon=self.bn_epsilon,
      dtype=self.dtype,
    )
    stem_act = 'relu' if self.stem_norm else None
    if self.small_input_stem:
      x = cba(
        self.stem_width,
        3,
        1,
        use_bn=self.stem_norm,
        act=stem_act,
        use_bias=self.stem_bias,
        padding=self.padding,
        name='conv1',
      )(x, train)
    else:
      if self.stem == 'standard':
        x = cba(
          self.stem_width,
          7,
          2,
          use_bn=self.stem_norm,
          act=stem_act,
          use_bias=self.stem_bias,
          name='conv1',
        )(x, train)
      elif self.stem == 'deep':
        w = self.stem_width
        x = cba(w, 3, 2, name='conv1_0')(x, train)
        x = cba(w, 3, 1, name='conv1_1')(x, train)
        x = cba(
          2 * w, 3, 1, use_bn=self.stem_norm, act=stem_act, name='conv1_2'
        )(x, train)
      else:
        raise ValueError(f'Unknown stem {self.stem!r}.')
      if self.pool_zero_padding:
        x = jnp.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
        x = layers.max_pool(x, 3, 2)
      else:
        x = layers.max_pool(x, 3, 2, padding=1)
    extra = (
      {'dropout_rate': self.block_dropout_rate}
      if self.block_dropout_rate
      else {}
    )
    x = rb.residual_stages(
      x,
      block_cls=self.block_cls,
      stage_sizes=self.stage_sizes,
      widths=self.widths,
      strides=self.strides,
      train=train,
      stride_in_last_block=self.stride_in_last_block,
      drop_path_rate=self.drop_path_rate,
      shortcut=self.shortcut,
      shortcut_type=self.shortcut_type,
      zero_init_last=self.zero_init_residual,
      padding=self.padding,
      bn_momentum=self.bn_momentum,
      bn_epsilon=self.bn_epsilon,
      dtype=self.dtype,
      **extra,
    )
    if self.final_norm:
      x = nn.relu(
        layers.batch_norm(
          train,
          dtype=self.dtype,
          momentum=self.bn_momentum,
          epsilon=self.bn_epsilon,
          name='final_bn',
        )(x)
      )
    if self.pool_size:
      x = layers.avg_pool(x, self.pool_size, self.pool_size)
      x = x.reshape((x.shape[0], -1))
    else:
      x = layers.global_avg_pool(x)
    if self.dropout_rate:
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return layers.dense(self.num_classes, dtype=self.dtype, name='fc')(x)


_DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}

# torchvision ResNet v1.5.
ResNet18 = functools.partial(
  ResNet, stage_sizes=(2, 2, 2, 2), block_cls=rb.BasicBlock
)
ResNet34 = functools.partial(
  ResNet, stage_sizes=(3, 4, 6, 3), block_cls=rb.BasicBlock
)
ResNet50 = functools.partial(
  ResNet, stage_sizes=_DEPTHS[50], block_cls=rb.BottleneckBlock
)
ResNet101 = functools.partial(
  ResNet, stage_sizes=_DEPTHS[101], block_cls=rb.BottleneckBlock
)
ResNet152 = functools.partial(
  ResNet, stage_sizes=_DEPTHS[152], block_cls=rb.BottleneckBlock
)


def _grouped(groups: int, base_width: int, **kwargs):
  return functools.partial(
    rb.BottleneckBlock, groups=groups, base_width=base_width, **kwargs
  )


# ResNeXt and Wide ResNet (torchvision).
ResNeXt50_32x4d = functools.partial(
  ResNet, stage_sizes=_DEPTHS[50], block_cls=_grouped(32, 4)
)
ResNeXt101_32x8d = functools.partial(
  ResNet, stage_sizes=_DEPTHS[101], block_cls=_grouped(32, 8)
)
ResNeXt101_64x4d = functools.partial(
  ResNet, stage_sizes=_DEPTHS[101], block_cls=_grouped(64, 4)
)
WideResNet50_2 = functools.partial(
  ResNet, stage_sizes=_DEPTHS[50], block_cls=_grouped(1, 128)
)
WideResNet101_2 = functools.partial(
  ResNet, stage_sizes=_DEPTHS[101], block_cls=_grouped(1, 128)
)

# Squeeze-and-excitation (timm).
SEResNet50 = functools.partial(
  ResNet,
  stage_sizes=_DEPTHS[50],
  block_cls=functools.partial(rb.BottleneckBlock, se_ratio=1 / 16),
)
SEResNeXt50_32x4d = functools.partial(
  ResNet, stage_sizes=_DEPTHS[50], block_cls=_grouped(32, 4, se_ratio=1 / 16)
)
SENet154 = functools.partial(
  ResNet,
  stage_sizes=_DEPTHS[152],
  stem='deep',
  dropout_rate=0.2,
  block_cls=_grouped(
    64, 4, se_ratio=1 / 16, reduce_first=2, proj_kernel_size=3
  ),
)

# Pre-activation, timm's resnetv2_* (torch conventions).
PreActResNet18 = functools.partial(
  ResNet,
  stage_sizes=(2, 2, 2, 2),
  block_cls=rb.PreActBasicBlock,
  stem_norm=False,
  final_norm=True,
)
PreActResNet34 = functools.partial(PreActResNet18, stage_sizes=(3, 4, 6, 3))
PreActResNet50 = functools.partial(
  ResNet,
  stage_sizes=_DEPTHS[50],
  block_cls=rb.PreActBottleneck,
  stem_norm=False,
  final_norm=True,
)
PreActResNet101 = functools.partial(PreActResNet50, stage_sizes=_DEPTHS[101])
PreActResNet152 = functools.partial(PreActResNet50, stage_sizes=_DEPTHS[152])

# Keras applications.
_KERAS_BN = dict(bn_momentum=0.99, bn_epsilon=1.001e-5)
ResNet50V2Keras = functools.partial(
  ResNet,
  stage_sizes=_DEPTHS[50],
  strides=(2, 2, 2, 1),
  stride_in_last_block=True,
  stem_norm=False,
  stem_bias=True,
  pool_zero_padding=True,
  final_norm=True,
  block_cls=functools.partial(
    rb.PreActBottleneck,
    proj_bias=True,
    last_conv_bias=True,
    project_on_stride=False,
  ),
  **_KERAS_BN,
)
ResNet101V2Keras = functools.partial(ResNet50V2Keras, stage_sizes=_DEPTHS[101])
ResNet152V2Keras = functools.partial(ResNet50V2Keras, stage_sizes=_DEPTHS[152])
ResNet50Keras = functools.partial(
  ResNet,
  stage_sizes=_DEPTHS[50],
  stem_bias=True,
  pool_zero_padding=True,
  block_cls=functools.partial(
    rb.BottleneckBlock, stride_on_3x3=False, conv_bias=True, proj_bias=True
  ),
  **_KERAS_BN,
)


# Small-image nets (CIFAR-style stem, 16/32/64 channels unless noted).
_SMALL = dict(
  small_input_stem=True,
  stem_width=16,
  widths=(16, 32, 64),
  strides=(1, 2, 2),
  num_classes=10,
)


def _he2016(n: int, shortcut: bool = True):
  """ResNet-(6n+2) / plain-(6n+2) of He et al. 2016 sec. 4.2 (option A)."""
  return functools.partial(
    ResNet,
    stage_sizes=(n, n, n),
    block_cls=rb.BasicBlock,
    shortcut_type='A',
    shortcut=shortcut,
    **_SMALL,
  )


ResNet20 = _he2016(3)
ResNet32 = _he2016(5)
ResNet44 = _he2016(7)
ResNet56 = _he2016(9)
ResNet110 = _he2016(18)
Plain20 = _he2016(3, shortcut=False)
Plain32 = _he2016(5, shortcut=False)
Plain44 = _he2016(7, shortcut=False)
Plain56 = _he2016(9, shortcut=False)

# The ResNet and PreActResNet of the UvA Deep Learning course's tutorial 5.
ResNetUvaDL = functools.partial(
  ResNet,
  stage_sizes=(3, 3, 3),
  block_cls=functools.partial(rb.BasicBlock, proj_bn=False, proj_bias=True),
  **_SMALL,
)
PreActResNetUvaDL = functools.partial(
  ResNet,
  stage_sizes=(3, 3, 3),
  stem_norm=False,
  block_cls=functools.partial(rb.PreActBasicBlock, proj_preact='own'),
  **_SMALL,
)


def _preact_bottleneck_net(depth: int):
  """Pre-activation ResNet-depth of He et al. 2016b (``(depth - 2) / 9``)."""
  n = (depth - 2) // 9
  return functools.partial(
    ResNet,
    stage_sizes=(n, n, n),
    block_cls=rb.PreActBottleneck,
    stem_norm=False,
    final_norm=True,
    **_SMALL,
  )


PreActResNet164 = _preact_bottleneck_net(164)
PreActResNet1001 = _preact_bottleneck_net(1001)


def _resnext29(groups: int, base_width: int = 64):
  return functools.partial(
    ResNet,
    stage_sizes=(3, 3, 3),
    block_cls=functools.partial(
      rb.BottleneckBlock, groups=groups, base_width=base_width
    ),
    **{**_SMALL, 'widths': (64, 128, 256), 'stem_width': 64},
  )


ResNeXt29_8x64d = _resnext29(8)
ResNeXt29_16x64d = _resnext29(16)


def _wrn(depth: int, k: int):
  """WRN-depth-k (Zagoruyko & Komodakis 2016)."""
  if (depth - 4) % 6:
    raise ValueError('WRN depth must be 6n + 4.')
  n = (depth - 4) // 6
  return functools.partial(
    ResNet,
    stage_sizes=(n, n, n),
    block_cls=rb.PreActBasicBlock,
    stem_norm=False,
    final_norm=True,
    **{**_SMALL, 'widths': (16 * k, 32 * k, 64 * k)},
  )


WRN16_8 = _wrn(16, 8)
WRN28_10 = _wrn(28, 10)
WRN40_4 = _wrn(40, 4)

# The Keras "ResNet vs PlainNet" comparison net (Keras defaults: conv bias,
# SAME padding, BN epsilon 1e-3 / momentum 0.99).
ResNet30Keras = functools.partial(
  ResNet,
  stage_sizes=(2, 5, 5, 2),
  small_input_stem=True,
  widths=(64, 128, 256, 512),
  strides=(1, 2, 2, 2),
  stem_width=64,
  stem_bias=True,
  pool_size=4,
  padding='SAME',
  bn_momentum=0.99,
  bn_epsilon=1e-3,
  num_classes=10,
  block_cls=functools.partial(rb.BasicBlock, conv_bias=True, proj_bias=True),
)
Plain30Keras = functools.partial(ResNet30Keras, shortcut=False)

_IMAGENET = dict(input_shape=(224, 224, 3), num_classes=1000)
register('resnet18', ResNet18, **_IMAGENET)
register('resnet34', ResNet34, **_IMAGENET)
register('resnet50', ResNet50, **_IMAGENET)
register('resnet101', ResNet101, **_IMAGENET)
register('resnet152', ResNet152, **_IMAGENET)
register('resnext50_32x4d', ResNeXt50_32x4d, **_IMAGENET)
register('resnext101_32x8d', ResNeXt101_32x8d, **_IMAGENET)
register('resnext101_64x4d', ResNeXt101_64x4d, **_IMAGENET)
register('wide_resnet50_2', WideResNet50_2, **_IMAGENET)
register('wide_resnet101_2', WideResNet101_2, **_IMAGENET)
register('seresnet50', SEResNet50, **_IMAGENET)
register('seresnext50_32x4d', SEResNeXt50_32x4d, **_IMAGENET)
register('senet154', SENet154, **_IMAGENET)
register('preact_resnet18', PreActResNet18, **_IMAGENET)
register('preact_resnet34', PreActResNet34, **_IMAGENET)
register('preact_resnet50', PreActResNet50, **_IMAGENET)
register('preact_resnet101', PreActResNet101, **_IMAGENET)
register('preact_resnet152', PreActResNet152, **_IMAGENET)
register('resnet50v2', ResNet50V2Keras, **_IMAGENET)
register('resnet101v2', ResNet101V2Keras, **_IMAGENET)
register('resnet152v2', ResNet152V2Keras, **_IMAGENET)
register('resnet50_keras', ResNet50Keras, **_IMAGENET)

_CIFAR = dict(input_shape=(32, 32, 3), num_classes=10)
register('resnet20', ResNet20, **_CIFAR)
register('resnet32', ResNet32, **_CIFAR)
register('resnet44', ResNet44, **_CIFAR)
register('resnet56', ResNet56, **_CIFAR)
register('resnet110', ResNet110, **_CIFAR)
register('plain20', Plain20, **_CIFAR)
register('plain32', Plain32, **_CIFAR)
register('plain44', Plain44, **_CIFAR)
register('plain56', Plain56, **_CIFAR)
register('resnet_uvadl', ResNetUvaDL, **_CIFAR)
register('preact_resnet_uvadl', PreActResNetUvaDL, **_CIFAR)
register('preact_resnet164', PreActResNet164, **_CIFAR)
register('preact_resnet1001', PreActResNet1001, **_CIFAR)
register('resnext29_8x64d', ResNeXt29_8x64d, **_CIFAR)
register('resnext29_16x64d', ResNeXt29_16x64d, **_CIFAR)
register('wrn16_8', WRN16_8, **_CIFAR)
register('wrn28_10', WRN28_10, **_CIFAR)
register('wrn40_4', WRN40_4, **_CIFAR)
register('resnet30_keras', ResNet30Keras, **_CIFAR)
register('plain30_keras', Plain30Keras, **_CIFAR)
