"""NASNet-A (Zoph et al. 2018, "Learning Transferable Architectures for
Scalable Image Recognition").

The network stacks two cells found by architecture search. Every cell takes
the outputs of the two previous cells, ``ip`` (the last) and ``p`` (the one
before), and

* brings ``p`` to the cell's width and resolution ("adjust"): a factorized
  reduction when ``p`` has twice the resolution of ``ip`` (ReLU, then two 1x1
  convs of ``filters // 2`` on the stride-2 subsampled input and on the input
  shifted by one pixel, concatenated, BN), else ReLU-conv1x1-BN when the width
  differs;
* projects ``ip`` with ReLU-conv1x1-BN to ``h``;
* combines them with five pairwise sums of separable conv stacks
  (ReLU-sep-BN-ReLU-sep-BN, the first separable conv strided in reduction
  cells), 3x3 poolings and identities, and concatenates the results: six
  tensors (``p`` and the five sums) in a normal cell, four in a reduction cell.

Layout (``filters = penultimate_filters // 24``): a 3x3/2 'valid' conv + BN
stem, two reduction cells at ``filters / 4`` and ``filters / 2`` (the ImageNet
stem), then three stages of ``num_blocks`` normal cells at ``filters``,
``2 filters`` and ``4 filters`` separated by reduction cells, ReLU, global
average pooling and a linear classifier.

References (``keras.applications.nasnet``, whose wiring and layer order this
module follows; BN epsilon 1e-3 and momentum 0.9997; 'SAME' padding):

* ``NASNetAMobile``: NASNet-A Mobile (4 @ 1056), stem 32, 224x224;
  ``keras.applications.NASNetMobile``: 5,326,716 incl. BN statistics.
* ``NASNetALarge``: NASNet-A Large (6 @ 4032), stem 96, 331x331;
  ``keras.applications.NASNetLarge``: 88,949,818 incl. BN statistics. timm's
  ``NASNetALarge`` (the Cadene port of the TF-slim weights) has the same
  layers: its 88,753,150 trainable parameters are exactly our params, and
  Keras' figure is the same plus the 196,668 BN moving statistics. timm pads
  the stride-2 3x3 poolings of reduction cells TF-'SAME' style (max pooling
  ignores the padding, average pooling excludes it from the count) where Keras
  zero-pads first and then pools 'valid' (zeros take part in both):
  ``pool_padding='timm'`` selects timm's form.

Keras' Large model differs from its Mobile model in ``skip_reduction``: with it,
the first normal cell after a reduction cell takes as ``p`` the input of the
cell before the reduction (the TF-slim "skip reduction layer input"), without
it the input of the reduction cell.

Training-only parts of the paper (TF-slim's ``nasnet.py``; neither reference
has them in its inference graph, so they add no weights unless asked for):

* ScheduledDropPath (``drop_path_rate``): every operation of every cell except
  the identities drops per example with a rate that grows linearly with the
  cell's depth (``rate * (i + 1) / cells``, the two stem cells counted) and
  with training progress (the ``progress`` call argument, step / total steps,
  which the train step passes to models that take it). TF-slim's ImageNet
  settings: keep probability 0.7 for Large (``drop_path_rate=0.3``), 1.0 for
  Mobile.
* The auxiliary head (``aux_logits``) on the ReLU of the last normal cell
  before the second reduction cell: 5x5/3 'valid' average pool, 1x1 conv 128 +
  BN + ReLU, a conv as large as the map (768) + BN + ReLU, linear. In training
  the model returns ``(logits, [aux_logits])``; its loss weight is
  ``aux_loss_weight`` (0.4 in TF-slim's ImageNet training).
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers
from cnn_jax.models.registry import register


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """TF 'SAME' padding (extra pixel at the end), as Keras' ``correct_pad``."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def _zero_pad_same(x, kernel: int, stride: int):
  pads = [_same_padding(s, kernel, stride) for s in x.shape[1:3]]
  return jnp.pad(x, [(0, 0), *pads, (0, 0)])


def _avg_pool_3x3_same(x):
  """3x3/1 average pooling, 'SAME', padding excluded from the mean (TF)."""
  return layers.avg_pool(x, 3, 1, padding=1, count_include_pad=False)


class SeparableStack(nn.Module):
  """ReLU-sep-BN-ReLU-sep-BN (Keras' ``_separable_conv_block``).

  Only the first separable conv is strided; both map straight to ``features``.
  """

  features: int
  kernel_size: int = 3
  strides: int = 1
  bn_epsilon: float = 1e-3
  bn_momentum: float = 0.9997
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    for i, strides in enumerate((self.strides, 1)):
      x = layers.separable_conv_bn(
        nn.relu(x),
        train,
        self.features,
        names=(f'separable_conv_{i + 1}', f'bn_{i + 1}'),
        kernel_size=self.kernel_size,
        strides=strides,
        padding='SAME',
        bn_epsilon=self.bn_epsilon,
        bn_momentum=self.bn_momentum,
        dtype=self.dtype,
      )
    return x


class FactorizedReduction(nn.Module):
  """Halves ``p``'s resolution: ReLU, two shifted stride-2 1x1 convs, BN.

  The second path sees the input shifted by one pixel (crop the first row and
  column, zero-pad the last), so the two paths sample complementary pixels.
  """

  features: int
  bn_epsilon: float = 1e-3
  bn_momentum: float = 0.9997
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, p, train: bool = False):
    p = nn.relu(p)
    shifted = jnp.pad(p[:, 1:, 1:], [(0, 0), (0, 1), (0, 1), (0, 0)])
    paths = []
    for i, y in enumerate((p, shifted)):
      y = y[:, ::2, ::2]  # 1x1 average pooling with stride 2.
      paths.append(
        layers.Conv(
          self.features // 2,
          (1, 1),
          use_bias=False,
          kernel_init=layers.conv_kernel_init,
          dtype=self.dtype,
          name=f'conv_{i + 1}',
        )(y)
      )
    p = jnp.concatenate(paths, axis=-1)
    return layers.batch_norm(
      train,
      dtype=self.dtype,
      epsilon=self.bn_epsilon,
      momentum=self.bn_momentum,
      name='bn',
    )(p)


class NASNetCell(nn.Module):
  """A NASNet-A normal (``reduction=False``) or reduction cell.

  ``__call__(ip, p)`` returns ``(output, ip)``: the second value is the next
  cell's ``p``. See the module docstring for the wiring.
  """

  filters: int
  reduction: bool = False
  pool_padding: str = 'keras'  # 'keras' or 'timm'; see the module docstring.
  drop_path_rate: float = 0.0  # this cell's, at the end of training.
  bn_epsilon: float = 1e-3
  bn_momentum: float = 0.9997
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(
    self, ip, p: Optional[Any], train: bool = False, progress: Any = 1.0
  ):
    bn_kw = dict(
      bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum, dtype=self.dtype
    )
    f = self.filters
    # Adjust p to ip's resolution and this cell's width.
    if p is None:
      p = ip
    elif p.shape[2] != ip.shape[2]:
      p = FactorizedReduction(f, name='adjust_reduction', **bn_kw)(p, train)
    elif p.shape[-1] != f:
      p = layers.ConvBNAct(f, 1, act=None, name='adjust_projection', **bn_kw)(
        nn.relu(p), train
      )
    h = layers.ConvBNAct(f, 1, act=None, name='conv_1x1', **bn_kw)(
      nn.relu(ip), train
    )

    def dp(x):  # ScheduledDropPath, on every operation but the identities.
      return layers.StochasticDepth(self.drop_path_rate)(x, train, progress)

    def sep(name, x, kernel_size, strides=1):
      return dp(
        SeparableStack(f, kernel_size, strides, name=name, **bn_kw)(x, train)
      )

    if not self.reduction:
      x1 = sep('left1', h, 5) + sep('right1', p, 3)
      x2 = sep('left2', p, 5) + sep('right2', p, 3)
      x3 = dp(_avg_pool_3x3_same(h)) + p
      pool_p = _avg_pool_3x3_same(p)  # Two identical pools of p, summed.
      x4 = dp(pool_p) + dp(pool_p)
      x5 = sep('left5', h, 3) + h
      out = [p, x1, x2, x3, x4, x5]
    else:
      if self.pool_padding == 'keras':
        h3 = _zero_pad_same(h, 3, 2)
        max_h = layers.max_pool(h3, 3, 2)
        avg_h = layers.avg_pool(h3, 3, 2)
      elif self.pool_padding == 'timm':
        max_h = layers.max_pool(h, 3, 2, padding='SAME')
        avg_h = layers.avg_pool(
          h, 3, 2, padding='SAME', count_include_pad=False
        )
      else:
        raise ValueError(f'Unknown pool_padding {self.pool_padding!r}.')
      x1 = sep('left1', h, 5, 2) + sep('right1', p, 7, 2)
      x2 = dp(max_h) + sep('right2', p, 7, 2)
      x3 = dp(avg_h) + sep('right3', p, 5, 2)
      x4 = dp(_avg_pool_3x3_same(x1)) + x2
      x5 = sep('left4', x1, 3) + dp(max_h)
      out = [x2, x3, x4, x5]
    return jnp.concatenate(out, axis=-1), ip


class NASNetAux(nn.Module):
  """TF-slim's auxiliary head: avgpool 5/3 'valid', 1x1-128, a conv over the
  whole map (768), each with BN + ReLU, then a linear classifier."""

  num_classes: int
  bn_epsilon: float = 1e-3
  bn_momentum: float = 0.9997
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    bn_kw = dict(
      bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum, dtype=self.dtype
    )
    x = layers.avg_pool(x, 5, 3)
    x = layers.ConvBNAct(128, 1, name='proj', **bn_kw)(x, train)
    x = layers.ConvBNAct(
      768, x.shape[1:3], padding='VALID', name='conv', **bn_kw
    )(x, train)
    x = x.reshape((x.shape[0], -1))
    return layers.dense(self.num_classes, self.dtype, name='fc')(x)


class NASNetA(nn.Module):
  """NASNet-A for ImageNet (Keras' ``NASNet`` builder).

  Attributes:
    num_classes: classifier outputs.
    penultimate_filters: width of the last cells' output (24 x ``filters``).
    num_blocks: normal cells per stage (N in the paper's "N @ width").
    stem_filters: output channels of the stem conv.
    skip_reduction: see the module docstring (True in Large, False in Mobile).
    filter_multiplier: width factor between stages.
    pool_padding: 'keras' (zero padding) or 'timm' ('SAME' pooling) for the
      stride-2 poolings of reduction cells.
    dropout_rate: dropout before the classifier (the paper trains Large with
      0.5; both references build none).
    drop_path_rate: ScheduledDropPath's rate in the last cell at the end of
      training (1 - TF-slim's ``drop_path_keep_prob``); 0 builds none.
    aux_logits: build the auxiliary head (training only; see the module
      docstring).
    bn_epsilon, bn_momentum: BatchNorm settings (Keras' 1e-3 and 0.9997).
    dtype: compute dtype.
  """

  num_classes: int = 1000
  penultimate_filters: int = 4032
  num_blocks: int = 6
  stem_filters: int = 96
  skip_reduction: bool = True
  filter_multiplier: int = 2
  pool_padding: str = 'keras'
  dropout_rate: float = 0.0
  drop_path_rate: float = 0.0
  aux_logits: bool = False
  bn_epsilon: float = 1e-3
  bn_momentum: float = 0.9997
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False, progress: Any = 1.0):
    """``progress``: the fraction of training done (ScheduledDropPath)."""
    if not 0.0 <= self.drop_path_rate < 1.0:
      raise ValueError(
        f'drop_path_rate must be in [0, 1), not {self.drop_path_rate}.'
      )
    m = self.filter_multiplier
    if self.penultimate_filters % (24 * m**2):
      raise ValueError(
        'penultimate_filters must be a multiple of '
        f'24 * filter_multiplier**2 = {24 * m**2}.'
      )
    filters = self.penultimate_filters // 24
    bn_kw = dict(
      bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum, dtype=self.dtype
    )
    n = self.num_blocks
    cells = 2 + 3 * n + 2  # stem, normal and reduction cells
    index = iter(range(cells))
    progress = jnp.minimum(jnp.asarray(progress, jnp.float32), 1.0)

    def cell(width, reduction=False, *, name):
      i = next(index)
      module = NASNetCell(
        width,
        reduction,
        pool_padding=self.pool_padding,
        drop_path_rate=self.drop_path_rate * (i + 1) / cells,
        name=name,
        **bn_kw,
      )
      return lambda ip, p: module(ip, p, train, progress)

    x = x.astype(self.dtype)
    x = layers.ConvBNAct(
      self.stem_filters,
      3,
      2,
      padding='VALID',
      act=None,
      name='stem_conv1',
      **bn_kw,
    )(x, train)
    x, p = cell(filters // m**2, True, name='reduction_stem_1')(x, None)
    x, p = cell(filters // m, True, name='reduction_stem_2')(x, p)
    aux = None
    for stage in range(3):
      if stage > 0:
        x, p0 = cell(
          filters * m**stage, True, name=f'reduction_reduce_{stage * n}'
        )(x, p)
        p = p if self.skip_reduction else p0
      for i in range(n):
        block_id = stage * n + i + (stage > 0)  # Keras' block ids.
        x, p = cell(filters * m**stage, name=f'normal_{block_id}')(x, p)
      if stage == 1 and self.aux_logits and (train or self.is_initializing()):
        aux = NASNetAux(self.num_classes, name='aux', **bn_kw)(
          nn.relu(x), train
        )
    x = layers.global_avg_pool(nn.relu(x))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = layers.dense(self.num_classes, self.dtype, name='predictions')(x)
    if self.aux_logits and train:
      return x, [aux]
    return x


NASNetAMobile = functools.partial(
  NASNetA,
  penultimate_filters=1056,
  num_blocks=4,
  stem_filters=32,
  skip_reduction=False,
)
NASNetALarge = functools.partial(
  NASNetA,
  penultimate_filters=4032,
  num_blocks=6,
  stem_filters=96,
  skip_reduction=True,
)

register(
  'nasnetamobile', NASNetAMobile, input_shape=(224, 224, 3), num_classes=1000
)
register(
  'nasnetalarge', NASNetALarge, input_shape=(331, 331, 3), num_classes=1000
)
