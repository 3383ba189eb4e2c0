"""AlexNet (Krizhevsky, Sutskever & Hinton 2012, "ImageNet classification with
deep convolutional neural networks", NeurIPS).

One module, configured by a table of conv layers:

``alexnet_2012`` -- the paper's network as one tower (the tutorial's table): 227x227
input, conv 11x11/4-96, ReLU, LRN, max-pool 3/2, conv 5x5-256 (pad 2), ReLU,
LRN, max-pool 3/2, conv 3x3 384-384-256 (pad 1), max-pool 3/2, FC 4096-4096-
classes with ReLU and dropout 0.5 on the outputs of the two 4096-wide layers
(i.e. before fc7 and fc8, as in the paper and Caffe's bvlc_alexnet). LRN is the
paper's: k=2, n=5, alpha=1e-4, beta=0.75 with alpha applied to the plain sum.
62,378,344 parameters for 1000 classes; ``two_tower=True`` restricts conv2,
conv4 and conv5 to their own GPU's half of the previous layer (2 groups), as in
the paper, giving Caffe's 60,965,224.

``alexnet`` -- torchvision's single-tower variant (from "One weird trick",
Krizhevsky 2014): conv 11x11/4-64 (pad 2), 5x5-192, 3x3 384-256-256, no LRN,
adaptive average pooling to 6x6, dropout before fc6 and fc7. 61,100,840
parameters, as torchvision.models.alexnet.

The adaptive pooling uses torchvision's start/end index formula, so small
inputs (e.g. 64x64 Fashion-MNIST) work and give the same features torchvision
would. The classifier flattens NHWC features (H, W, C order); a converter from
torchvision weights must permute fc6's input dimension from (C, H, W).
"""

from __future__ import annotations

import functools
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.models import layers
from cnn_jax.models.registry import register


def _adaptive_pool_matrix(in_size: int, out_size: int) -> np.ndarray:
  """(out, in) averaging weights of PyTorch's adaptive average pooling.

  Output ``i`` averages inputs ``floor(i * in / out)`` to
  ``ceil((i + 1) * in / out) - 1``.
  """
  mat = np.zeros((out_size, in_size), np.float32)
  for i in range(out_size):
    start = (i * in_size) // out_size
    end = -(-((i + 1) * in_size) // out_size)
    mat[i, start:end] = 1.0 / (end - start)
  return mat


def adaptive_avg_pool(x: jax.Array, output_size: int) -> jax.Array:
  """PyTorch's ``AdaptiveAvgPool2d(output_size)`` for NHWC inputs, any size."""
  h, w = x.shape[1:3]
  if (h, w) == (output_size, output_size):
    return x
  ph = jnp.asarray(_adaptive_pool_matrix(h, output_size), x.dtype)
  pw = jnp.asarray(_adaptive_pool_matrix(w, output_size), x.dtype)
  return jnp.einsum('oh,nhwc,pw->nopc', ph, x, pw)


# Conv layers: (features, kernel, stride, padding, groups in two-tower mode,
# LRN after the ReLU, max-pool 3/2 after).
PAPER_2012 = (
  (96, 11, 4, 0, 1, True, True),
  (256, 5, 1, 2, 2, True, True),
  (384, 3, 1, 1, 1, False, False),
  (384, 3, 1, 1, 2, False, False),
  (256, 3, 1, 1, 2, False, True),
)
TORCHVISION = (
  (64, 11, 4, 2, 1, False, True),
  (192, 5, 1, 2, 1, False, True),
  (384, 3, 1, 1, 1, False, False),
  (256, 3, 1, 1, 1, False, False),
  (256, 3, 1, 1, 1, False, True),
)


class AlexNet(nn.Module):
  """AlexNet; see the module docstring for the two registered variants.

  Attributes:
    convs: the conv table (``PAPER_2012`` or ``TORCHVISION``).
    two_tower: use the table's group counts (the paper's two-GPU split).
    avgpool_size: adaptive average pooling size before the classifier (6 in
      torchvision), or None for none (the paper: 227 input gives 6x6 anyway).
    fc_features: width of the two hidden FC layers.
    dropout: dropout rate.
    dropout_before: the FC layers whose *input* is dropped: ('fc6', 'fc7') in
      torchvision, ('fc7', 'fc8') in the paper.
  """

  num_classes: int = 1000
  convs: Sequence[tuple] = TORCHVISION
  two_tower: bool = False
  avgpool_size: Optional[int] = 6
  fc_features: int = 4096
  dropout: float = 0.5
  dropout_before: Sequence[str] = ('fc6', 'fc7')
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    for i, (features, kernel, stride, pad, groups, lrn, pool) in enumerate(
      self.convs
    ):
      x = layers.ConvBNAct(
        features,
        kernel,
        stride,
        groups=groups if self.two_tower else 1,
        padding=[(pad, pad)] * 2,
        use_bn=False,
        dtype=self.dtype,
        name=f'conv{i + 1}',
      )(x)
      if lrn:
        x = layers.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)(x)
      if pool:
        x = layers.max_pool(x, 3, 2)
    if self.avgpool_size:
      x = adaptive_avg_pool(x, self.avgpool_size)
    x = x.reshape((x.shape[0], -1))
    widths = (self.fc_features, self.fc_features, self.num_classes)
    for name, width in zip(('fc6', 'fc7', 'fc8'), widths):
      if name in self.dropout_before:
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
      x = layers.dense(width, dtype=self.dtype, name=name)(x)
      if name != 'fc8':
        x = nn.relu(x)
    return x


AlexNet2012 = functools.partial(
  AlexNet, convs=PAPER_2012, avgpool_size=None, dropout_before=('fc7', 'fc8')
)

register('alexnet', AlexNet)
register('alexnet_2012', AlexNet2012, input_shape=(227, 227, 3))
