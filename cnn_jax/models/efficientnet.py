"""EfficientNet B0-B7 (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling
for Convolutional Neural Networks") and EfficientNetV2 S/M/L (Tan & Le 2021,
"EfficientNetV2: Smaller Models and Faster Training"; below).

One base network (B0, found by architecture search) and one compound scaling
rule: variant ``bK`` multiplies every width by ``width_mult`` (rounded with
``make_divisible(c * width_mult, 8)``), every stage's repeat count by
``depth_mult`` (``ceil(n * depth_mult)``) and trains at a larger resolution,
with more dropout before the classifier:

  variant  width  depth  resolution  dropout
  b0       1.0    1.0    224         0.2
  b1       1.0    1.1    240         0.2
  b2       1.1    1.2    260         0.3
  b3       1.2    1.4    300         0.3
  b4       1.4    1.8    380         0.4
  b5       1.6    2.2    456         0.4
  b6       1.8    2.6    528         0.5
  b7       2.0    3.1    600         0.5

Matches torchvision's ``efficientnet_b0`` .. ``efficientnet_b7`` parameter for
parameter: stem 3x3/2 ConvBN-SiLU, 16 MBConv blocks for B0 (the shared
``InvertedResidual`` with SiLU, squeeze-excitation of ``max(1, in // 4)``
channels computed from the block's INPUT width, sigmoid gate), a 1x1 ConvBN-
SiLU head to 4x the last width (1280 for B0), global average pooling, dropout
and a linear classifier. Stochastic depth on every residual branch with rate
``0.2 * block_index / total_blocks`` (torchvision's linear rule; the first
block gets 0).

BatchNorm, as in torchvision: B0-B4 use PyTorch's defaults (eps 1e-5,
momentum 0.1 = Flax 0.9); B5-B7, whose weights torchvision ported from the
TensorFlow release, use eps 1e-3 and momentum 0.01 (Flax 0.99), the paper's
TensorFlow setting. Both are attributes (``bn_epsilon``, ``bn_momentum``).

EfficientNetV2 (``EfficientNetV2``): the early stages use Fused-MBConv
(expand 1x1 + depthwise kxk replaced by one full kxk convolution, no SE;
``InvertedResidual(fused=True)``), the later ones MBConv with SE; smaller
expansion ratios (1 and 4 early), only 3x3 kernels, a 1x1 head conv to 1280
channels whatever the last width, dropout 0.2/0.3/0.4 (S/M/L), stochastic
depth 0.2 (``0.2 * block_index / total_blocks``), SiLU, BatchNorm eps 1e-3
(momentum 0.1 in PyTorch's terms, Keras' 0.9: Flax 0.9). Widths and repeats
are listed per variant (the paper's Table 4 for S; M and L from the authors'
code) instead of scaled by a rule. Matches torchvision's
``efficientnet_v2_s/m/l`` parameter for parameter; ``efficientnet_v2_*_keras``
are Keras' ``EfficientNetV2S/M/L``: the same parameters, and TF ``'SAME'``
padding, which at stride 2 on an even input pads only the bottom/right
(``padding='SAME'``). Evaluated at 384 (S) and 480 (M, L); torchvision's
recipe trains S at 300 and M at 384 (its L weights are the paper's, ported).

Submodules are named after torchvision's ``features.<stage>.<block>``
(``features_<stage>_<block>``).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers
from cnn_jax.models.blocks.inverted_residual import InvertedResidual
from cnn_jax.models.registry import register

# B0 stages: (expansion, kernel, stride, input channels, output channels,
# repeats), the paper's Table 1.
B0_STAGES = (
  (1, 3, 1, 32, 16, 1),
  (6, 3, 2, 16, 24, 2),
  (6, 5, 2, 24, 40, 2),
  (6, 3, 2, 40, 80, 3),
  (6, 5, 1, 80, 112, 3),
  (6, 5, 2, 112, 192, 4),
  (6, 3, 1, 192, 320, 1),
)

# variant: (width_mult, depth_mult, resolution, dropout).
SCALING = {
  'b0': (1.0, 1.0, 224, 0.2),
  'b1': (1.0, 1.1, 240, 0.2),
  'b2': (1.1, 1.2, 260, 0.3),
  'b3': (1.2, 1.4, 300, 0.3),
  'b4': (1.4, 1.8, 380, 0.4),
  'b5': (1.6, 2.2, 456, 0.4),
  'b6': (1.8, 2.6, 528, 0.5),
  'b7': (2.0, 3.1, 600, 0.5),
}


class EfficientNet(nn.Module):
  """EfficientNet from B0 stages and compound-scaling multipliers.

  Attributes:
    width_mult: channel multiplier.
    depth_mult: repeat multiplier.
    dropout_rate: dropout before the classifier.
    stochastic_depth_rate: the rate of the last block (linear in the index).
    stages: the base (B0) stage table.
    bn_momentum, bn_epsilon: Flax BatchNorm settings (see module docstring).
  """

  num_classes: int = 1000
  width_mult: float = 1.0
  depth_mult: float = 1.0
  dropout_rate: float = 0.2
  stochastic_depth_rate: float = 0.2
  stages: Sequence[tuple[int, int, int, int, int, int]] = B0_STAGES
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  dtype: Any = jnp.float32

  def _width(self, c: int) -> int:
    return layers.make_divisible(c * self.width_mult, 8)

  def _depth(self, n: int) -> int:
    return int(math.ceil(n * self.depth_mult))

  @nn.compact
  def __call__(self, x, train: bool = False):
    conv = functools.partial(
      layers.ConvBNAct,
      act='silu',
      bn_momentum=self.bn_momentum,
      bn_epsilon=self.bn_epsilon,
      dtype=self.dtype,
    )
    x = x.astype(self.dtype)
    x = conv(self._width(self.stages[0][3]), 3, 2, name='features_0')(x, train)
    total = sum(self._depth(stage[-1]) for stage in self.stages)
    index = 0
    for s, (t, k, stride, _, out, n) in enumerate(self.stages):
      features = self._width(out)
      for i in range(self._depth(n)):
        in_features = x.shape[-1]
        x = InvertedResidual(
          features,
          layers.make_divisible(in_features * t, 8),
          k,
          stride if i == 0 else 1,
          act='silu',
          se_features=max(1, in_features // 4),
          se_act='silu',
          se_gate='sigmoid',
          drop_path_rate=self.stochastic_depth_rate * index / total,
          bn_momentum=self.bn_momentum,
          bn_epsilon=self.bn_epsilon,
          dtype=self.dtype,
          name=f'features_{s + 1}_{i}',
        )(x, train)
        index += 1
    x = conv(4 * x.shape[-1], 1, name=f'features_{len(self.stages) + 1}')(
      x, train
    )
    x = layers.global_avg_pool(x)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return layers.dense(self.num_classes, self.dtype, name='classifier')(x)


def scaled(variant: str) -> dict[str, Any]:
  """``EfficientNet`` attributes of ``variant`` ('b0' .. 'b7')."""
  width, depth, _, dropout = SCALING[variant]
  kwargs = dict(width_mult=width, depth_mult=depth, dropout_rate=dropout)
  if variant in ('b5', 'b6', 'b7'):  # torchvision's TF-ported BN settings.
    kwargs.update(bn_momentum=0.99, bn_epsilon=1e-3)
  return kwargs


EfficientNetB0 = functools.partial(EfficientNet, **scaled('b0'))
EfficientNetB1 = functools.partial(EfficientNet, **scaled('b1'))
EfficientNetB2 = functools.partial(EfficientNet, **scaled('b2'))
EfficientNetB3 = functools.partial(EfficientNet, **scaled('b3'))
EfficientNetB4 = functools.partial(EfficientNet, **scaled('b4'))
EfficientNetB5 = functools.partial(EfficientNet, **scaled('b5'))
EfficientNetB6 = functools.partial(EfficientNet, **scaled('b6'))
EfficientNetB7 = functools.partial(EfficientNet, **scaled('b7'))

register(
  'efficientnet_b0', EfficientNetB0, input_shape=(SCALING['b0'][2],) * 2 + (3,)
)
register(
  'efficientnet_b1', EfficientNetB1, input_shape=(SCALING['b1'][2],) * 2 + (3,)
)
register(
  'efficientnet_b2', EfficientNetB2, input_shape=(SCALING['b2'][2],) * 2 + (3,)
)
register(
  'efficientnet_b3', EfficientNetB3, input_shape=(SCALING['b3'][2],) * 2 + (3,)
)
register(
  'efficientnet_b4', EfficientNetB4, input_shape=(SCALING['b4'][2],) * 2 + (3,)
)
register(
  'efficientnet_b5', EfficientNetB5, input_shape=(SCALING['b5'][2],) * 2 + (3,)
)
register(
  'efficientnet_b6', EfficientNetB6, input_shape=(SCALING['b6'][2],) * 2 + (3,)
)
register(
  'efficientnet_b7', EfficientNetB7, input_shape=(SCALING['b7'][2],) * 2 + (3,)
)


# --- EfficientNetV2 ----------------------------------------------------------

# (fused, expansion, kernel, stride, input channels, output channels,
# repeats) per stage, torchvision's ``_efficientnet_conf``.
V2_S_STAGES = (
  (True, 1, 3, 1, 24, 24, 2),
  (True, 4, 3, 2, 24, 48, 4),
  (True, 4, 3, 2, 48, 64, 4),
  (False, 4, 3, 2, 64, 128, 6),
  (False, 6, 3, 1, 128, 160, 9),
  (False, 6, 3, 2, 160, 256, 15),
)
V2_M_STAGES = (
  (True, 1, 3, 1, 24, 24, 3),
  (True, 4, 3, 2, 24, 48, 5),
  (True, 4, 3, 2, 48, 80, 5),
  (False, 4, 3, 2, 80, 160, 7),
  (False, 6, 3, 1, 160, 176, 14),
  (False, 6, 3, 2, 176, 304, 18),
  (False, 6, 3, 1, 304, 512, 5),
)
V2_L_STAGES = (
  (True, 1, 3, 1, 32, 32, 4),
  (True, 4, 3, 2, 32, 64, 7),
  (True, 4, 3, 2, 64, 96, 7),
  (False, 4, 3, 2, 96, 192, 10),
  (False, 6, 3, 1, 192, 224, 19),
  (False, 6, 3, 2, 224, 384, 25),
  (False, 6, 3, 1, 384, 640, 7),
)

# variant: (stages, train size, eval size, dropout); torchvision's sizes
# (L: the paper's training size and its weights' evaluation size).
V2_VARIANTS = {
  's': (V2_S_STAGES, 300, 384, 0.2),
  'm': (V2_M_STAGES, 384, 480, 0.3),
  'l': (V2_L_STAGES, 384, 480, 0.4),
}


class EfficientNetV2(nn.Module):
  """EfficientNetV2 from its stage table (see the module docstring).

  Attributes:
    stages: ``V2_S_STAGES``, ``V2_M_STAGES`` or ``V2_L_STAGES``.
    dropout_rate: dropout before the classifier.
    stochastic_depth_rate: the rate of the last block (linear in the index).
    last_features: channels of the 1x1 head convolution.
    padding: of every kxk convolution: ``'torch'`` (symmetric) or ``'SAME'``
      (Keras).
    bn_momentum, bn_epsilon: Flax BatchNorm settings.
  """

  stages: Sequence[tuple[bool, int, int, int, int, int, int]] = V2_S_STAGES
  num_classes: int = 1000
  dropout_rate: float = 0.2
  stochastic_depth_rate: float = 0.2
  last_features: int = 1280
  padding: layers.Padding = 'torch'
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-3
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    bn = dict(bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon)
    x = x.astype(self.dtype)
    x = layers.ConvBNAct(
      self.stages[0][4],
      3,
      2,
      padding=self.padding,
      act='silu',
      dtype=self.dtype,
      name='features_0',
      **bn,
    )(x, train)
    total = sum(stage[-1] for stage in self.stages)
    index = 0
    for s, (fused, t, k, stride, _, out, n) in enumerate(self.stages):
      for i in range(n):
        in_features = x.shape[-1]
        x = InvertedResidual(
          out,
          layers.make_divisible(in_features * t, 8),
          k,
          stride if i == 0 else 1,
          act='silu',
          se_features=None if fused else max(1, in_features // 4),
          se_act='silu',
          se_gate='sigmoid',
          drop_path_rate=self.stochastic_depth_rate * index / total,
          padding=self.padding,
          fused=fused,
          dtype=self.dtype,
          name=f'features_{s + 1}_{i}',
          **bn,
        )(x, train)
        index += 1
    x = layers.ConvBNAct(
      self.last_features,
      1,
      act='silu',
      dtype=self.dtype,
      name=f'features_{len(self.stages) + 1}',
      **bn,
    )(x, train)
    x = layers.global_avg_pool(x)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return layers.dense(self.num_classes, self.dtype, name='classifier')(x)


def v2_variant(name: str, keras: bool = False) -> dict[str, Any]:
  """``EfficientNetV2`` attributes of variant ``name`` ('s', 'm', 'l');
  ``keras``: Keras' TF padding."""
  stages, _, _, dropout = V2_VARIANTS[name]
  kwargs = dict(stages=stages, dropout_rate=dropout)
  if keras:
    kwargs['padding'] = 'SAME'
  return kwargs


def _v2_shape(name: str) -> tuple[int, int, int]:
  return (V2_VARIANTS[name][2],) * 2 + (3,)


EfficientNetV2S = functools.partial(EfficientNetV2, **v2_variant('s'))
EfficientNetV2M = functools.partial(EfficientNetV2, **v2_variant('m'))
EfficientNetV2L = functools.partial(EfficientNetV2, **v2_variant('l'))
EfficientNetV2SKeras = functools.partial(
  EfficientNetV2, **v2_variant('s', True)
)
EfficientNetV2MKeras = functools.partial(
  EfficientNetV2, **v2_variant('m', True)
)
EfficientNetV2LKeras = functools.partial(
  EfficientNetV2, **v2_variant('l', True)
)

register('efficientnet_v2_s', EfficientNetV2S, input_shape=_v2_shape('s'))
register('efficientnet_v2_m', EfficientNetV2M, input_shape=_v2_shape('m'))
register('efficientnet_v2_l', EfficientNetV2L, input_shape=_v2_shape('l'))
register(
  'efficientnet_v2_s_keras', EfficientNetV2SKeras, input_shape=_v2_shape('s')
)
register(
  'efficientnet_v2_m_keras', EfficientNetV2MKeras, input_shape=_v2_shape('m')
)
register(
  'efficientnet_v2_l_keras', EfficientNetV2LKeras, input_shape=_v2_shape('l')
)
