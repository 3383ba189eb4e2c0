"""The inverted residual (MBConv) block of MobileNet v2/v3 and EfficientNet.

Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear
Bottlenecks"; Howard et al. 2019, "Searching for MobileNetV3" (adds
squeeze-excitation and hard-swish); Tan & Le 2019, "EfficientNet" (MBConv with
SE, SiLU and stochastic depth). Layer order as in torchvision's
``InvertedResidual`` / ``MBConv``:

  [expand 1x1 ConvBNAct] -> depthwise kxk ConvBNAct -> [SqueezeExcite]
  -> project 1x1 ConvBN (linear bottleneck, no activation)
  -> [StochasticDepth] -> + input    (only when stride 1 and in == out)

The expansion is skipped when ``expanded_features`` equals the input width
(expansion ratio 1), as in all three references.

Fused-MBConv (``fused=True``; Tan & Le 2021, "EfficientNetV2: Smaller Models
and Faster Training"; torchvision's ``FusedMBConv``, Keras'
``FusedMBConvBlock``) replaces the expand 1x1 + depthwise kxk pair by one
full kxk convolution, which runs faster on accelerators in early stages:

  expand kxk ConvBNAct (strided) -> [SqueezeExcite] -> project 1x1 ConvBN
  -> [StochasticDepth] -> + input

and without expansion a single strided kxk ConvBNAct (``project``, with the
activation). This module registers no model: it is the shared block of
``mobilenet.py`` and ``efficientnet.py``.
"""

from __future__ import annotations

import functools
from typing import Any, Optional, Union

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers


class InvertedResidual(nn.Module):
  """Expand -> depthwise -> (SE) -> linear projection, residual if shapes match.

  Attributes:
    features: output channels.
    expanded_features: channels of the depthwise stage (the caller rounds them
      as its reference does: torchvision's MobileNet v2 uses
      ``round(in * t)``, MobileNet v3 lists them, EfficientNet uses
      ``make_divisible(in * t, 8)``).
    kernel_size: kernel size of the depthwise (fused: the full) convolution.
    strides: its stride.
    dilation: depthwise dilation (MobileNet v3 ``dilated=True``).
    act: activation of the expand and depthwise stages.
    se_features: squeeze width of the SqueezeExcite on the expanded features;
      0 or None for no SE.
    se_act, se_gate: SE activation and gate (ReLU + hard-sigmoid in MobileNet
      v3, SiLU + sigmoid in EfficientNet).
    drop_path_rate: stochastic depth rate applied to the residual branch (only
      blocks with a residual connection have one, as in torchvision).
    padding: of the kxk convolution: ``'torch'`` (symmetric) or anything
      ``ConvBNAct`` accepts (``'SAME'`` for Keras' EfficientNetV2).
    fused: Fused-MBConv (see the module docstring).
    bn_momentum, bn_epsilon: Flax BatchNorm settings.
  """

  features: int
  expanded_features: int
  kernel_size: int = 3
  strides: int = 1
  dilation: int = 1
  act: Union[str, layers.Activation] = 'relu6'
  se_features: Optional[int] = None
  se_act: Union[str, layers.Activation] = 'relu'
  se_gate: Union[str, layers.Activation] = 'sigmoid'
  drop_path_rate: float = 0.0
  padding: layers.Padding = 'torch'
  fused: bool = False
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    in_features = x.shape[-1]
    conv = lambda *a, **k: layers.ConvBNAct(  # noqa: E731
      *a,
      bn_momentum=self.bn_momentum,
      bn_epsilon=self.bn_epsilon,
      dtype=self.dtype,
      **k,
    )
    y = x
    expand = self.expanded_features != in_features
    spatial = functools.partial(  # the block's kxk (strided) convolution
      conv,
      kernel_size=self.kernel_size,
      strides=self.strides,
      dilation=self.dilation,
      padding=self.padding,
      act=self.act,
    )
    if self.fused:
      if expand:
        y = spatial(self.expanded_features, name='expand')(y, train)
    else:
      if expand:
        y = conv(self.expanded_features, 1, act=self.act, name='expand')(
          y, train
        )
      y = spatial(
        self.expanded_features, groups=self.expanded_features, name='depthwise'
      )(y, train)
    if self.se_features:
      y = layers.SqueezeExcite(
        self.se_features,
        act=self.se_act,
        gate=self.se_gate,
        dtype=self.dtype,
        name='se',
      )(y)
    if self.fused and not expand:  # the kxk convolution projects.
      y = spatial(self.features, name='project')(y, train)
    else:
      y = conv(self.features, 1, act=None, name='project')(y, train)
    if self.strides == 1 and in_features == self.features:
      y = layers.StochasticDepth(self.drop_path_rate, name='drop_path')(
        y, train
      )
      y = x + y
    return y
