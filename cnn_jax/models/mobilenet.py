"""MobileNet v1, v2 and v3.

* v1: Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks
  for Mobile Vision Applications". A 3x3 stem and 13 depthwise-separable
  blocks (3x3 depthwise ConvBN-ReLU6, 1x1 pointwise ConvBN-ReLU6), global
  average pooling, a linear classifier. The width multiplier ``alpha`` scales
  every layer; the resolution multiplier is just the input size (the network
  is fully convolutional up to the global pool, so 224/192/160/128 inputs all
  work with the same parameters: set ``image_size`` in the config or
  ``--input_shape`` in ``cnn_jax.summary``).

  Two references, registered separately:

  - ``mobilenetv1_100`` (and ``_025/_050/_075/_125``) match timm's
    ``mobilenetv1_100`` (4,231,976 parameters): PyTorch symmetric padding,
    BatchNorm eps 1e-5, channels ``make_divisible(c * alpha, 8)`` (stem
    included), no dropout, ``nn.Linear`` classifier. timm registers only the
    1.0 and 1.25 widths; the others use timm's same rule.
  - ``mobilenet_keras`` matches ``keras.applications.MobileNet`` (4,253,864
    in Keras' count). The layers and trainable parameters are the same as
    timm's; Keras' total is larger only because ``count_params()`` includes
    the BatchNorm moving mean and variance: 4,231,976 + 21,888 statistics
    (2 x 10,944 BN channels) = 4,253,864. The differences are numerical, not
    in the count: TF ``'SAME'``-style padding (stem ``'SAME'``, stride-2
    depthwise convs pad only bottom/right, ``ZeroPadding2D(((0, 1), (0, 1)))``
    + ``'valid'``), BatchNorm eps 1e-3 / momentum 0.99, dropout 1e-3 before
    the classifier, which is a 1x1 ``Conv2D`` with bias (``conv_preds``: the
    same 1024 x 1000 + 1000 weights as a Dense layer), and channels
    ``int(c * alpha)`` without rounding to multiples of 8 (identical for
    alpha in {0.25, 0.5, 0.75, 1.0}). Layer names follow Keras (``conv1``,
    ``conv_dw_k``, ``conv_pw_k``, ``conv_preds``).

* v2: Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear
  Bottlenecks". Matches torchvision's ``mobilenet_v2`` (3,504,872): stem
  3x3/2-32, 17 inverted residual blocks (t, c, n, s table below), 1x1 conv to
  1280 (``1280 * max(1, width_mult)``), dropout 0.2, linear classifier.

* v3: Howard et al. 2019, "Searching for MobileNetV3". Matches torchvision's
  ``mobilenet_v3_large`` (5,483,032) and ``mobilenet_v3_small`` (2,542,856):
  hard-swish / ReLU per block, squeeze-excitation with a hard-sigmoid gate
  and ``make_divisible(expanded // 4, 8)`` squeeze channels, last 1x1 conv to
  6x the last block width, then Linear(960 -> 1280) (small: 576 -> 1024),
  hard-swish, dropout 0.2, Linear. BatchNorm eps 1e-3, torch momentum 0.01
  (Flax 0.99), as in torchvision.

Submodules are named after torchvision's ``features.<i>`` indices
(``features_<i>``) so a weight converter can map them in order.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers
from cnn_jax.models.blocks.inverted_residual import InvertedResidual
from cnn_jax.models.registry import register

# --- MobileNet v1 ------------------------------------------------------------

# (output channels, stride) of the 13 depthwise-separable blocks, grouped in
# timm's stages: [1, 2, 2, 6, 2] blocks.
V1_STAGES = (
  ((64, 1),),
  ((128, 2), (128, 1)),
  ((256, 2), (256, 1)),
  ((512, 2),) + ((512, 1),) * 5,
  ((1024, 2), (1024, 1)),
)


class MobileNetV1(nn.Module):
  """MobileNet v1 (see module docstring for the timm and Keras variants).

  Attributes:
    num_classes: classifier outputs.
    width_mult: the width multiplier alpha.
    depth_multiplier: channel multiplier of the depthwise convs (Keras'
      ``depth_multiplier``; 1 in the paper).
    keras: follow ``keras.applications.MobileNet`` (TF padding, Keras BN
      settings and names, int(c * alpha) widths, 1x1-conv classifier)
      instead of timm.
    dropout_rate: dropout before the classifier (timm 0.0, Keras 1e-3).
  """

  num_classes: int = 1000
  width_mult: float = 1.0
  depth_multiplier: int = 1
  keras: bool = False
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32

  def _width(self, c: int) -> int:
    if self.keras:
      return int(c * self.width_mult)
    return layers.make_divisible(c * self.width_mult, 8)

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.keras:
      bn = dict(bn_momentum=0.99, bn_epsilon=1e-3)
    else:
      bn = dict(bn_momentum=0.9, bn_epsilon=1e-5)
    conv = functools.partial(
      layers.ConvBNAct, act='relu6', dtype=self.dtype, **bn
    )
    x = x.astype(self.dtype)
    x = conv(
      self._width(32),
      3,
      2,
      padding='SAME' if self.keras else 'torch',
      name='conv1' if self.keras else 'conv_stem',
    )(x, train)
    k = 0
    for s, stage in enumerate(V1_STAGES):
      for i, (features, stride) in enumerate(stage):
        k += 1
        if self.keras:
          names = f'conv_dw_{k}', f'conv_pw_{k}'
          # Keras: stride-2 depthwise convs pad only bottom/right.
          padding = 'SAME' if stride == 1 else [(0, 1), (0, 1)]
        else:
          names = f'blocks_{s}_{i}_conv_dw', f'blocks_{s}_{i}_conv_pw'
          padding = 'torch'
        channels = x.shape[-1]
        x = conv(
          channels * self.depth_multiplier,
          3,
          stride,
          groups=channels,
          padding=padding,
          name=names[0],
        )(x, train)
        x = conv(self._width(features), 1, name=names[1])(x, train)
    x = layers.global_avg_pool(x)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    if self.keras:
      x = layers.Conv(
        self.num_classes, (1, 1), dtype=self.dtype, name='conv_preds'
      )(x[:, None, None, :])
      return x.reshape((x.shape[0], -1))
    return layers.dense(self.num_classes, self.dtype, name='classifier')(x)


MobileNetV1Keras = functools.partial(MobileNetV1, keras=True, dropout_rate=1e-3)

register('mobilenetv1_025', functools.partial(MobileNetV1, width_mult=0.25))
register('mobilenetv1_050', functools.partial(MobileNetV1, width_mult=0.5))
register('mobilenetv1_075', functools.partial(MobileNetV1, width_mult=0.75))
register('mobilenetv1_100', functools.partial(MobileNetV1, width_mult=1.0))
register('mobilenetv1_125', functools.partial(MobileNetV1, width_mult=1.25))
register('mobilenet_keras', MobileNetV1Keras)


# --- MobileNet v2 ------------------------------------------------------------

# (expansion t, output channels c, repeats n, first stride s), from the paper.
V2_SETTING = (
  (1, 16, 1, 1),
  (6, 24, 2, 2),
  (6, 32, 3, 2),
  (6, 64, 4, 2),
  (6, 96, 3, 1),
  (6, 160, 3, 2),
  (6, 320, 1, 1),
)


class MobileNetV2(nn.Module):
  """MobileNet v2 as in torchvision (``width_mult``, ``round_nearest``)."""

  num_classes: int = 1000
  width_mult: float = 1.0
  round_nearest: int = 8
  setting: Sequence[tuple[int, int, int, int]] = V2_SETTING
  stem_features: int = 32
  last_features: int = 1280
  dropout_rate: float = 0.2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    div = lambda c: layers.make_divisible(c, self.round_nearest)  # noqa: E731
    x = x.astype(self.dtype)
    x = layers.ConvBNAct(
      div(self.stem_features * self.width_mult),
      3,
      2,
      act='relu6',
      dtype=self.dtype,
      name='features_0',
    )(x, train)
    index = 1
    for t, c, n, s in self.setting:
      features = div(c * self.width_mult)
      for i in range(n):
        x = InvertedResidual(
          features,
          int(round(x.shape[-1] * t)),
          3,
          s if i == 0 else 1,
          act='relu6',
          dtype=self.dtype,
          name=f'features_{index}',
        )(x, train)
        index += 1
    x = layers.ConvBNAct(
      div(self.last_features * max(1.0, self.width_mult)),
      1,
      act='relu6',
      dtype=self.dtype,
      name=f'features_{index}',
    )(x, train)
    x = layers.global_avg_pool(x)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return layers.dense(self.num_classes, self.dtype, name='classifier')(x)


register('mobilenet_v2', MobileNetV2)


# --- MobileNet v3 ------------------------------------------------------------

# (kernel, expanded, out, use_se, activation, stride) per block, from the
# paper's Tables 1 and 2; input widths follow from the previous block (16 from
# the stem). 'RE' = ReLU, 'HS' = hard-swish.
V3_LARGE = (
  (3, 16, 16, False, 'RE', 1),
  (3, 64, 24, False, 'RE', 2),
  (3, 72, 24, False, 'RE', 1),
  (5, 72, 40, True, 'RE', 2),
  (5, 120, 40, True, 'RE', 1),
  (5, 120, 40, True, 'RE', 1),
  (3, 240, 80, False, 'HS', 2),
  (3, 200, 80, False, 'HS', 1),
  (3, 184, 80, False, 'HS', 1),
  (3, 184, 80, False, 'HS', 1),
  (3, 480, 112, True, 'HS', 1),
  (3, 672, 112, True, 'HS', 1),
  (5, 672, 160, True, 'HS', 2),
  (5, 960, 160, True, 'HS', 1),
  (5, 960, 160, True, 'HS', 1),
)
V3_SMALL = (
  (3, 16, 16, True, 'RE', 2),
  (3, 72, 24, False, 'RE', 2),
  (3, 88, 24, False, 'RE', 1),
  (5, 96, 40, True, 'HS', 2),
  (5, 240, 40, True, 'HS', 1),
  (5, 240, 40, True, 'HS', 1),
  (5, 120, 48, True, 'HS', 1),
  (5, 144, 48, True, 'HS', 1),
  (5, 288, 96, True, 'HS', 2),
  (5, 576, 96, True, 'HS', 1),
  (5, 576, 96, True, 'HS', 1),
)
_V3_ACT = {'RE': 'relu', 'HS': 'hard_swish'}


class MobileNetV3(nn.Module):
  """MobileNet v3 as in torchvision.

  Attributes:
    setting: ``V3_LARGE`` or ``V3_SMALL``.
    last_features: width of the hidden classifier layer (1280 large, 1024
      small), scaled by ``width_mult`` like every other width.
    width_mult: width multiplier (``make_divisible(c * width_mult, 8)``).
    reduced_tail: halve the widths of the last stage (torchvision's
      ``reduced_tail``, for detection backbones).
    dilated: dilate the last stage instead of striding it (torchvision's
      ``dilated``: output stride 16).
  """

  setting: Sequence[tuple[int, int, int, bool, str, int]]
  last_features: int
  num_classes: int = 1000
  width_mult: float = 1.0
  reduced_tail: bool = False
  dilated: bool = False
  stem_features: int = 16
  dropout_rate: float = 0.2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    def width(c):
      return layers.make_divisible(c * self.width_mult, 8)

    conv = functools.partial(
      layers.ConvBNAct, bn_momentum=0.99, bn_epsilon=1e-3, dtype=self.dtype
    )
    # The last stage (from the last stride-2 block on) is C4 in torchvision.
    tail = max(i for i, b in enumerate(self.setting) if b[5] == 2)
    divider = 2 if self.reduced_tail else 1
    x = x.astype(self.dtype)
    x = conv(
      width(self.stem_features), 3, 2, act='hard_swish', name='features_0'
    )(x, train)
    for i, (k, expanded, out, use_se, act, stride) in enumerate(self.setting):
      dilation = 1
      if i >= tail:
        out //= divider
        if i > tail:
          expanded //= divider
        if self.dilated:
          stride, dilation = 1, 2
      expanded = width(expanded)
      x = InvertedResidual(
        width(out),
        expanded,
        k,
        stride,
        dilation=dilation,
        act=_V3_ACT[act],
        se_features=layers.make_divisible(expanded // 4, 8) if use_se else 0,
        se_act='relu',
        se_gate='hard_sigmoid',
        bn_momentum=0.99,
        bn_epsilon=1e-3,
        dtype=self.dtype,
        name=f'features_{i + 1}',
      )(x, train)
    x = conv(
      6 * x.shape[-1],
      1,
      act='hard_swish',
      name=f'features_{len(self.setting) + 1}',
    )(x, train)
    x = layers.global_avg_pool(x)
    x = layers.dense(
      width(self.last_features // divider), self.dtype, name='classifier_0'
    )(x)
    x = layers.hard_swish(x)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return layers.dense(self.num_classes, self.dtype, name='classifier_3')(x)


MobileNetV3Large = functools.partial(
  MobileNetV3, setting=V3_LARGE, last_features=1280
)
MobileNetV3Small = functools.partial(
  MobileNetV3, setting=V3_SMALL, last_features=1024
)

register('mobilenet_v3_large', MobileNetV3Large)
register('mobilenet_v3_small', MobileNetV3Small)
