"""DenseNet (Huang et al. 2017, "Densely Connected Convolutional Networks").

Every layer of a dense block sees the concatenation of all earlier feature maps
of the block and adds ``growth_rate`` new channels. The layers are the "BC"
form: BN-ReLU-conv1x1(``bn_size * growth_rate``)-BN-ReLU-conv3x3(growth),
and the transitions between blocks BN-ReLU-conv1x1 (compression 0.5) followed
by 2x2 average pooling. The network ends with BN, ReLU, global average pooling
and a linear classifier.

One module, :class:`DenseNet`, configured by partials:

* ImageNet models (7x7/2 conv, BN, ReLU, 3x3/2 max pool stem), as torchvision:
  ``DenseNet121`` / ``161`` / ``169`` / ``201`` (torchvision's counts),
  ``DenseNet264`` (the paper's deepest ImageNet model; no torchvision model),
  ``DenseNet121Keras``: ``keras.applications.DenseNet121``, which has the same
  layers and order as torchvision's (its ZeroPadding + 'valid' conv and pool are
  torchvision's symmetric padding; zero padding before the max pool equals
  -inf padding since it follows a ReLU); only the BN settings differ
  (epsilon 1.001e-5, Keras momentum 0.99) and Keras counts the BN statistics.
* CIFAR models (3x3 conv stem with ``2 * growth_rate`` filters, 3 blocks of
  ``(depth - 4) / 6`` layers, Huang et al. section 4): ``DenseNetBC100_12``,
  ``DenseNetBC250_24``, ``DenseNetBC190_40`` (0.8M, 15.3M, 25.6M in the
  paper's Table 2). Convolutions without bias, as the common PyTorch ports
  (the paper's Lua code has conv biases; the counts differ by < 0.3%).
* ``DenseNetUvaDL``: the DenseNet of the UvA DL course tutorial 5 "Inception,
  ResNet and DenseNet" (239,146 parameters for CIFAR-10): a 3x3 conv stem with
  bias and 32 filters and no BN, four blocks of 6 layers (growth 16,
  bottleneck 2 * 16), transitions halving the channels, and dense layers that
  concatenate ``[new, old]`` (new features first) instead of ``[old, new]``.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers
from cnn_jax.models.registry import register


class DenseLayer(nn.Module):
  """BN-ReLU-conv1x1 (bottleneck) - BN-ReLU-conv3x3 (growth), then concat.

  Names follow torchvision's ``_DenseLayer`` (norm1, conv1, norm2, conv2).
  """

  growth_rate: int
  bn_size: int
  new_first: bool = False  # concat([new, x]) instead of concat([x, new]).
  bn_epsilon: float = 1e-5
  bn_momentum: float = 0.9
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    bn = functools.partial(
      layers.batch_norm,
      train,
      dtype=self.dtype,
      epsilon=self.bn_epsilon,
      momentum=self.bn_momentum,
    )
    y = nn.relu(bn(name='norm1')(x))
    y = layers.conv(
      self.bn_size * self.growth_rate, 1, dtype=self.dtype, name='conv1'
    )(y)
    y = nn.relu(bn(name='norm2')(y))
    y = layers.conv(self.growth_rate, 3, dtype=self.dtype, name='conv2')(y)
    return jnp.concatenate([y, x] if self.new_first else [x, y], axis=-1)


class Transition(nn.Module):
  """BN-ReLU-conv1x1 to ``features`` channels, then 2x2/2 average pooling."""

  features: int
  bn_epsilon: float = 1e-5
  bn_momentum: float = 0.9
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = layers.batch_norm(
      train,
      dtype=self.dtype,
      epsilon=self.bn_epsilon,
      momentum=self.bn_momentum,
      name='norm',
    )(x)
    x = layers.conv(self.features, 1, dtype=self.dtype, name='conv')(nn.relu(x))
    return layers.avg_pool(x, 2, 2)


class DenseNet(nn.Module):
  """DenseNet-BC.

  Attributes:
    num_classes: classifier outputs.
    growth_rate: channels each dense layer adds (k).
    block_config: layers per dense block.
    num_init_features: stem output channels.
    bn_size: bottleneck width as a multiple of ``growth_rate``.
    compression: transition output = floor(compression * input channels).
    stem: ``'imagenet'`` (7x7/2 conv, BN, ReLU, 3x3/2 max pool) or
      ``'small'`` (a single 3x3 conv, no BN, for 32x32 inputs).
    stem_bias: bias on the stem conv.
    new_first: concatenate new features before the old ones (the UvA DL tutorial's model).
    bn_epsilon, bn_momentum: BatchNorm settings (Flax momentum convention).
    dtype: compute dtype.
  """

  num_classes: int = 1000
  growth_rate: int = 32
  block_config: Sequence[int] = (6, 12, 24, 16)
  num_init_features: int = 64
  bn_size: int = 4
  compression: float = 0.5
  stem: str = 'imagenet'
  stem_bias: bool = False
  new_first: bool = False
  bn_epsilon: float = 1e-5
  bn_momentum: float = 0.9
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    bn_kw = dict(
      bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum, dtype=self.dtype
    )
    x = x.astype(self.dtype)
    if self.stem == 'imagenet':
      x = layers.ConvBNAct(self.num_init_features, 7, 2, name='conv0', **bn_kw)(
        x, train
      )
      x = layers.max_pool(x, 3, 2, padding=1)
    elif self.stem == 'small':
      x = layers.conv(
        self.num_init_features,
        3,
        use_bias=self.stem_bias,
        dtype=self.dtype,
        name='conv0',
      )(x)
    else:
      raise ValueError(f'Unknown stem {self.stem!r}.')

    for i, num_layers in enumerate(self.block_config):
      for j in range(num_layers):
        x = DenseLayer(
          self.growth_rate,
          self.bn_size,
          self.new_first,
          name=f'denseblock{i + 1}_denselayer{j + 1}',
          **bn_kw,
        )(x, train)
      if i < len(self.block_config) - 1:
        x = Transition(
          int(x.shape[-1] * self.compression),
          name=f'transition{i + 1}',
          **bn_kw,
        )(x, train)

    x = layers.batch_norm(
      train,
      dtype=self.dtype,
      epsilon=self.bn_epsilon,
      momentum=self.bn_momentum,
      name=f'norm{len(self.block_config) + 1}',
    )(x)
    x = layers.global_avg_pool(nn.relu(x))
    return layers.dense(self.num_classes, self.dtype, name='classifier')(x)


# ImageNet models (torchvision names; 224x224, 1000 classes).
DenseNet121 = functools.partial(
  DenseNet, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64
)
DenseNet161 = functools.partial(
  DenseNet, growth_rate=48, block_config=(6, 12, 36, 24), num_init_features=96
)
DenseNet169 = functools.partial(
  DenseNet, growth_rate=32, block_config=(6, 12, 32, 32), num_init_features=64
)
DenseNet201 = functools.partial(
  DenseNet, growth_rate=32, block_config=(6, 12, 48, 32), num_init_features=64
)
DenseNet264 = functools.partial(
  DenseNet, growth_rate=32, block_config=(6, 12, 64, 48), num_init_features=64
)
# keras.applications.DenseNet121: same layers, Keras BN settings.
DenseNet121Keras = functools.partial(
  DenseNet121, bn_epsilon=1.001e-5, bn_momentum=0.99
)


def _densenet_bc(depth: int, growth_rate: int, **kwargs) -> DenseNet:
  """DenseNet-BC for 32x32 images (Huang et al. 2017, section 4)."""
  if (depth - 4) % 6:
    raise ValueError(f'DenseNet-BC depth must be 6n + 4, got {depth}.')
  n = (depth - 4) // 6
  kwargs.setdefault('num_classes', 10)
  return DenseNet(
    growth_rate=growth_rate,
    block_config=(n, n, n),
    num_init_features=2 * growth_rate,
    bn_size=4,
    stem='small',
    **kwargs,
  )


DenseNetBC100_12 = functools.partial(_densenet_bc, 100, 12)
DenseNetBC250_24 = functools.partial(_densenet_bc, 250, 24)
DenseNetBC190_40 = functools.partial(_densenet_bc, 190, 40)

# The UvA DL course's tutorial 5 DenseNet: 239,146 params on CIFAR-10.
DenseNetUvaDL = functools.partial(
  DenseNet,
  num_classes=10,
  growth_rate=16,
  block_config=(6, 6, 6, 6),
  num_init_features=32,
  bn_size=2,
  stem='small',
  stem_bias=True,
  new_first=True,
)

_IMAGENET = dict(input_shape=(224, 224, 3), num_classes=1000)
register('densenet121', DenseNet121, **_IMAGENET)
register('densenet161', DenseNet161, **_IMAGENET)
register('densenet169', DenseNet169, **_IMAGENET)
register('densenet201', DenseNet201, **_IMAGENET)
register('densenet264', DenseNet264, **_IMAGENET)
register('densenet121_keras', DenseNet121Keras, **_IMAGENET)
_CIFAR = dict(input_shape=(32, 32, 3), num_classes=10)
register('densenet_bc_100_12', DenseNetBC100_12, **_CIFAR)
register('densenet_bc_250_24', DenseNetBC250_24, **_CIFAR)
register('densenet_bc_190_40', DenseNetBC190_40, **_CIFAR)
register('densenet_uvadl', DenseNetUvaDL, **_CIFAR)
