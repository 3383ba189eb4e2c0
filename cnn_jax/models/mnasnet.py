"""MNASNet (Tan et al. 2019, "MnasNet: Platform-Aware Neural Architecture
Search for Mobile", CVPR), the B1 network as torchvision builds it.

``mnasnet0_5`` / ``0_75`` / ``1_0`` / ``1_3`` -- torchvision's MNASNet with
depth multiplier ``alpha``: conv 3x3/2-32 BN-ReLU, a depthwise-separable
unit (3x3 depthwise BN-ReLU, 1x1 conv-BN to 16, linear), six stacks of
inverted residuals (``blocks.inverted_residual``; ReLU, no squeeze-
excitation, residual where the shape is kept; the first of each stack has
none), 1x1 conv-BN-ReLU to 1280, global average pooling, dropout 0.2,
linear. 2,218,512 / 3,170,208 / 4,383,312 / 6,282,256 parameters.

The widths up to the last stack are ``make_divisible(width * alpha, 8)``
(torchvision's ``_round_to_multiple_of`` with its 0.9 bias: the same rule),
the stem included, as torchvision's version 2 (its version-1 checkpoints of
other alphas than 1.0 kept a 32/16 stem); the last conv keeps 1280. Expanded
widths are ``in * t``, unrounded. BatchNorm momentum 0.0003 in PyTorch's convention (TensorFlow's
0.9997, which the paper uses: Flax's ``momentum=0.9997``), epsilon 1e-5.
Layers are named after torchvision's ``layers.<i>`` indices (``layers_8_0``
is ``layers.8.0``) and the classifier ``classifier_1``.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers
from cnn_jax.models.blocks.inverted_residual import InvertedResidual
from cnn_jax.models.registry import register

# Widths before the multiplier: stem conv, separable unit, the six stacks.
DEPTHS = (32, 16, 24, 40, 80, 96, 192, 320)
# (expansion t, kernel, repeats, first stride) of the six stacks.
STACKS = (
  (3, 3, 3, 2),
  (3, 5, 3, 2),
  (6, 5, 3, 2),
  (6, 3, 2, 1),
  (6, 5, 4, 2),
  (6, 3, 1, 1),
)
BN_MOMENTUM = 0.9997  # Flax's; torchvision's _BN_MOMENTUM = 1 - 0.9997.


class MNASNet(nn.Module):
  """MNASNet-B1 as torchvision's (see the module docstring)."""

  alpha: float = 1.0
  num_classes: int = 1000
  stacks: Sequence[tuple[int, int, int, int]] = STACKS
  last_features: int = 1280
  dropout: float = 0.2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    depths = [layers.make_divisible(d * self.alpha, 8) for d in DEPTHS]
    conv = functools.partial(
      layers.ConvBNAct, bn_momentum=BN_MOMENTUM, dtype=self.dtype
    )
    x = x.astype(self.dtype)
    x = conv(depths[0], 3, 2, name='layers_0')(x, train)
    x = conv(depths[0], 3, groups=depths[0], name='layers_3')(x, train)
    x = conv(depths[1], 1, act=None, name='layers_6')(x, train)
    for s, ((t, kernel, repeats, stride), features) in enumerate(
      zip(self.stacks, depths[2:])
    ):
      if stride == 1 and x.shape[-1] == features:
        # The shared block would add a residual that torchvision's first
        # unit of a stack never has.
        raise ValueError(
          f'alpha={self.alpha} rounds the input and output of stack {s + 1} '
          f'to the same width ({features}): torchvision has no residual there.'
        )
      for i in range(repeats):
        x = InvertedResidual(
          features,
          x.shape[-1] * t,
          kernel,
          stride if i == 0 else 1,
          act='relu',
          bn_momentum=BN_MOMENTUM,
          dtype=self.dtype,
          name=f'layers_{8 + s}_{i}',
        )(x, train)
    x = conv(self.last_features, 1, name='layers_14')(x, train)
    x = layers.global_avg_pool(x)
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return layers.dense(self.num_classes, self.dtype, name='classifier_1')(x)


for _alpha, _name in ((0.5, '0_5'), (0.75, '0_75'), (1.0, '1_0'), (1.3, '1_3')):
  register(f'mnasnet{_name}', functools.partial(MNASNet, alpha=_alpha))
