"""ConvNeXt T/S/B/L (Liu et al. 2022, "A ConvNet for the 2020s").

A ResNet modernized step by step towards a vision Transformer: a 4x4/4
"patchify" stem, four stages at 1/4 .. 1/32 of the input separated by
LayerNorm + 2x2/2 convolutions, and in every block

  depthwise 7x7 conv (bias) -> LayerNorm -> Linear C -> 4C -> GELU
  -> Linear 4C -> C -> LayerScale -> StochasticDepth -> + input

(the Linear layers are 1x1 convolutions on the channels-last map), then
global average pooling, LayerNorm and a linear classifier. No BatchNorm:
every norm is a channels-last LayerNorm with epsilon 1e-6.

  variant  widths               blocks        stochastic depth
  tiny     96, 192, 384, 768    3, 3, 9, 3    0.1
  small    96, 192, 384, 768    3, 3, 27, 3   0.4
  base     128, 256, 512, 1024  3, 3, 27, 3   0.5
  large    192, 384, 768, 1536  3, 3, 27, 3   0.5

The stochastic depth rate grows linearly from 0 in the first block to the
table's in the last (``rate * i / (blocks - 1)``); LayerScale starts at 1e-6.
Matches torchvision's ``convnext_tiny`` .. ``convnext_large`` and Keras'
``ConvNeXtTiny`` .. ``ConvNeXtLarge`` parameter for parameter (the two
libraries build the same network; Keras' applications put their input
normalization inside the model, ours is the input pipeline's).

Submodules are named after torchvision's ``features.<i>.<j>`` and
``classifier.<i>`` (``features_<i>_<j>``, ``classifier_<i>``).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers
from cnn_jax.models.registry import register

# torchvision initializes every conv and linear kernel with
# ``trunc_normal_(std=0.02)``, whose cut at +-2 (absolute) is 100 standard
# deviations away: a plain normal. Biases start at zero.
kernel_init = nn.initializers.normal(0.02)


class ConvNeXtBlock(nn.Module):
  """One ConvNeXt block (torchvision's ``CNBlock``, Keras' ``ConvNeXtBlock``).

  Attributes:
    drop_path_rate: stochastic depth rate of the residual branch.
    layer_scale: LayerScale's initial value.
  """

  drop_path_rate: float = 0.0
  layer_scale: float = 1e-6
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    channels = x.shape[-1]
    dense = functools.partial(
      layers.dense, dtype=self.dtype, kernel_init=kernel_init
    )
    y = layers.conv(
      channels,
      7,
      groups=channels,
      use_bias=True,
      kernel_init=kernel_init,
      dtype=self.dtype,
      name='dwconv',
    )(x)
    y = layers.layer_norm(dtype=self.dtype, name='norm')(y)
    y = dense(4 * channels, name='pwconv1')(y)
    y = layers.gelu(y)
    y = dense(channels, name='pwconv2')(y)
    y = layers.LayerScale(self.layer_scale, self.dtype, name='layer_scale')(y)
    y = layers.StochasticDepth(self.drop_path_rate, name='drop_path')(y, train)
    return x + y


class ConvNeXt(nn.Module):
  """ConvNeXt from its stage widths and depths (see the module docstring).

  Attributes:
    depths: blocks per stage.
    dims: channels per stage.
    stochastic_depth_rate: the last block's rate (linear in the index).
    layer_scale: LayerScale's initial value.
  """

  depths: Sequence[int] = (3, 3, 9, 3)
  dims: Sequence[int] = (96, 192, 384, 768)
  num_classes: int = 1000
  stochastic_depth_rate: float = 0.1
  layer_scale: float = 1e-6
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    conv = functools.partial(
      layers.conv,
      padding='VALID',
      use_bias=True,
      kernel_init=kernel_init,
      dtype=self.dtype,
    )
    norm = functools.partial(layers.layer_norm, dtype=self.dtype)
    x = x.astype(self.dtype)
    x = conv(self.dims[0], 4, 4, name='features_0_0')(x)
    x = norm(name='features_0_1')(x)
    total = sum(self.depths)
    index = 0
    for s, (depth, features) in enumerate(zip(self.depths, self.dims)):
      if s > 0:  # downsampling between stages
        x = norm(name=f'features_{2 * s}_0')(x)
        x = conv(features, 2, 2, name=f'features_{2 * s}_1')(x)
      for i in range(depth):
        x = ConvNeXtBlock(
          self.stochastic_depth_rate * index / max(1, total - 1),
          self.layer_scale,
          self.dtype,
          name=f'features_{2 * s + 1}_{i}',
        )(x, train)
        index += 1
    x = layers.global_avg_pool(x)
    x = norm(name='classifier_0')(x)
    return layers.dense(
      self.num_classes, self.dtype, kernel_init=kernel_init, name='classifier_2'
    )(x)


# variant: (depths, dims, stochastic depth rate), torchvision's builders.
VARIANTS = {
  'tiny': ((3, 3, 9, 3), (96, 192, 384, 768), 0.1),
  'small': ((3, 3, 27, 3), (96, 192, 384, 768), 0.4),
  'base': ((3, 3, 27, 3), (128, 256, 512, 1024), 0.5),
  'large': ((3, 3, 27, 3), (192, 384, 768, 1536), 0.5),
}


def variant(name: str) -> dict[str, Any]:
  """``ConvNeXt`` attributes of ``name`` ('tiny' .. 'large')."""
  depths, dims, rate = VARIANTS[name]
  return dict(depths=depths, dims=dims, stochastic_depth_rate=rate)


ConvNeXtTiny = functools.partial(ConvNeXt, **variant('tiny'))
ConvNeXtSmall = functools.partial(ConvNeXt, **variant('small'))
ConvNeXtBase = functools.partial(ConvNeXt, **variant('base'))
ConvNeXtLarge = functools.partial(ConvNeXt, **variant('large'))

register('convnext_tiny', ConvNeXtTiny)
register('convnext_small', ConvNeXtSmall)
register('convnext_base', ConvNeXtBase)
register('convnext_large', ConvNeXtLarge)
