"""Building blocks shared by every model family.

Conventions (so that families stay consistent and convertible from PyTorch):
  * Images are NHWC. Models take ``(x, train: bool)`` and return logits.
  * Convolutions use PyTorch's symmetric padding (``k // 2`` on each side,
    times the dilation) unless a family asks for TF/Keras ``'SAME'``: with a
    stride of 2 and an even input, ``'SAME'`` pads only at the end, PyTorch pads
    both sides, and the two give different outputs.
  * BatchNorm defaults follow PyTorch (epsilon 1e-5, momentum 0.1, which is
    Flax's ``momentum=0.9`` since Flax weights the running average, PyTorch the
    new batch). Keras-derived families pass ``epsilon=1e-3, momentum=0.99``.
  * ``dtype`` is the compute dtype (e.g. bfloat16); parameters stay float32.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Union

import flax.linen as nn
import jax
import jax.numpy as jnp

# ``flax.linen.Conv`` with the same parameters, names and initializers,
# computed by oneDNN on the CPU backend and by XLA elsewhere
# (``cnn_jax.ops.conv``). Every model builds its convolutions from this class.
from cnn_jax.ops.conv import Conv  # pylint: disable=g-bad-import-order,unused-import
from cnn_jax.ops import pool

Dtype = Any
Activation = Optional[Callable[[jax.Array], jax.Array]]
Padding = Union[str, Sequence[tuple[int, int]]]

# He-normal fan-out init, as torchvision initializes convolutions.
conv_kernel_init = nn.initializers.variance_scaling(2.0, 'fan_out', 'normal')


def relu6(x):
  return jnp.minimum(jax.nn.relu(x), 6.0)


def hard_sigmoid(x):
  """PyTorch's Hardsigmoid: relu6(x + 3) / 6."""
  return relu6(x + 3.0) / 6.0


def hard_swish(x):
  """PyTorch's Hardswish (MobileNet v3): x * relu6(x + 3) / 6."""
  return x * hard_sigmoid(x)


def gelu(x):
  """GELU in its exact (erf) form: PyTorch's ``nn.GELU()`` and Keras'
  ``gelu`` default to it; Flax's ``nn.gelu`` defaults to the tanh
  approximation, which differs by up to 5e-4."""
  return jax.nn.gelu(x, approximate=False)


ACTIVATIONS: dict[str, Activation] = {
  'relu': nn.relu,
  'relu6': relu6,
  'tanh': jnp.tanh,
  'sigmoid': nn.sigmoid,
  'silu': nn.swish,
  'swish': nn.swish,
  'hard_swish': hard_swish,
  'hard_sigmoid': hard_sigmoid,
  'gelu': gelu,
  'none': None,
}


def get_activation(name_or_fn: Union[str, Activation]) -> Activation:
  """Returns an activation function from its name (or passes a callable)."""
  if name_or_fn is None or callable(name_or_fn):
    return name_or_fn
  try:
    return ACTIVATIONS[name_or_fn]
  except KeyError:
    raise ValueError(
      f'Unknown activation {name_or_fn!r}; known: '
      f'{", ".join(sorted(ACTIVATIONS))}'
    ) from None


def make_divisible(
  value: float, divisor: int = 8, min_value: Optional[int] = None
) -> int:
  """Rounds a channel count to a multiple of ``divisor`` (MobileNet rule).

  Never goes down by more than 10%.
  """
  min_value = min_value or divisor
  new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
  if new_value < 0.9 * value:
    new_value += divisor
  return new_value


def _pair(v: Union[int, Sequence[int]]) -> tuple[int, int]:
  return (v, v) if isinstance(v, int) else tuple(v)


def symmetric_padding(
  kernel_size: Union[int, Sequence[int]], dilation: int = 1
) -> list[tuple[int, int]]:
  """PyTorch-style padding ``dilation * (k - 1) // 2`` on both sides."""
  return [(dilation * (k - 1) // 2,) * 2 for k in _pair(kernel_size)]


def conv(
  features: int,
  kernel_size: Union[int, Sequence[int]],
  strides: Union[int, Sequence[int]] = 1,
  *,
  groups: int = 1,
  dilation: int = 1,
  padding: Padding = 'torch',
  use_bias: bool = False,
  zero_init: bool = False,
  kernel_init: Callable = conv_kernel_init,
  dtype: Dtype = jnp.float32,
  name: Optional[str] = None,
) -> Conv:
  """A bare convolution (no norm, no activation) in this project's conventions.

  ``padding='torch'`` is PyTorch's symmetric padding; ``zero_init`` starts the
  kernel at zero (the last conv of a pre-activation residual branch).
  """
  if isinstance(padding, str) and padding == 'torch':
    padding = symmetric_padding(kernel_size, dilation)
  return Conv(
    features,
    _pair(kernel_size),
    _pair(strides),
    padding=padding,
    kernel_dilation=dilation,
    feature_group_count=groups,
    use_bias=use_bias,
    kernel_init=nn.initializers.zeros if zero_init else kernel_init,
    dtype=dtype,
    name=name,
  )


def batch_norm(
  train: bool,
  *,
  dtype: Dtype = jnp.float32,
  momentum: float = 0.9,
  epsilon: float = 1e-5,
  scale_init: Callable = nn.initializers.ones,
  name: Optional[str] = None,
  **kwargs,
) -> nn.BatchNorm:
  """A BatchNorm in this project's conventions (see module docstring)."""
  return nn.BatchNorm(
    use_running_average=not train,
    momentum=momentum,
    epsilon=epsilon,
    dtype=dtype,
    scale_init=scale_init,
    name=name,
    **kwargs,
  )


def layer_norm(
  *,
  epsilon: float = 1e-6,
  dtype: Dtype = jnp.float32,
  name: Optional[str] = None,
) -> nn.LayerNorm:
  """LayerNorm over the last axis: the channels of an NHWC map (torchvision's
  ``LayerNorm2d``, which permutes to channels-last for it) or of a pooled
  (N, C) vector. Epsilon 1e-6 as ConvNeXt's (torchvision and Keras). The
  variance is the two-pass ``mean((x - mean)^2)`` of both references, not
  Flax's default ``E[x^2] - E[x]^2``, which loses digits on large means."""
  return nn.LayerNorm(
    epsilon=epsilon, dtype=dtype, use_fast_variance=False, name=name
  )


class ConvBNAct(nn.Module):
  """Conv -> BatchNorm -> activation, the unit nearly every CNN is made of.

  Attributes:
    features: output channels.
    kernel_size: int or (kh, kw).
    strides: int or (sh, sw).
    groups: ``feature_group_count`` (``features == in_channels == groups`` is a
      depthwise conv).
    dilation: kernel dilation.
    padding: ``'torch'`` (symmetric, the default), ``'SAME'``, ``'VALID'`` or
      explicit ``[(lo, hi), (lo, hi)]``.
    act: activation (callable or name from ``ACTIVATIONS``); None for linear.
    use_bn: whether to normalize; without BN the conv gets a bias.
    use_bias: conv bias; defaults to ``not use_bn``.
    bn_momentum, bn_epsilon: BatchNorm settings.
    zero_init_bn: start the BN scale at zero (last BN of a residual branch).
    bn_scale: False drops the BN scale (Keras ``conv2d_bn`` in Inception-v3).
    kernel_init: the conv kernel's initializer.
    dtype: compute dtype.
  """

  features: int
  kernel_size: Union[int, Sequence[int]] = 3
  strides: Union[int, Sequence[int]] = 1
  groups: int = 1
  dilation: int = 1
  padding: Padding = 'torch'
  act: Union[str, Activation] = 'relu'
  use_bn: bool = True
  use_bias: Optional[bool] = None
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  zero_init_bn: bool = False
  bn_scale: bool = True
  kernel_init: Callable = conv_kernel_init
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    use_bias = (not self.use_bn) if self.use_bias is None else self.use_bias
    x = conv(
      self.features,
      self.kernel_size,
      self.strides,
      groups=self.groups,
      dilation=self.dilation,
      padding=self.padding,
      use_bias=use_bias,
      kernel_init=self.kernel_init,
      dtype=self.dtype,
      name='conv',
    )(x)
    if self.use_bn:
      scale_init = (
        nn.initializers.zeros if self.zero_init_bn else nn.initializers.ones
      )
      x = batch_norm(
        train,
        dtype=self.dtype,
        momentum=self.bn_momentum,
        epsilon=self.bn_epsilon,
        scale_init=scale_init,
        use_scale=self.bn_scale,
        name='bn',
      )(x)
    act = get_activation(self.act)
    return act(x) if act is not None else x


class SqueezeExcite(nn.Module):
  """Squeeze-and-excitation (Hu et al. 2018): channel gates from global context.

  Attributes:
    reduced_features: width of the bottleneck (e.g. ``channels // 16`` for
      SENet, ``make_divisible(channels // 4)`` for MobileNet v3).
    act: activation after the reduction.
    gate: gating nonlinearity (sigmoid, or hard-sigmoid in MobileNet v3).
  """

  reduced_features: int
  act: Union[str, Activation] = 'relu'
  gate: Union[str, Activation] = 'sigmoid'
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    s = jnp.mean(x, axis=(1, 2), keepdims=True)
    s = Conv(self.reduced_features, (1, 1), dtype=self.dtype, name='reduce')(s)
    s = get_activation(self.act)(s)
    s = Conv(channels, (1, 1), dtype=self.dtype, name='expand')(s)
    return x * get_activation(self.gate)(s)


class Fire(nn.Module):
  """SqueezeNet's fire module (Iandola et al. 2016): a 1x1 "squeeze" conv,
  then 1x1 and 3x3 "expand" convs side by side, concatenated.

  Convs with bias, each followed by ReLU, no BatchNorm (torchvision's
  ``Fire``; its names ``squeeze``, ``expand1x1``, ``expand3x3``).
  """

  squeeze_features: int
  expand1x1_features: int
  expand3x3_features: int
  kernel_init: Callable = conv_kernel_init
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    conv = lambda *a, **k: ConvBNAct(  # noqa: E731
      *a, use_bn=False, kernel_init=self.kernel_init, dtype=self.dtype, **k
    )
    x = conv(self.squeeze_features, 1, name='squeeze')(x, train)
    return jnp.concatenate(
      [
        conv(self.expand1x1_features, 1, name='expand1x1')(x, train),
        conv(self.expand3x3_features, 3, name='expand3x3')(x, train),
      ],
      axis=-1,
    )


def channel_shuffle(x: jax.Array, groups: int) -> jax.Array:
  """ShuffleNet's channel shuffle (Zhang et al. 2018): NHWC channels viewed
  as (groups, C / groups), transposed, flattened, so that channel ``i`` of
  every group ends up side by side (torchvision's ``channel_shuffle``)."""
  *lead, channels = x.shape
  x = x.reshape(*lead, groups, channels // groups)
  return jnp.swapaxes(x, -1, -2).reshape(*lead, channels)


class StochasticDepth(nn.Module):
  """Drops a residual branch per example with probability ``rate`` in training.

  Kept branches are scaled by ``1 / (1 - rate)`` (torchvision's
  ``StochasticDepth(mode='row')``) so nothing changes at evaluation. Uses the
  ``'dropout'`` RNG stream.
  """

  rate: float

  @nn.compact
  def __call__(self, x, train: bool = False, rate_scale=1.0):
    """``rate_scale`` (a number or a traced scalar in [0, 1]) multiplies
    ``rate`` for this call: NASNet's ScheduledDropPath ramps it with training
    progress."""
    if not train or self.rate == 0.0:
      return x
    keep = 1.0 - self.rate * rate_scale
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    mask = jax.random.bernoulli(self.make_rng('dropout'), keep, shape)
    return jnp.where(mask, x / keep, jnp.zeros_like(x))


class LayerScale(nn.Module):
  """Multiplies each channel (last axis) by a learned ``gamma`` (Touvron et
  al. 2021, "Going deeper with Image Transformers"; ConvNeXt's residual
  branches). Starting at ``init_value`` (1e-6), a branch adds almost nothing
  until training grows it.

  The parameter is ``gamma`` (Keras' name; torchvision's ``layer_scale``), not
  ``scale``: ``scale`` and ``bias`` name normalization parameters, which
  ``norm_weight_decay`` tells apart by name, and torchvision decays this one
  like a weight.
  """

  init_value: float = 1e-6
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    gamma = self.param(
      'gamma', nn.initializers.constant(self.init_value), (x.shape[-1],)
    )
    return x * gamma.astype(self.dtype)


class LocalResponseNorm(nn.Module):
  """Local response normalization across channels (AlexNet, GoogLeNet v1).

  ``b_c = a_c / (k + alpha * sum_{c' in window} a_c'^2) ** beta`` with a window
  of ``size`` channels centred on ``c``. The AlexNet paper writes ``alpha``
  outside the sum; PyTorch's ``nn.LocalResponseNorm`` divides it by ``size``:
  ``alpha_over_size=True`` gives PyTorch's form.
  """

  size: int = 5
  alpha: float = 1e-4
  beta: float = 0.75
  k: float = 2.0
  alpha_over_size: bool = False

  @nn.compact
  def __call__(self, x):
    sq = jnp.square(x.astype(jnp.float32))
    half = self.size // 2
    # Sum of squares over a channel window, zero-padded at the edges.
    padded = jnp.pad(
      sq, [(0, 0)] * (x.ndim - 1) + [(half, self.size - 1 - half)]
    )
    window = sum(padded[..., i : i + x.shape[-1]] for i in range(self.size))
    alpha = self.alpha / self.size if self.alpha_over_size else self.alpha
    return (x / jnp.power(self.k + alpha * window, self.beta)).astype(x.dtype)


def global_avg_pool(x: jax.Array) -> jax.Array:
  """Mean over height and width: (N, H, W, C) -> (N, C)."""
  return jnp.mean(x, axis=(1, 2))


def max_pool(
  x: jax.Array,
  window: int,
  stride: int,
  padding: Padding = 'VALID',
  ceil_mode: bool = False,
) -> jax.Array:
  """Max pooling; ``ceil_mode`` reproduces PyTorch's ``ceil_mode=True``.

  Inside a model it is a :class:`cnn_jax.ops.pool.MaxPool` (oneDNN on the
  CPU, XLA elsewhere; the enclosing ``conv_impl`` decides); outside one,
  :func:`cnn_jax.ops.pool.max_pool`.
  """
  if isinstance(padding, int):
    padding = [(padding, padding)] * 2
  if ceil_mode:
    padding = _ceil_mode_padding(
      x.shape[1:3],
      window,
      stride,
      padding if not isinstance(padding, str) else [(0, 0)] * 2,
    )
  if not isinstance(padding, str):
    padding = tuple(tuple(p) for p in padding)
  return _in_module(
    pool.MaxPool((window, window), (stride, stride), padding), x
  )


def avg_pool(
  x: jax.Array,
  window: int,
  stride: int,
  padding: Padding = 'VALID',
  count_include_pad: bool = True,
) -> jax.Array:
  """Average pooling, as :func:`max_pool` (:class:`cnn_jax.ops.pool.AvgPool`)."""
  if isinstance(padding, int):
    padding = [(padding, padding)] * 2
  if not isinstance(padding, str):
    padding = tuple(tuple(p) for p in padding)
  return _in_module(
    pool.AvgPool(
      (window, window),
      (stride, stride),
      padding,
      count_include_pad=count_include_pad,
    ),
    x,
  )


def _in_module(module: nn.Module, x: jax.Array) -> jax.Array:
  """Runs a variable-free layer built inside a module's method as that
  module's child (so it sees the enclosing ``conv_impl``), or alone."""
  if module.parent is None:  # built outside any module
    return module.apply({}, x)
  return module(x)


def _ceil_mode_padding(spatial, window, stride, padding):
  """Extra end padding so the output size is computed with ceil, as in torch."""
  out = []
  for size, (lo, hi) in zip(spatial, padding):
    n_floor = (size + lo + hi - window) // stride + 1
    n_ceil = -(-(size + lo + hi - window) // stride) + 1
    # PyTorch drops a last window that would start in the right padding.
    if (n_ceil - 1) * stride >= size + lo:
      n_ceil -= 1
    extra = max(0, (n_ceil - n_floor) * stride)
    out.append((lo, hi + extra))
  return out


def dense(
  features: int,
  dtype: Dtype = jnp.float32,
  name: Optional[str] = None,
  **kwargs,
) -> nn.Dense:
  """A Dense layer in the model's compute dtype."""
  return nn.Dense(features, dtype=dtype, name=name, **kwargs)


class SeparableConv(nn.Module):
  """Depthwise conv followed by a pointwise (1x1) conv, no norm in between.

  Keras' ``SeparableConv2D`` and timm's ``SeparableConv2d`` (Xception, NASNet).
  MobileNets put BN + activation between the two: build those from two
  ``ConvBNAct`` instead.
  """

  features: int
  kernel_size: int = 3
  strides: int = 1
  dilation: int = 1
  padding: Padding = 'torch'
  use_bias: bool = False
  depth_multiplier: int = 1
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    x = conv(
      channels * self.depth_multiplier,
      self.kernel_size,
      self.strides,
      groups=channels,
      dilation=self.dilation,
      padding=self.padding,
      dtype=self.dtype,
      name='depthwise',
    )(x)
    return conv(
      self.features,
      1,
      use_bias=self.use_bias,
      dtype=self.dtype,
      name='pointwise',
    )(x)


def separable_conv_bn(
  x,
  train: bool,
  features: int,
  *,
  names: tuple[str, str],
  kernel_size: int = 3,
  strides: int = 1,
  padding: Padding = 'torch',
  bn_epsilon: float,
  bn_momentum: float,
  dtype: Dtype = jnp.float32,
):
  """:class:`SeparableConv` then BatchNorm, as Xception and NASNet chain
  them. Built in the calling module's scope, named ``names`` (conv, BN), so
  the parameters keep the names the references' converters map."""
  x = SeparableConv(
    features, kernel_size, strides, padding=padding, dtype=dtype, name=names[0]
  )(x)
  return batch_norm(
    train, dtype=dtype, epsilon=bn_epsilon, momentum=bn_momentum, name=names[1]
  )(x)
