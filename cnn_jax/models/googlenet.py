"""GoogLeNet / Inception-v1 (Szegedy et al. 2015, "Going deeper with
convolutions", CVPR).

One module, configured by a table of inception modules (the paper's Table 1
columns #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) and pools:

``googlenet_2014`` -- the paper's network: conv 7x7/2-64, max-pool 3/2, LRN,
conv 1x1-64, conv 3x3-192, LRN, max-pool 3/2, inception 3a-3b, max-pool,
4a-4e, max-pool, 5a-5b, 7x7 average pool, dropout 0.4, linear. Convs have
biases and no BatchNorm; the "5x5" branch really is 5x5. Two auxiliary
classifiers (on 4a and 4d: 5x5/3 average pool, 1x1 conv-128, FC-1024, dropout
0.7, linear) whose logits are returned in training. Pools use ceil mode and the
LRN uses Caffe's bvlc_googlenet settings (size 5, alpha 1e-4 divided by the
size, beta 0.75, k 1), as the paper gives none.

``googlenet`` / ``googlenet_aux`` -- torchvision's BN variant: conv-BN(eps
1e-3)-ReLU units without conv bias, no LRN, 3x3 convs in the "5x5" branch,
ceil-mode pools (a 2x2/2 pool before 5a), dropout 0.2, aux heads with 4x4
adaptive average pooling. 6,624,904 parameters without the aux heads and
13,004,888 with them, as torchvision.models.googlenet(aux_logits=False/True).

``googlenet_uvadl`` -- the small GoogleNet of the UvA deep learning course
(tutorial 5, "Inception, ResNet and DenseNet"): 3x3 conv-64 stem and eight
inception blocks on 32x32 inputs (convs keep their biases next to BatchNorm,
PyTorch's default), global average pooling and a linear layer: 260,650
parameters for 10 classes.

Aux heads are built at initialization even when ``train=False`` so that their
parameters always exist; at evaluation they are skipped and only the logits
are returned.

``transform_input`` (``googlenet`` and ``inception_v3``) is torchvision's
constructor argument of the same name: the network takes ImageNet-normalized
input and first re-normalizes it to the [-1, 1] scale its weights were
trained on (they come from TensorFlow). torchvision's builders switch it on
whenever they load pretrained weights, so ``python -m cnn_jax.convert``
records it with a converted pretrained file (``model.json``), and predict and
``--config.model_kwargs.transform_input=True`` use it.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers
from cnn_jax.models.alexnet import adaptive_avg_pool
from cnn_jax.models.registry import register

# (name, (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)) or
# (name, (max-pool window, stride, padding)).
INCEPTION_V1 = (
  ('inception3a', (64, 96, 128, 16, 32, 32)),
  ('inception3b', (128, 128, 192, 32, 96, 64)),
  ('maxpool3', (3, 2, 0)),
  ('inception4a', (192, 96, 208, 16, 48, 64)),
  ('inception4b', (160, 112, 224, 24, 64, 64)),
  ('inception4c', (128, 128, 256, 24, 64, 64)),
  ('inception4d', (112, 144, 288, 32, 64, 64)),
  ('inception4e', (256, 160, 320, 32, 128, 128)),
  ('maxpool4', (3, 2, 0)),
  ('inception5a', (256, 160, 320, 32, 128, 128)),
  ('inception5b', (384, 192, 384, 48, 128, 128)),
)
# torchvision pools 2x2/2 before 5a (same 14 -> 7 in ceil mode).
INCEPTION_V1_TORCHVISION = tuple(
  ('maxpool4', (2, 2, 0)) if name == 'maxpool4' else (name, widths)
  for name, widths in INCEPTION_V1
)
# The UvA tutorial's CIFAR GoogleNet (c_out 1x1, c_red 3x3, c_out 3x3,
# c_red 5x5, c_out 5x5, c_out max).
INCEPTION_CIFAR = (
  ('inception1', (16, 32, 32, 16, 8, 8)),
  ('inception2', (24, 32, 48, 16, 12, 12)),
  ('maxpool1', (3, 2, 1)),
  ('inception3', (24, 32, 48, 16, 12, 12)),
  ('inception4', (16, 32, 48, 16, 16, 16)),
  ('inception5', (16, 32, 48, 16, 16, 16)),
  ('inception6', (32, 32, 48, 16, 24, 24)),
  ('maxpool2', (3, 2, 1)),
  ('inception7', (32, 48, 64, 16, 16, 16)),
  ('inception8', (32, 48, 64, 16, 16, 16)),
)


def imagenet_to_unit_range(x):
  """torchvision's ``_transform_input``: ImageNet-normalized -> [-1, 1] scale.

  Per channel c: ``x * (std[c] / 0.5) + (mean[c] - 0.5) / 0.5``, which maps
  ``(v - mean) / std`` to ``(v - 0.5) / 0.5`` for a pixel value v in [0, 1].
  """
  mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
  scale = jnp.asarray([s / 0.5 for s in std], jnp.float32)
  shift = jnp.asarray([(m - 0.5) / 0.5 for m in mean], jnp.float32)
  return x.astype(jnp.float32) * scale + shift


class Inception(nn.Module):
  """Four parallel branches concatenated along channels.

  1x1 conv | 1x1 reduce -> 3x3 | 1x1 reduce -> k x k (5 in the paper, 3 in
  torchvision) | 3x3/1 max-pool -> 1x1 projection.
  """

  widths: Sequence[int]
  conv: Any  # a ConvBNAct partial
  branch3_kernel: int = 5
  ceil_mode: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    c1, c3r, c3, c5r, c5, proj = self.widths
    conv = self.conv
    b1 = conv(c1, 1, name='branch1')(x, train)
    b2 = conv(c3r, 1, name='branch2_0')(x, train)
    b2 = conv(c3, 3, name='branch2_1')(b2, train)
    b3 = conv(c5r, 1, name='branch3_0')(x, train)
    b3 = conv(c5, self.branch3_kernel, name='branch3_1')(b3, train)
    b4 = layers.max_pool(x, 3, 1, padding=1, ceil_mode=self.ceil_mode)
    b4 = conv(proj, 1, name='branch4_1')(b4, train)
    return jnp.concatenate([b1, b2, b3, b4], axis=-1)


class InceptionAux(nn.Module):
  """Auxiliary classifier: pool, 1x1 conv-128, FC-1024, dropout, linear.

  ``pool='paper'`` is the paper's 5x5/3 average pool; ``'adaptive'`` is
  torchvision's adaptive average pool to 4x4.
  """

  num_classes: int
  conv: Any
  pool: str = 'adaptive'
  dropout: float = 0.7
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.pool == 'paper':
      x = layers.avg_pool(x, 5, 3)
    else:
      x = adaptive_avg_pool(x, 4)
    x = self.conv(128, 1, name='conv')(x, train)
    x = x.reshape((x.shape[0], -1))
    x = nn.relu(layers.dense(1024, dtype=self.dtype, name='fc1')(x))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return layers.dense(self.num_classes, dtype=self.dtype, name='fc2')(x)


class GoogLeNet(nn.Module):
  """GoogLeNet; see the module docstring for the registered variants.

  Attributes:
    blocks: the table of inception modules and pools.
    stem: 'imagenet' (7x7/2 conv, pool, 1x1, 3x3, pool) or 'cifar' (one 3x3
      conv-64).
    batch_norm: conv-BN-ReLU units (else conv-ReLU with bias).
    conv_bias: conv bias next to BatchNorm (the UvA model has it).
    bn_epsilon: BatchNorm epsilon (1e-3 in torchvision, 1e-5 PyTorch default).
    lrn: LRN after the first pool and after conv3 (the paper).
    branch3_kernel: kernel of the "5x5" branch (3 in torchvision).
    ceil_mode: ceil-mode max pooling (Caffe / torchvision).
    aux_logits: build the two auxiliary classifiers (on 4a and 4d).
    aux_pool: 'paper' or 'adaptive' (see ``InceptionAux``).
    dropout: dropout rate before the classifier.
    transform_input: re-normalize ImageNet-normalized input to [-1, 1]
      first (torchvision's pretrained GoogLeNet; ``imagenet_to_unit_range``).
  """

  num_classes: int = 1000
  blocks: Sequence[tuple[str, Sequence[int]]] = INCEPTION_V1_TORCHVISION
  stem: str = 'imagenet'
  batch_norm: bool = True
  conv_bias: bool = False
  bn_epsilon: float = 1e-3
  lrn: bool = False
  branch3_kernel: int = 3
  ceil_mode: bool = True
  aux_logits: bool = False
  aux_pool: str = 'adaptive'
  aux_dropout: float = 0.7
  dropout: float = 0.2
  transform_input: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.transform_input:
      x = imagenet_to_unit_range(x)
    conv = functools.partial(
      layers.ConvBNAct,
      use_bn=self.batch_norm,
      use_bias=self.conv_bias or not self.batch_norm,
      bn_epsilon=self.bn_epsilon,
      dtype=self.dtype,
    )
    lrn = functools.partial(
      layers.LocalResponseNorm,
      size=5,
      alpha=1e-4,
      beta=0.75,
      k=1.0,
      alpha_over_size=True,
    )
    pool = functools.partial(layers.max_pool, ceil_mode=self.ceil_mode)
    x = x.astype(self.dtype)
    if self.stem == 'imagenet':
      x = conv(64, 7, 2, name='conv1')(x, train)
      x = pool(x, 3, 2)
      if self.lrn:
        x = lrn()(x)
      x = conv(64, 1, name='conv2')(x, train)
      x = conv(192, 3, name='conv3')(x, train)
      if self.lrn:
        x = lrn()(x)
      x = pool(x, 3, 2)
    elif self.stem == 'cifar':
      x = conv(64, 3, name='conv1')(x, train)
    else:
      raise ValueError(f'Unknown stem {self.stem!r}')

    run_aux = self.aux_logits and (train or self.is_initializing())
    aux = []
    for name, spec in self.blocks:
      if name.startswith('maxpool'):
        window, stride, padding = spec
        x = pool(x, window, stride, padding=padding)
        continue
      x = Inception(spec, conv, self.branch3_kernel, self.ceil_mode, name=name)(
        x, train
      )
      if run_aux and name in ('inception4a', 'inception4d'):
        aux.append(
          InceptionAux(
            self.num_classes,
            conv,
            self.aux_pool,
            self.aux_dropout,
            dtype=self.dtype,
            name=f'aux{len(aux) + 1}',
          )(x, train)
        )

    x = layers.global_avg_pool(x)
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    x = layers.dense(self.num_classes, dtype=self.dtype, name='fc')(x)
    if self.aux_logits and train:
      return x, aux
    return x


GoogLeNet2014 = functools.partial(
  GoogLeNet,
  blocks=INCEPTION_V1,
  batch_norm=False,
  lrn=True,
  branch3_kernel=5,
  aux_logits=True,
  aux_pool='paper',
  dropout=0.4,
)
GoogLeNetUvaDL = functools.partial(
  GoogLeNet,
  blocks=INCEPTION_CIFAR,
  stem='cifar',
  conv_bias=True,
  bn_epsilon=1e-5,
  branch3_kernel=5,
  ceil_mode=False,
  dropout=0.0,
)

register('googlenet', GoogLeNet)
register('googlenet_aux', functools.partial(GoogLeNet, aux_logits=True))
register('googlenet_2014', GoogLeNet2014)
register(
  'googlenet_uvadl', GoogLeNetUvaDL, input_shape=(32, 32, 3), num_classes=10
)
