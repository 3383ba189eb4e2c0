"""VGG (Simonyan & Zisserman 2015, "Very deep convolutional networks for
large-scale image recognition", ICLR).

The configurations of the paper's Table 1 as stage tables: five stages of 3x3
convs (stride 1, pad 1, ReLU), each followed by a 2x2/2 max-pool, then the
classifier. torchvision's form (``vgg11`` ... ``vgg19_bn``, matched exactly,
including the conv biases that torchvision keeps next to BatchNorm): adaptive
average pooling to 7x7, then FC 25088-4096-4096-classes with ReLU and dropout
0.5 after each hidden FC layer.

Registered: ``vgg11`` (A), ``vgg11_lrn`` (A-LRN: LRN after the first conv,
with AlexNet's k=2, n=5, alpha=1e-4, beta=0.75 as the paper says), ``vgg13``
(B), ``vgg16_c`` (C: the third conv of stages 3-5 is 1x1), ``vgg16`` (D),
``vgg19`` (E), and ``vgg11_bn`` ... ``vgg19_bn`` (BatchNorm after every conv,
torchvision's ``*_bn``).

The adaptive pooling (see ``alexnet.adaptive_avg_pool``) lets the ImageNet
classifier run on small inputs: at 32x32 the 1x1 map is replicated to 7x7, as in
torchvision. ``avgpool_size`` / ``fc_features`` shrink the classifier for small
images (e.g. ``avgpool_size=1, fc_features=512``, the usual CIFAR VGG head).
The classifier flattens NHWC features (a torchvision converter must permute
fc6's input from (C, H, W) to (H, W, C)).
"""

from __future__ import annotations

import functools
from typing import Any, Optional, Sequence, Union

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers
from cnn_jax.models.alexnet import adaptive_avg_pool
from cnn_jax.models.registry import register

# A conv is its width (3x3) or (width, kernel size). One tuple per stage.
ConvSpec = Union[int, tuple[int, int]]
CONFIGS: dict[str, tuple[tuple[ConvSpec, ...], ...]] = {
  'A': ((64,), (128,), (256, 256), (512, 512), (512, 512)),
  'B': ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
  'C': (
    (64, 64),
    (128, 128),
    (256, 256, (256, 1)),
    (512, 512, (512, 1)),
    (512, 512, (512, 1)),
  ),
  'D': ((64, 64), (128, 128), (256,) * 3, (512,) * 3, (512,) * 3),
  'E': ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}

# torchvision initializes classifier weights from N(0, 0.01), biases at 0.
_fc_init = nn.initializers.normal(0.01)


class VGG(nn.Module):
  """VGG with configurable stages (``CONFIGS``) and classifier.

  Attributes:
    stages: per-stage conv specs, e.g. ``CONFIGS['D']``.
    batch_norm: BatchNorm after every conv (torchvision ``*_bn``).
    lrn: LRN after the first conv (configuration A-LRN).
    avgpool_size: adaptive average pooling size (7 in torchvision; None skips).
    fc_features: width of the two hidden FC layers.
    dropout: dropout rate after each hidden FC layer.
  """

  num_classes: int = 1000
  stages: Sequence[Sequence[ConvSpec]] = CONFIGS['D']
  batch_norm: bool = False
  lrn: bool = False
  avgpool_size: Optional[int] = 7
  fc_features: int = 4096
  dropout: float = 0.5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    for s, stage in enumerate(self.stages):
      for j, spec in enumerate(stage):
        features, kernel = (spec, 3) if isinstance(spec, int) else spec
        x = layers.ConvBNAct(
          features,
          kernel,
          use_bn=self.batch_norm,
          use_bias=True,
          dtype=self.dtype,
          name=f'conv{s + 1}_{j + 1}',
        )(x, train)
        if self.lrn and s == 0 and j == 0:
          x = layers.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)(x)
      x = layers.max_pool(x, 2, 2)
    if self.avgpool_size:
      x = adaptive_avg_pool(x, self.avgpool_size)
    x = x.reshape((x.shape[0], -1))
    for name in ('fc6', 'fc7'):
      x = nn.relu(
        layers.dense(
          self.fc_features, dtype=self.dtype, kernel_init=_fc_init, name=name
        )(x)
      )
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return layers.dense(
      self.num_classes, dtype=self.dtype, kernel_init=_fc_init, name='fc8'
    )(x)


VGG11 = functools.partial(VGG, stages=CONFIGS['A'])
VGG13 = functools.partial(VGG, stages=CONFIGS['B'])
VGG16C = functools.partial(VGG, stages=CONFIGS['C'])
VGG16 = functools.partial(VGG, stages=CONFIGS['D'])
VGG19 = functools.partial(VGG, stages=CONFIGS['E'])

register('vgg11', VGG11)
register('vgg11_lrn', functools.partial(VGG11, lrn=True))
register('vgg13', VGG13)
register('vgg16_c', VGG16C)
register('vgg16', VGG16)
register('vgg19', VGG19)
register('vgg11_bn', functools.partial(VGG11, batch_norm=True))
register('vgg13_bn', functools.partial(VGG13, batch_norm=True))
register('vgg16_bn', functools.partial(VGG16, batch_norm=True))
register('vgg19_bn', functools.partial(VGG19, batch_norm=True))
