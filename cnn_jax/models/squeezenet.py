"""SqueezeNet (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with
50x fewer parameters and <0.5MB model size").

``squeezenet1_0`` / ``squeezenet1_1`` -- torchvision's SqueezeNet: a conv
stem (1.0: 7x7/2-96; 1.1: 3x3/2-64, unpadded), eight fire modules
(``layers.Fire``: squeeze 1x1, expand 1x1 + 3x3) between 3x3/2 ceil-mode
max-pools, then dropout 0.5, a 1x1 conv to the classes, ReLU and global
average pooling. Convs have biases and no BatchNorm. 1,248,424 and 1,235,496
parameters; 1.1 pools earlier and needs 2.4x less computation for the same
accuracy (the authors' SqueezeNet_v1.1). Layers are named after torchvision's
``features.<i>`` / ``classifier.1`` indices.

Initialization as torchvision's: Kaiming-uniform convolutions (fan-in, gain
sqrt(2)), and the classifier conv from N(0, 0.01), with zero biases.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers
from cnn_jax.models.registry import register

# (features.<i> index, kind, arguments): ('conv', (features, kernel)),
# ('pool', ()) for a 3x3/2 ceil-mode max-pool, ('fire', (squeeze, expand1x1,
# expand3x3)).
V1_0 = (
  (0, 'conv', (96, 7)),
  (2, 'pool', ()),
  (3, 'fire', (16, 64, 64)),
  (4, 'fire', (16, 64, 64)),
  (5, 'fire', (32, 128, 128)),
  (6, 'pool', ()),
  (7, 'fire', (32, 128, 128)),
  (8, 'fire', (48, 192, 192)),
  (9, 'fire', (48, 192, 192)),
  (10, 'fire', (64, 256, 256)),
  (11, 'pool', ()),
  (12, 'fire', (64, 256, 256)),
)
V1_1 = (
  (0, 'conv', (64, 3)),
  (2, 'pool', ()),
  (3, 'fire', (16, 64, 64)),
  (4, 'fire', (16, 64, 64)),
  (5, 'pool', ()),
  (6, 'fire', (32, 128, 128)),
  (7, 'fire', (32, 128, 128)),
  (8, 'pool', ()),
  (9, 'fire', (48, 192, 192)),
  (10, 'fire', (48, 192, 192)),
  (11, 'fire', (64, 256, 256)),
  (12, 'fire', (64, 256, 256)),
)

# torchvision's init.kaiming_uniform_ (fan-in, ReLU gain).
kaiming_uniform = nn.initializers.variance_scaling(2.0, 'fan_in', 'uniform')


class SqueezeNet(nn.Module):
  """SqueezeNet as torchvision's; ``layout`` is ``V1_0`` or ``V1_1``."""

  layout: Sequence[tuple[int, str, tuple[int, ...]]] = V1_0
  num_classes: int = 1000
  dropout: float = 0.5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    for index, kind, args in self.layout:
      name = f'features_{index}'
      if kind == 'conv':
        features, kernel = args
        x = layers.ConvBNAct(
          features,
          kernel,
          2,
          padding='VALID',
          use_bn=False,
          kernel_init=kaiming_uniform,
          dtype=self.dtype,
          name=name,
        )(x, train)
      elif kind == 'pool':
        x = layers.max_pool(x, 3, 2, ceil_mode=True)
      elif kind == 'fire':
        x = layers.Fire(
          *args, kernel_init=kaiming_uniform, dtype=self.dtype, name=name
        )(x, train)
      else:
        raise ValueError(f'Unknown SqueezeNet layer kind {kind!r}.')
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    x = layers.ConvBNAct(
      self.num_classes,
      1,
      use_bn=False,
      kernel_init=nn.initializers.normal(0.01),
      dtype=self.dtype,
      name='classifier_1',
    )(x, train)
    return layers.global_avg_pool(x)


register('squeezenet1_0', functools.partial(SqueezeNet, layout=V1_0))
register('squeezenet1_1', functools.partial(SqueezeNet, layout=V1_1))
