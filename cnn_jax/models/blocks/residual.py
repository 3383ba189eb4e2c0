"""Residual units shared by every ResNet-like family (no models registered here).

Post-activation units (He et al. 2016, "Deep Residual Learning for Image
Recognition"): ``out = act(branch(x) + shortcut(x))``.

* :class:`BasicBlock`: conv3x3-BN-act-conv3x3-BN (ResNet-18/34, CIFAR ResNets,
  the UvA DL tutorial's ResNetBlock).
* :class:`BottleneckBlock`: conv1x1-BN-act-conv3x3-BN-act-conv1x1-BN with a
  4x expansion (ResNet-50+, ResNeXt, Wide ResNet, SE-ResNe(X)t, SENet-154).
* :class:`RegNetBottleneck`: conv1x1-BN-act-conv3x3(groups)-BN-act-[SE]-
  conv1x1-BN without expansion, SE inside the branch (RegNetX / RegNetY).

Pre-activation units (He et al. 2016, "Identity Mappings in Deep Residual
Networks"): ``out = branch(x) + shortcut(x)`` with BN-act *before* each conv,
so the identity path carries no BN and no nonlinearity.

* :class:`PreActBasicBlock`: BN-act-conv3x3-BN-act-conv3x3 (Wide ResNets, the
  UvA DL tutorial's PreActResNetBlock, timm ``resnetv2_18/34``).
* :class:`PreActBottleneck`: BN-act-conv1x1-BN-act-conv3x3-BN-act-conv1x1
  (ResNet-164/1001, Keras ``ResNet50V2``, timm ``resnetv2_50``).

Options shared by the units:

* ``shortcut=False`` removes the addition (the "plain" nets of He et al.):
  the very same branch, and no projection parameters.
* ``shortcut_type``: ``'A'`` is a parameter-free identity, subsampled with a
  stride when the resolution drops and zero-padded with extra channels when
  the width grows (the paper's CIFAR nets); ``'B'`` is a projection (a 1x1
  conv, + BN in post-activation units) whenever the shape changes.
  ``project_on_stride=False`` keeps a strided-subsampling identity when only
  the resolution changes (Keras ``ResNetV2``'s ``MaxPooling2D(1, stride)``).
* ``proj_bn`` / ``proj_bias`` / ``proj_kernel_size``: projection details (the
  tutorial's ResNetBlock uses a 1x1 conv with bias and no BN; SENet-154 a 3x3
  strided projection); ``proj_preact``: pre-activation units project either
  the branch's pre-activation (``'shared'``, He et al.'s and Keras' code, WRN,
  timm) or ``x`` through a BN-act of their own (``'own'``, the UvA DL tutorial).
* ``stride_on_3x3`` (bottleneck): True puts the stride on the 3x3 conv
  (ResNet v1.5, torchvision, timm, the default); False on the first 1x1 (v1:
  the paper, Caffe and Keras ``ResNet50``). Same parameters, different maps.
* ``groups`` / ``base_width`` (bottleneck): grouped 3x3 conv of width
  ``int(planes * base_width / 64) * groups`` (ResNeXt, Wide ResNet).
* ``zero_init_last``: post-activation units start the last BN scale at zero
  (Goyal et al. 2017; torchvision's ``zero_init_residual``); pre-activation
  units, whose branch ends in a conv, start that conv's kernel at zero. Either
  way the unit starts as its shortcut.
* ``se_ratio``: squeeze-and-excitation on the branch before the addition
  (Hu et al. 2018, timm's ``SEModule``: 1x1 convs with bias, reduction 16,
  width rounded to a multiple of 8).
* ``dropout_rate``: dropout between the two 3x3 convs (basic units; Wide
  ResNets). ``drop_path_rate``: stochastic depth on the branch (Huang et al.
  2016).

Parameter names follow torchvision / timm so that weights can be mapped:
a :class:`~cnn_jax.models.layers.ConvBNAct` named ``convN`` holds torch's
``convN`` (``convN/conv``) and ``bnN`` (``convN/bn``); a projection is
``downsample/conv`` + ``downsample/bn`` (torch ``downsample.0`` / ``.1``); the
SE module is ``se/reduce`` + ``se/expand`` (timm ``se.fc1`` / ``se.fc2``).
Pre-activation units name their BNs ``bn1..3`` (timm ``norm1..3``) and their
convs ``conv1..3``.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.models import layers

ModuleDef = Any


def se_width(channels: int, ratio: float = 1 / 16, divisor: int = 8) -> int:
  """timm's SE width: ``channels * ratio`` to the nearest multiple of ``divisor``.

  (timm's ``make_divisible`` with ``round_limit=0``; exact for SENet's widths.)
  """
  value = channels * ratio
  return max(divisor, int(value + divisor / 2) // divisor * divisor)


def pad_identity(x: jax.Array, features: int, strides: int) -> jax.Array:
  """Option A shortcut: strided subsampling, extra channels zero-filled.

  Subsampling keeps pixels ``0, s, 2s, ...`` (what a 1x1 stride-s conv or
  Keras' ``MaxPooling2D(1, s)`` sees); the new channels are appended after the
  existing ones ("extra zero entries padded", He et al. 2016).
  """
  if strides > 1:
    x = x[:, ::strides, ::strides, :]
  extra = features - x.shape[-1]
  if extra < 0:
    raise ValueError(
      f'Option A cannot reduce channels ({x.shape[-1]} -> '
      f'{features}); use shortcut_type="B".'
    )
  if extra:
    x = jnp.pad(x, [(0, 0)] * 3 + [(0, extra)])
  return x


class Shortcut(nn.Module):
  """The identity path of a residual unit, transformed only if shapes differ.

  Attributes:
    features: output channels of the unit.
    strides: stride of the unit.
    shortcut_type: ``'A'`` (parameter-free) or ``'B'`` (projection).
    project_on_stride: with ``'B'``, also project when only the stride changes
      (torchvision); False subsamples instead (Keras ResNetV2).
    kernel_size: kernel of a *strided* projection (1; 3 for SENet-154, whose
      stride-1 projections stay 1x1 as in timm).
    use_bn, use_bias: the projection's BN and conv bias.
    pre_norm: BN-act of the shortcut's own before the projection (the seed
      report's PreActResNetBlock).
  """

  features: int
  strides: int = 1
  shortcut_type: str = 'B'
  project_on_stride: bool = True
  kernel_size: int = 1
  use_bn: bool = True
  use_bias: bool = False
  pre_norm: bool = False
  act: Any = 'relu'
  padding: layers.Padding = 'torch'
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  dtype: Any = jnp.float32

  def needs_projection(self, in_features: int) -> bool:
    if self.shortcut_type == 'A':
      return False
    if self.shortcut_type != 'B':
      raise ValueError(f'Unknown shortcut_type {self.shortcut_type!r}.')
    return in_features != self.features or (
      self.strides > 1 and self.project_on_stride
    )

  @nn.compact
  def __call__(self, x, preact=None, train: bool = False):
    """``preact``: the branch's pre-activation, projected instead of ``x``."""
    in_features = x.shape[-1]
    if in_features == self.features and self.strides == 1:
      return x
    if not self.needs_projection(in_features):
      return pad_identity(x, self.features, self.strides)
    if preact is not None:
      x = preact
    if self.pre_norm:
      x = layers.batch_norm(
        train,
        dtype=self.dtype,
        momentum=self.bn_momentum,
        epsilon=self.bn_epsilon,
        name='pre_bn',
      )(x)
      x = layers.get_activation(self.act)(x)
    k = self.kernel_size if self.strides > 1 else 1
    x = layers.conv(
      self.features,
      k,
      self.strides,
      use_bias=self.use_bias,
      padding=self.padding,
      dtype=self.dtype,
      name='conv',
    )(x)
    if self.use_bn:
      x = layers.batch_norm(
        train,
        dtype=self.dtype,
        momentum=self.bn_momentum,
        epsilon=self.bn_epsilon,
        name='bn',
      )(x)
    return x


class ResidualUnit(nn.Module):
  """The fields and the shortcut addition every residual unit shares.

  Subclasses add their branch's own fields and define ``__call__``, which ends
  with :meth:`add_shortcut`. See the module docstring for the options.
  """

  features: int
  strides: int = 1
  shortcut: bool = True
  shortcut_type: str = 'B'
  project_on_stride: bool = True
  proj_bias: bool = False
  proj_kernel_size: int = 1
  zero_init_last: bool = False
  dropout_rate: float = 0.0
  drop_path_rate: float = 0.0
  act: Any = 'relu'
  padding: layers.Padding = 'torch'
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  dtype: Any = jnp.float32

  def conv_bn_act(self, **kwargs):
    """``layers.ConvBNAct`` with the unit's padding, BN settings and dtype."""
    return functools.partial(
      layers.ConvBNAct,
      padding=self.padding,
      bn_momentum=self.bn_momentum,
      bn_epsilon=self.bn_epsilon,
      dtype=self.dtype,
      **kwargs,
    )

  def batch_norm(self, train: bool):
    """``layers.batch_norm`` with the unit's BN settings and dtype."""
    return functools.partial(
      layers.batch_norm,
      train,
      dtype=self.dtype,
      momentum=self.bn_momentum,
      epsilon=self.bn_epsilon,
    )

  def add_shortcut(
    self,
    x,
    y,
    train: bool,
    out_features: int,
    preact=None,
    pre_norm: bool = False,
    use_bn: bool = True,
    identity=None,
  ):
    """``y`` plus the shortcut of ``x`` (``y`` alone in a plain net).

    Called from the unit's compact ``__call__``: the modules it makes
    (``drop_path``, ``downsample``) are the unit's children. ``identity``:
    the shortcut, if the unit computed it (:meth:`shortcut_of`) before its
    branch.
    """
    if not self.shortcut:
      return y
    if self.drop_path_rate:
      y = layers.StochasticDepth(self.drop_path_rate, name='drop_path')(
        y, train
      )
    if identity is None:
      identity = self.shortcut_of(
        x, train, out_features, preact, pre_norm, use_bn
      )
    return y + identity.astype(y.dtype)

  def shortcut_of(
    self,
    x,
    train: bool,
    out_features: int,
    preact=None,
    pre_norm: bool = False,
    use_bn: bool = True,
  ):
    """The shortcut path of ``x`` (the unit's child ``downsample``).

    A unit whose reference runs the projection before the branch (RegNet)
    calls this first, so that the layers run in the reference's order (the
    converter pairs them in that order).
    """
    return Shortcut(
      out_features,
      self.strides,
      self.shortcut_type,
      project_on_stride=self.project_on_stride,
      kernel_size=self.proj_kernel_size,
      use_bn=use_bn,
      use_bias=self.proj_bias,
      pre_norm=pre_norm,
      act=self.act,
      padding=self.padding,
      bn_momentum=self.bn_momentum,
      bn_epsilon=self.bn_epsilon,
      dtype=self.dtype,
      name='downsample',
    )(x, preact, train)


class BasicBlock(ResidualUnit):
  """conv3x3(stride)-BN-act-[dropout]-conv3x3-BN-[SE], + shortcut, act.

  torchvision's ``BasicBlock`` (stride on the first conv); ``conv_bias`` and
  ``padding='SAME'`` give the Keras form.
  """

  proj_bn: bool = True
  se_ratio: float = 0.0
  conv_bias: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    cba = self.conv_bn_act(use_bias=self.conv_bias)
    y = cba(self.features, 3, self.strides, act=self.act, name='conv1')(
      x, train
    )
    if self.dropout_rate:
      y = nn.Dropout(self.dropout_rate, deterministic=not train)(y)
    y = cba(
      self.features, 3, act=None, zero_init_bn=self.zero_init_last, name='conv2'
    )(y, train)
    if self.se_ratio:
      y = layers.SqueezeExcite(
        se_width(self.features, self.se_ratio), dtype=self.dtype, name='se'
      )(y)
    y = self.add_shortcut(x, y, train, self.features, use_bn=self.proj_bn)
    return layers.get_activation(self.act)(y)


class BottleneckBlock(ResidualUnit):
  """conv1x1-BN-act-conv3x3(groups)-BN-act-conv1x1-BN-[SE], + shortcut, act.

  ``features`` is the "planes" of torchvision: the unit outputs
  ``features * expansion`` channels; its 3x3 conv has
  ``int(features * base_width / 64) * groups`` channels, its first 1x1 conv
  that many divided by ``reduce_first`` (2 in SENet-154, as timm).
  """

  groups: int = 1
  base_width: int = 64
  expansion: int = 4
  reduce_first: int = 1
  stride_on_3x3: bool = True
  proj_bn: bool = True
  se_ratio: float = 0.0
  conv_bias: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    width = int(self.features * self.base_width / 64) * self.groups
    out = self.features * self.expansion
    s1, s3 = (1, self.strides) if self.stride_on_3x3 else (self.strides, 1)
    cba = self.conv_bn_act(use_bias=self.conv_bias)
    y = cba(width // self.reduce_first, 1, s1, act=self.act, name='conv1')(
      x, train
    )
    y = cba(width, 3, s3, groups=self.groups, act=self.act, name='conv2')(
      y, train
    )
    if self.dropout_rate:
      y = nn.Dropout(self.dropout_rate, deterministic=not train)(y)
    y = cba(out, 1, act=None, zero_init_bn=self.zero_init_last, name='conv3')(
      y, train
    )
    if self.se_ratio:
      y = layers.SqueezeExcite(
        se_width(out, self.se_ratio), dtype=self.dtype, name='se'
      )(y)
    y = self.add_shortcut(x, y, train, out, use_bn=self.proj_bn)
    return layers.get_activation(self.act)(y)


class RegNetBottleneck(ResidualUnit):
  """conv1x1-BN-act-conv3x3(groups)-BN-act-[SE]-conv1x1-BN, + shortcut, act.

  RegNet's X block (Radosavovic et al. 2020, "Designing Network Design
  Spaces"), and with ``se_ratio`` its Y block; torchvision's
  ``ResBottleneckBlock``. No 4x expansion: the unit outputs ``features``
  channels; its inner width is ``round(features * bottleneck_multiplier)``
  in groups of ``group_width`` channels. The SE sits between the 3x3 and the
  last 1x1 conv and squeezes to ``round(se_ratio * in_channels)``: its
  width follows the unit's *input*, as torchvision's. The projection runs
  before the branch, as in torchvision (the converter pairs layers in order).
  """

  bottleneck_multiplier: float = 1.0
  group_width: int = 1
  se_ratio: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False):
    in_features = x.shape[-1]
    width = int(round(self.features * self.bottleneck_multiplier))
    identity = (
      self.shortcut_of(x, train, self.features) if self.shortcut else None
    )
    cba = self.conv_bn_act()
    y = cba(width, 1, act=self.act, name='conv1')(x, train)
    y = cba(
      width,
      3,
      self.strides,
      groups=width // self.group_width,
      act=self.act,
      name='conv2',
    )(y, train)
    if self.se_ratio:
      y = layers.SqueezeExcite(
        int(round(self.se_ratio * in_features)),
        act=self.act,
        dtype=self.dtype,
        name='se',
      )(y)
    y = cba(
      self.features,
      1,
      act=None,
      zero_init_bn=self.zero_init_last,
      name='conv3',
    )(y, train)
    y = self.add_shortcut(x, y, train, self.features, identity=identity)
    return layers.get_activation(self.act)(y)


class PreActBasicBlock(ResidualUnit):
  """BN-act-conv3x3(stride)-BN-act-[dropout]-conv3x3, + shortcut (no act).

  The Wide ResNet unit (Zagoruyko & Komodakis 2016) and timm's ``PreActBasic``.
  Projections take the shared pre-activation (``proj_preact='shared'``) or a
  BN-act of their own (``'own'``: the UvA DL tutorial's PreActResNetBlock).
  """

  proj_preact: str = 'shared'
  conv_bias: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    act = layers.get_activation(self.act)
    bn = self.batch_norm(train)
    cv = functools.partial(
      layers.conv,
      use_bias=self.conv_bias,
      padding=self.padding,
      dtype=self.dtype,
    )
    preact = act(bn(name='bn1')(x))
    y = cv(self.features, 3, self.strides, name='conv1')(preact)
    y = act(bn(name='bn2')(y))
    if self.dropout_rate:
      y = nn.Dropout(self.dropout_rate, deterministic=not train)(y)
    y = cv(self.features, 3, zero_init=self.zero_init_last, name='conv2')(y)
    return _pre_act_merge(self, x, y, preact, train, self.features)


class PreActBottleneck(ResidualUnit):
  """BN-act-conv1x1-BN-act-conv3x3(stride, groups)-BN-act-conv1x1, + shortcut.

  He et al. 2016 (ResNet-164/1001), timm's ``PreActBottleneck`` and, with
  ``last_conv_bias=True, proj_bias=True, project_on_stride=False``, Keras'
  ``ResNet50V2`` unit.
  """

  groups: int = 1
  base_width: int = 64
  expansion: int = 4
  proj_preact: str = 'shared'
  last_conv_bias: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    act = layers.get_activation(self.act)
    bn = self.batch_norm(train)
    cv = functools.partial(layers.conv, padding=self.padding, dtype=self.dtype)
    width = int(self.features * self.base_width / 64) * self.groups
    out = self.features * self.expansion
    preact = act(bn(name='bn1')(x))
    y = cv(width, 1, name='conv1')(preact)
    y = act(bn(name='bn2')(y))
    y = cv(width, 3, self.strides, groups=self.groups, name='conv2')(y)
    y = act(bn(name='bn3')(y))
    if self.dropout_rate:
      y = nn.Dropout(self.dropout_rate, deterministic=not train)(y)
    y = cv(
      out,
      1,
      use_bias=self.last_conv_bias,
      zero_init=self.zero_init_last,
      name='conv3',
    )(y)
    return _pre_act_merge(self, x, y, preact, train, out)


def _pre_act_merge(unit, x, y, preact, train, out_features):
  """Pre-activation units: projections of the shared pre-activation or of
  ``x`` through a BN-act of their own; no BN after the projection."""
  if unit.proj_preact not in ('shared', 'own'):
    raise ValueError(f'Unknown proj_preact {unit.proj_preact!r}.')
  own = unit.proj_preact == 'own'
  return unit.add_shortcut(
    x,
    y,
    train,
    out_features,
    preact=None if own else preact,
    pre_norm=own,
    use_bn=False,
  )


def residual_stages(
  x,
  *,
  block_cls: ModuleDef,
  stage_sizes: Sequence[int],
  widths: Sequence[int],
  strides: Sequence[int],
  train: bool,
  stride_in_last_block: bool = False,
  drop_path_rate: float = 0.0,
  **block_kwargs,
):
  """Runs the stages of units; call from a model's compact ``__call__``.

  Units are named ``layer{stage}_{index}`` (torchvision's ``layerS.I``). The
  stride of a stage goes to its first unit, or to its last one with
  ``stride_in_last_block`` (Keras ResNetV2). Stochastic depth grows linearly
  with the unit index from 0 to ``drop_path_rate`` (timm's rule).
  """
  if not len(stage_sizes) == len(widths) == len(strides):
    raise ValueError('stage_sizes, widths and strides differ in length.')
  total = sum(stage_sizes)
  index = 0
  for s, (size, width, stride) in enumerate(zip(stage_sizes, widths, strides)):
    strided = size - 1 if stride_in_last_block else 0
    for b in range(size):
      kwargs = dict(block_kwargs)
      if drop_path_rate:
        kwargs['drop_path_rate'] = drop_path_rate * index / max(total - 1, 1)
      x = block_cls(
        features=width,
        strides=stride if b == strided else 1,
        name=f'layer{s + 1}_{b}',
        **kwargs,
      )(x, train)
      index += 1
  return x
