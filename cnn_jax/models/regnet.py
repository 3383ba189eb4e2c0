"""RegNet (Radosavovic et al. 2020, "Designing Network Design Spaces") as a
design space: one module, :class:`RegNet`, generated from its design
parameters.

A RegNet is a stem (3x3/2 ConvBN-ReLU, 32 channels), stages (four in every
named model) of :class:`~cnn_jax.models.blocks.residual.RegNetBottleneck`
units (each stage halves the resolution in its first unit), global average
pooling and a linear classifier. What varies is the widths and depths of the stages, and they all
follow from the design parameters (the d2l chapter "Designing Convolution
Network Architectures", the paper's Sec. 3.3; torchvision's
``BlockParams.from_init_params``, whose float32 arithmetic
:func:`stage_params` repeats):

* ``depth`` (d) units in all; unit ``j`` gets the linear width
  ``u_j = w_0 + w_a * j``;
* ``w_m`` quantizes it in log space: ``s_j = round(log(u_j / w_0) / log(w_m))``
  and width ``w_0 * w_m ** s_j`` rounded to a multiple of 8. Units of equal
  width form a stage;
* ``group_width`` (g): channels per group of the 3x3 conv;
  ``bottleneck_multiplier`` (b): inner width / unit width. Each stage's
  width is adjusted so that its inner width is a multiple of the group width
  (which shrinks to the inner width if that is smaller);
* ``se_ratio``: 0 for RegNetX; 0.25 for RegNetY (squeeze-excitation of
  ``round(0.25 * unit input width)`` channels in every unit).

The named models are entries of ``VARIANTS`` (torchvision's builders: the
points of the paper's pycls configs, and SWAG's RegNetY-128GF), registered
under torchvision's names and parameter for parameter equal to them: ``regnet_x_400mf`` ..
``regnet_x_32gf``, ``regnet_y_400mf`` .. ``regnet_y_128gf``. Any other point
of the space is the same module with other numbers:
``models.build('regnet_y_400mf', group_width=16)``, or in the configs
(``configs/regnet_*``, where every design parameter is an unset
``model_kwargs`` placeholder) ``--config.model_kwargs.depth=16
--config.model_kwargs.w_a=30.0``.

Small images: ``regnet_x_400mf_cifar`` and ``regnet_y_400mf_cifar`` are the
400MF design points with a stride-1 stem (``small_input_stem``), registered
for 32x32x3 and 10 classes (28x28 Fashion-MNIST runs unpadded too: maps
28/14/7/4/2). The stem's stride has no parameters: each has the count of
torchvision's 400MF model with a 10-class head.

BatchNorm as torchvision's (eps 1e-5, momentum 0.1 = Flax 0.9), ReLU
everywhere. Names: the stem ``stem``, units ``block{s}_{i}`` (torchvision's
``trunk_output.block{s}.block{s}-{i}``), the classifier ``fc``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from cnn_jax.models import layers
from cnn_jax.models.blocks.residual import RegNetBottleneck
from cnn_jax.models.registry import register

_QUANT = 8  # block widths are multiples of 8


def stage_params(
  depth: int,
  w_0: int,
  w_a: float,
  w_m: float,
  group_width: int,
  bottleneck_multiplier: float = 1.0,
) -> list[tuple[int, int, int]]:
  """``(width, units, group width)`` of each stage of a design point.

  torchvision's ``BlockParams.from_init_params`` arithmetic, in float32 as
  there (float64 can round a width across a half). Equal to it on every
  named model and on random points, except where a unit's log-width lies
  exactly halfway between two steps (``w_m = 2.25 = 1.5 ** 2`` and a unit
  of width ``1.5 * w_0``): there the last bit of torchvision's float32 log
  (not correctly rounded: log(1.5) comes out an ulp high) decides the
  half, up or down; here it rounds to even.
  """
  if depth < 1 or w_a < 0 or w_0 <= 0 or w_m <= 1 or w_0 % _QUANT:
    raise ValueError(
      f'Not a RegNet design point: depth={depth} (>= 1), w_0={w_0} (a '
      f'positive multiple of {_QUANT}), w_a={w_a} (>= 0), w_m={w_m} (> 1).'
    )
  if group_width < 1 or bottleneck_multiplier <= 0:
    raise ValueError(
      f'group_width={group_width} must be >= 1 and bottleneck_multiplier='
      f'{bottleneck_multiplier} > 0.'
    )
  f32 = np.float32
  # log and pow correctly rounded to float32 (computed in float64): numpy's
  # vectorized float32 kernels are less exact and flip a rare rounding.
  linear = np.arange(depth, dtype=f32) * f32(w_a) + f32(w_0)
  logs = np.log((linear / f32(w_0)).astype(np.float64)).astype(f32)
  steps = np.round(logs / f32(math.log(w_m)))
  powers = np.power(np.float64(f32(w_m)), steps.astype(np.float64)).astype(f32)
  widths = np.round(f32(w_0) * powers / f32(_QUANT))
  widths = (widths * _QUANT).astype(np.int64).tolist()
  stages: list[list[int]] = []  # [width, units]: runs of equal widths
  for w in widths:
    if stages and stages[-1][0] == w:
      stages[-1][1] += 1
    else:
      stages.append([w, 1])
  out = []
  for w, n in stages:
    inner = int(w * bottleneck_multiplier)
    if inner < 1:
      raise ValueError(
        f'bottleneck_multiplier={bottleneck_multiplier} leaves a stage of '
        f'width {w} no inner channel.'
      )
    g = min(group_width, inner)
    inner = layers.make_divisible(inner, g)
    out.append((int(inner / bottleneck_multiplier), n, g))
  return out


class RegNet(nn.Module):
  """A RegNet from its design parameters (see the module docstring).

  Attributes:
    depth, w_0, w_a, w_m, group_width, bottleneck_multiplier, se_ratio: the
      design point (torchvision's names; the paper's d, w_0, w_a, w_m, g, b).
    num_classes: classifier outputs.
    stem_width: channels of the stem conv.
    small_input_stem: stride 1 in the stem, for 28-32 px images.
    bn_momentum, bn_epsilon: BatchNorm settings (Flax momentum convention).
  """

  depth: int
  w_0: int
  w_a: float
  w_m: float
  group_width: int
  bottleneck_multiplier: float = 1.0
  se_ratio: float = 0.0
  num_classes: int = 1000
  stem_width: int = 32
  small_input_stem: bool = False
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  dtype: Any = jnp.float32

  def __post_init__(self):
    # An impossible design point fails when the model is built, not traced.
    self.stages()
    super().__post_init__()

  def stages(self) -> list[tuple[int, int, int]]:
    return stage_params(
      self.depth,
      self.w_0,
      self.w_a,
      self.w_m,
      self.group_width,
      self.bottleneck_multiplier,
    )

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = jnp.asarray(x, self.dtype)
    bn = dict(
      bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon, dtype=self.dtype
    )
    x = layers.ConvBNAct(
      self.stem_width, 3, 1 if self.small_input_stem else 2, name='stem', **bn
    )(x, train)
    for s, (width, units, group_width) in enumerate(self.stages(), start=1):
      for i in range(units):
        x = RegNetBottleneck(
          width,
          strides=2 if i == 0 else 1,
          bottleneck_multiplier=self.bottleneck_multiplier,
          group_width=group_width,
          se_ratio=self.se_ratio,
          name=f'block{s}_{i}',
          **bn,
        )(x, train)
    x = layers.global_avg_pool(x)
    return layers.dense(
      self.num_classes,
      self.dtype,
      name='fc',
      kernel_init=nn.initializers.normal(0.01),  # torchvision's init
    )(x)


# The named design points, (depth, w_0, w_a, w_m, group_width) as
# torchvision's builders set them; RegNetY adds SE 0.25.
_X = {
  'regnet_x_400mf': (22, 24, 24.48, 2.54, 16),
  'regnet_x_800mf': (16, 56, 35.73, 2.28, 16),
  'regnet_x_1_6gf': (18, 80, 34.01, 2.25, 24),
  'regnet_x_3_2gf': (25, 88, 26.31, 2.25, 48),
  'regnet_x_8gf': (23, 80, 49.56, 2.88, 120),
  'regnet_x_16gf': (22, 216, 55.59, 2.1, 128),
  'regnet_x_32gf': (23, 320, 69.86, 2.0, 168),
}
_Y = {
  'regnet_y_400mf': (16, 48, 27.89, 2.09, 8),
  'regnet_y_800mf': (14, 56, 38.84, 2.4, 16),
  'regnet_y_1_6gf': (27, 48, 20.71, 2.65, 24),
  'regnet_y_3_2gf': (21, 80, 42.63, 2.66, 24),
  'regnet_y_8gf': (17, 192, 76.82, 2.19, 56),
  'regnet_y_16gf': (18, 200, 106.23, 2.48, 112),
  'regnet_y_32gf': (20, 232, 115.89, 2.53, 232),
  'regnet_y_128gf': (27, 456, 160.83, 2.52, 264),
}
_FIELDS = ('depth', 'w_0', 'w_a', 'w_m', 'group_width')
VARIANTS: dict[str, dict[str, Any]] = {
  **{n: dict(zip(_FIELDS, p)) for n, p in _X.items()},
  **{n: dict(zip(_FIELDS, p), se_ratio=0.25) for n, p in _Y.items()},
}

for _name, _point in VARIANTS.items():
  register(_name, functools.partial(RegNet, **_point))

for _name in ('regnet_x_400mf', 'regnet_y_400mf'):
  register(
    f'{_name}_cifar',
    functools.partial(
      RegNet, **VARIANTS[_name], small_input_stem=True, num_classes=10
    ),
    input_shape=(32, 32, 3),
    num_classes=10,
  )
