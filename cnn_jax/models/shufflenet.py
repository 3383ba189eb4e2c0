"""ShuffleNet V2 (Ma et al. 2018, "ShuffleNet V2: Practical Guidelines for
Efficient CNN Architecture Design", ECCV).

``shufflenet_v2_x0_5`` / ``x1_0`` / ``x1_5`` / ``x2_0`` -- torchvision's
ShuffleNetV2: conv 3x3/2-24 + BN-ReLU, max-pool 3/2, three stages of 4, 8
and 4 units, 1x1 conv-BN-ReLU to 1024 channels (2048 for x2.0), global
average pooling, linear classifier. 1,366,792 / 2,278,604 / 3,503,624 /
7,393,996 parameters.

A unit (torchvision's ``InvertedResidual``) with stride 1 splits the channels
in halves, keeps the first and runs the second through 1x1 conv-BN-ReLU, 3x3
depthwise conv-BN, 1x1 conv-BN-ReLU; with stride 2 both paths see the whole
input (the first through 3x3/2 depthwise conv-BN and 1x1 conv-BN-ReLU) and
the width doubles. Either way the two halves are concatenated and channel-
shuffled with 2 groups (``layers.channel_shuffle``). BatchNorm as PyTorch's
(epsilon 1e-5, momentum 0.1). Names follow torchvision's modules (``conv1``,
``stage2_0``, ``conv5``, ``fc``), and so does the call order.

``shufflenet_v2_x1_0_cifar`` -- the same network for 32x32 inputs (10
classes): the stem conv has stride 1 and the max-pool is left out, the usual
small-image adaptation (as the CIFAR ResNets keep full resolution in their
first stage), so the three stages run at 16, 8 and 4 pixels. Only strides
change: its parameters are torchvision's ``shufflenet_v2_x1_0(num_classes=10)``
(1,263,854).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers
from cnn_jax.models.registry import register

# Units per stage (stages 2-4) and output widths (stem, stages 2-4, conv5)
# of torchvision's four widths.
STAGE_REPEATS = (4, 8, 4)
WIDTHS = {
  'x0_5': (24, 48, 96, 192, 1024),
  'x1_0': (24, 116, 232, 464, 1024),
  'x1_5': (24, 176, 352, 704, 1024),
  'x2_0': (24, 244, 488, 976, 2048),
}


class ShuffleUnit(nn.Module):
  """ShuffleNet V2 unit: channel split (stride 1) or two strided paths
  (stride 2), concatenation, channel shuffle (see the module docstring)."""

  features: int
  strides: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    branch = self.features // 2
    conv = functools.partial(layers.ConvBNAct, dtype=self.dtype)

    def depthwise(channels, name):
      return conv(
        channels, 3, self.strides, groups=channels, act=None, name=name
      )

    if self.strides == 1:
      if x.shape[-1] != self.features:
        raise ValueError(
          f'A stride-1 unit keeps the width: input {x.shape[-1]}, output '
          f'{self.features}.'
        )
      kept, x = jnp.split(x, 2, axis=-1)
    else:
      kept = depthwise(x.shape[-1], 'branch1_dw')(x, train)
      kept = conv(branch, 1, name='branch1_pw')(kept, train)
    y = conv(branch, 1, name='branch2_pw1')(x, train)
    y = depthwise(branch, 'branch2_dw')(y, train)
    y = conv(branch, 1, name='branch2_pw2')(y, train)
    return layers.channel_shuffle(jnp.concatenate([kept, y], axis=-1), 2)


class ShuffleNetV2(nn.Module):
  """ShuffleNet V2 as torchvision's (see the module docstring).

  Attributes:
    widths: output channels of the stem, the three stages and conv5.
    stage_repeats: units per stage.
    stem: 'imagenet' (3x3/2 conv and 3x3/2 max-pool) or 'cifar' (3x3/1 conv,
      no pool).
  """

  widths: Sequence[int] = WIDTHS['x1_0']
  num_classes: int = 1000
  stage_repeats: Sequence[int] = STAGE_REPEATS
  stem: str = 'imagenet'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.stem not in ('imagenet', 'cifar'):
      raise ValueError(f'Unknown stem {self.stem!r}: imagenet or cifar.')
    imagenet = self.stem == 'imagenet'
    conv = functools.partial(layers.ConvBNAct, dtype=self.dtype)
    x = x.astype(self.dtype)
    x = conv(self.widths[0], 3, 2 if imagenet else 1, name='conv1')(x, train)
    if imagenet:
      x = layers.max_pool(x, 3, 2, padding=1)
    for s, (repeats, features) in enumerate(
      zip(self.stage_repeats, self.widths[1:-1])
    ):
      for i in range(repeats):
        x = ShuffleUnit(
          features,
          2 if i == 0 else 1,
          dtype=self.dtype,
          name=f'stage{s + 2}_{i}',
        )(x, train)
    x = conv(self.widths[-1], 1, name='conv5')(x, train)
    x = layers.global_avg_pool(x)
    return layers.dense(self.num_classes, self.dtype, name='fc')(x)


for _width, _widths in WIDTHS.items():
  register(
    f'shufflenet_v2_{_width}', functools.partial(ShuffleNetV2, widths=_widths)
  )
register(
  'shufflenet_v2_x1_0_cifar',
  functools.partial(ShuffleNetV2, widths=WIDTHS['x1_0'], stem='cifar'),
  input_shape=(32, 32, 3),
  num_classes=10,
)
