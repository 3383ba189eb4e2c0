"""The convolution every model calls: oneDNN on the CPU backend, XLA's elsewhere.

:func:`conv_general_dilated` has ``jax.lax.conv_general_dilated``'s signature
and results. :class:`Conv` is ``flax.linen.Conv`` computed by it (same
parameters, names, shapes and initializers, so checkpoints and parameter
counts do not change); every model builds its convolutions from it.

Why: XLA:CPU runs its convolutions on one thread per device (and small ones
on a slow path), so a CNN train step on a CPU used about one core. oneDNN,
the library behind PyTorch's CPU convolutions, splits each convolution over
all cores with kernels for the CPU's instruction set (AVX2, AVX-512, AVX-512
bf16, AMX). Figures: BENCHMARKS.md.

How the path is chosen, without global state:

* A convolution oneDNN can take (2-D, NHWC/HWIO, no input dilation, no batch
  groups, float32 or bfloat16 inputs of one dtype, padding >= 0) becomes three
  JAX primitives, one per pass: forward, input gradient (``backward_data``)
  and kernel gradient (``backward_weights``), tied together by transpose
  rules (as ``lax``'s own convolution is), so ``grad``, ``vjp``, ``jvp``,
  ``linearize`` and ``jax.checkpoint`` see ordinary primitives.
* Each primitive chooses its implementation when it is lowered, per
  platform (``mlir.register_lowering(..., platform='cpu')``): on the CPU it
  becomes a ``jax.ffi`` custom call into oneDNN
  (:mod:`cnn_jax.ops.onednn`); on every other platform, and on the CPU when
  the library is not built or oneDNN has only its slow reference code for
  that shape, it lowers to exactly the convolution ``lax`` would have emitted
  (the forward convolution, or ``lax``'s transposes of it).
* Everything else goes to ``lax.conv_general_dilated`` directly.
* ``impl='xla'`` (an argument here; a field of :class:`Conv`, or inherited
  from an enclosing module's ``conv_impl`` attribute, see
  :class:`WithConvImpl`) always takes ``lax``'s convolution, for comparisons.

Transformations:

* ``vmap``: the primitives hold a leading "group" axis G of independent
  convolutions: x (G, N, H, W, C), w (G, KH, KW, C / groups, O). A vmapped
  input with an unbatched kernel (ghost BatchNorm vmaps the model over groups
  of examples with shared parameters) is folded into N, so it stays one
  large oneDNN call; a vmapped kernel (per-example gradients) goes to G, one
  oneDNN call per group inside the same custom call.
* SPMD (``jit`` with the batch sharded over devices): on D > 1 devices the
  custom call gets a leading axis of D slices (N split into D x N/D, the
  kernel broadcast) and is registered as batch-partitionable
  (``jax.ffi.register_ffi_target_as_batch_partitionable`` with a Shardy rule
  ``... dims -> ... dims``), so XLA gives each device its own slice and the
  batch stays sharded; the kernel gradient's D partial sums are then summed,
  which XLA turns into an all-reduce, as for its own convolution.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Sequence

import flax.linen as nn
from flax.linen import dtypes as flax_dtypes
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.core import ShapedArray
from jax.interpreters import ad
from jax.interpreters import batching
from jax.interpreters import mlir

from cnn_jax.ops import custom_call
from cnn_jax.ops import onednn
from cnn_jax.ops.custom_call import out_hw, pair

IMPLS = ('auto', 'xla')
NHWC = ('NHWC', 'HWIO', 'NHWC')


# --------------------------------------------------------------------------
# Which convolutions oneDNN takes.
# --------------------------------------------------------------------------
def _is_nhwc_hwio(lhs_shape, rhs_shape, dimension_numbers) -> bool:
  if dimension_numbers is None:
    return False
  try:
    dn = lax.conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers)
    want = lax.conv_dimension_numbers(lhs_shape, rhs_shape, NHWC)
  except (TypeError, ValueError):
    return False
  return tuple(map(tuple, dn)) == tuple(map(tuple, want))


def onednn_params(
  lhs,
  rhs,
  window_strides,
  padding,
  lhs_dilation=None,
  rhs_dilation=None,
  dimension_numbers=None,
  feature_group_count=1,
  batch_group_count=1,
  precision=None,
  preferred_element_type=None,
) -> Optional[dict]:
  """The primitives' parameters, or None where ``lax`` must compute it."""
  if np.ndim(lhs) != 4 or np.ndim(rhs) != 4:
    return None
  if not _is_nhwc_hwio(np.shape(lhs), np.shape(rhs), dimension_numbers):
    return None
  strides, dilation = pair(window_strides), pair(rhs_dilation)
  if strides is None or dilation is None or pair(lhs_dilation) != (1, 1):
    return None
  if batch_group_count != 1 or min(strides + dilation) < 1:
    return None
  dtype = np.dtype(lhs.dtype)
  if dtype not in custom_call.DTYPES or np.dtype(rhs.dtype) != dtype:
    return None
  if (
    preferred_element_type is not None
    and np.dtype(preferred_element_type) != dtype
  ):
    return None
  n, h, w, c = np.shape(lhs)
  kh, kw, i, o = np.shape(rhs)
  groups = int(feature_group_count)
  if groups < 1 or i * groups != c or o % groups or min(n, c, o) < 1:
    return None
  padding = custom_call.explicit_padding(
    (h, w),
    ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1),
    strides,
    padding,
  )
  if padding is None or min(p for side in padding for p in side) < 0:
    return None
  if min(out_hw((h, w), (kh, kw), strides, padding, dilation)) < 1:
    return None
  if isinstance(precision, list):
    precision = tuple(precision)  # primitive parameters must hash.
  return dict(
    strides=strides,
    padding=padding,
    dilation=dilation,
    groups=groups,
    precision=precision,
    preferred_element_type=None,
  )


# --------------------------------------------------------------------------
# The three passes: shapes (G, N, H, W, C) / (G, KH, KW, C / groups, O).
# --------------------------------------------------------------------------
def _fwd_abstract(x, w, *, strides, padding, dilation, groups, **_):
  g, n, h, wd, _ = x.shape
  _, kh, kw, _, o = w.shape
  ho, wo = out_hw((h, wd), (kh, kw), strides, padding, dilation)
  return ShapedArray((g, n, ho, wo, o), x.dtype)


def _bwd_data_abstract(dy, w, *, in_hw, groups, **_):
  g, n = dy.shape[:2]
  return ShapedArray((g, n, *in_hw, w.shape[3] * groups), dy.dtype)


def _bwd_weights_abstract(x, dy, *, kernel_hw, groups, **_):
  return ShapedArray(
    (x.shape[0], *kernel_hw, x.shape[4] // groups, dy.shape[4]), x.dtype
  )


# --------------------------------------------------------------------------
# Their XLA computations (other platforms, and the CPU's fallback): lax's
# own convolution and its transposes.
# --------------------------------------------------------------------------
def _lax_conv(
  x, w, *, strides, padding, dilation, groups, precision, preferred_element_type
):
  return lax.conv_general_dilated(
    x,
    w,
    strides,
    padding,
    rhs_dilation=dilation,
    dimension_numbers=NHWC,
    feature_group_count=groups,
    precision=precision,
    preferred_element_type=preferred_element_type,
  )


def _per_group(fn, a, b):
  if a.shape[0] == 1:
    return fn(a[0], b[0])[None]
  return jax.vmap(fn)(a, b)


def _xla_fwd(x, w, **params):
  return _per_group(functools.partial(_lax_conv, **params), x, w)


def _xla_bwd_data(dy, w, *, in_hw, **params):
  def one(dy, w):
    x = jax.ShapeDtypeStruct(
      (dy.shape[0], *in_hw, w.shape[2] * params['groups']), dy.dtype
    )
    return jax.linear_transpose(lambda x: _lax_conv(x, w, **params), x)(dy)[0]

  return _per_group(one, dy, w)


def _xla_bwd_weights(x, dy, *, kernel_hw, **params):
  def one(x, dy):
    w = jax.ShapeDtypeStruct(
      (*kernel_hw, x.shape[3] // params['groups'], dy.shape[3]), x.dtype
    )
    return jax.linear_transpose(lambda w: _lax_conv(x, w, **params), w)(dy)[0]

  return _per_group(one, x, dy)


# --------------------------------------------------------------------------
# Their CPU lowering: the oneDNN custom call.
# --------------------------------------------------------------------------
def _geometry(pass_, avals_in, avals_out, params, n_local):
  if pass_ == onednn.FORWARD:
    x, w, y = avals_in[0], avals_in[1], avals_out[0]
  elif pass_ == onednn.BACKWARD_DATA:
    y, w, x = avals_in[0], avals_in[1], avals_out[0]
  else:
    x, y, w = avals_in[0], avals_in[1], avals_out[0]
  (pt, pb), (pl, pr) = params['padding']
  return onednn.ConvGeometry(
    n=n_local,
    h=x.shape[2],
    w=x.shape[3],
    c=x.shape[4],
    kh=w.shape[1],
    kw=w.shape[2],
    o=w.shape[4],
    ho=y.shape[2],
    wo=y.shape[3],
    groups=params['groups'],
    sh=params['strides'][0],
    sw=params['strides'][1],
    dh=params['dilation'][0],
    dw=params['dilation'][1],
    pt=pt,
    pb=pb,
    pl=pl,
    pr=pr,
  )


def _fast_kernel(pass_, geometry, dtype) -> bool:
  """oneDNN has a kernel for it other than its reference code ("ref:..."),
  which is far slower than XLA's."""
  impl = onednn.query(pass_, dtype.name, geometry)
  return impl is not None and not impl.startswith('ref')


def _run_onednn(pass_, split, run_dtype, a, b, *, out_aval, **params):
  """Converts, cuts the batch into one slice per device, calls, and back."""
  dtype = a.dtype
  a, b = a.astype(run_dtype), b.astype(run_dtype)
  attrs = dict(
    strides=params['strides'],
    padding=sum(params['padding'], ()),  # (top, bottom, left, right)
    dilation=params['dilation'],
    groups=params['groups'],
  )
  out_shape = tuple(out_aval.shape)
  sliced = split > 1 and out_shape[0] == 1
  if sliced:
    a = custom_call.to_slices(a, split)
    if pass_ == BACKWARD_WEIGHTS:
      b = custom_call.to_slices(b, split)
    else:  # the kernel, whole to every slice
      b = jnp.broadcast_to(b, (split, *b.shape[1:]))
    if pass_ == BACKWARD_WEIGHTS:
      shape = (split, *out_shape[1:])
    else:
      shape = (split, out_shape[1] // split, *out_shape[2:])
  else:
    shape = out_shape
  (out,) = custom_call.call(
    onednn.TARGETS[pass_][0],
    (a, b),
    [ShapedArray(shape, a.dtype)],
    partitioned=split > 1,
    **attrs,
  )
  if sliced and pass_ == BACKWARD_WEIGHTS:  # partial sums of the D slices.
    out = jnp.sum(out.astype(jnp.float32), axis=0, keepdims=True)
  return out.reshape(out_shape).astype(dtype)


def _cpu_lowering(pass_, prim, ctx, a, b, **params):
  if not onednn.available():
    return custom_call.xla_lowering(prim, ctx, a, b, **params)
  groups, n = ctx.avals_in[0].shape[:2]
  split = custom_call.slices(ctx)  # N (G = 1) or G split over devices
  n_local = n // split if groups == 1 else n
  geometry = _geometry(pass_, ctx.avals_in, ctx.avals_out, params, n_local)
  run_dtype = custom_call.run_dtype(
    ctx.avals_in[0].dtype, functools.partial(_fast_kernel, pass_, geometry)
  )
  if run_dtype is None:
    return custom_call.xla_lowering(prim, ctx, a, b, **params)
  conv = {k: v for k, v in params.items() if k not in ('in_hw', 'kernel_hw')}
  fn = functools.partial(
    _run_onednn, pass_, split, run_dtype, out_aval=ctx.avals_out[0], **conv
  )
  return mlir.lower_fun(fn, multiple_results=False)(ctx, a, b)


FORWARD, BACKWARD_DATA, BACKWARD_WEIGHTS = (
  onednn.FORWARD,
  onednn.BACKWARD_DATA,
  onednn.BACKWARD_WEIGHTS,
)
conv_fwd_p = custom_call.primitive(
  'onednn_conv_fwd',
  _fwd_abstract,
  _xla_fwd,
  functools.partial(_cpu_lowering, FORWARD),
)
conv_bwd_data_p = custom_call.primitive(
  'onednn_conv_bwd_data',
  _bwd_data_abstract,
  _xla_bwd_data,
  functools.partial(_cpu_lowering, BACKWARD_DATA),
)
conv_bwd_weights_p = custom_call.primitive(
  'onednn_conv_bwd_weights',
  _bwd_weights_abstract,
  _xla_bwd_weights,
  functools.partial(_cpu_lowering, BACKWARD_WEIGHTS),
)
PRIMITIVES = (conv_fwd_p, conv_bwd_data_p, conv_bwd_weights_p)


# Transposes: each pass is linear in each of its two operands, and the
# transpose of one pass is another pass (as for lax's convolution).
def _fwd_t_x(ct, x, w, **params):
  return conv_bwd_data_p.bind(ct, w, in_hw=tuple(x.aval.shape[2:4]), **params)


def _fwd_t_w(ct, x, w, **params):
  return conv_bwd_weights_p.bind(
    x, ct, kernel_hw=tuple(w.aval.shape[1:3]), **params
  )


def _bwd_data_t_dy(ct, dy, w, *, in_hw, **params):
  del dy, in_hw
  return conv_fwd_p.bind(ct, w, **params)


def _bwd_data_t_w(ct, dy, w, *, in_hw, **params):
  del in_hw
  return conv_bwd_weights_p.bind(
    ct, dy, kernel_hw=tuple(w.aval.shape[1:3]), **params
  )


def _bwd_weights_t_x(ct, x, dy, *, kernel_hw, **params):
  del kernel_hw
  return conv_bwd_data_p.bind(dy, ct, in_hw=tuple(x.aval.shape[2:4]), **params)


def _bwd_weights_t_dy(ct, x, dy, *, kernel_hw, **params):
  del dy, kernel_hw
  return conv_fwd_p.bind(x, ct, **params)


ad.defbilinear(conv_fwd_p, _fwd_t_x, _fwd_t_w)
ad.defbilinear(conv_bwd_data_p, _bwd_data_t_dy, _bwd_data_t_w)
ad.defbilinear(conv_bwd_weights_p, _bwd_weights_t_x, _bwd_weights_t_dy)


# --------------------------------------------------------------------------
# vmap.
# --------------------------------------------------------------------------
def _to_front(v, bdim, size):
  """``v`` with its batch axis first (broadcast there if it has none)."""
  if bdim is None:
    return jnp.broadcast_to(v, (size, *v.shape))
  return jnp.moveaxis(v, bdim, 0)


def _merge_into_groups(prim, args, dims, params):
  """Batch axis B becomes part of G: B * G independent convolutions."""
  size = next(a.shape[d] for a, d in zip(args, dims) if d is not None)
  a, b = (_to_front(v, d, size) for v, d in zip(args, dims))
  out = prim.bind(
    a.reshape(size * a.shape[1], *a.shape[2:]),
    b.reshape(size * b.shape[1], *b.shape[2:]),
    **params,
  )
  return out.reshape(size, out.shape[0] // size, *out.shape[1:]), 0


def _fold_into_batch(prim, act, bdim, w, params):
  """Batched activations, shared kernel: batch axis B joins N (one call)."""
  act = jnp.moveaxis(act, bdim, 1)  # (G, B, N, ...)
  g, size, n = act.shape[:3]
  out = prim.bind(act.reshape(g, size * n, *act.shape[3:]), w, **params)
  return out.reshape(g, size, n, *out.shape[2:]), 1


def _fwd_or_bwd_data_batch(prim, args, dims, **params):
  (act, w), (bdim, wdim) = args, dims
  if wdim is None:
    return _fold_into_batch(prim, act, bdim, w, params)
  return _merge_into_groups(prim, args, dims, params)


batching.primitive_batchers[conv_fwd_p] = functools.partial(
  _fwd_or_bwd_data_batch, conv_fwd_p
)
batching.primitive_batchers[conv_bwd_data_p] = functools.partial(
  _fwd_or_bwd_data_batch, conv_bwd_data_p
)
batching.primitive_batchers[conv_bwd_weights_p] = (
  lambda args, dims, **params: _merge_into_groups(
    conv_bwd_weights_p, args, dims, params
  )
)


# --------------------------------------------------------------------------
# The op and the Flax module.
# --------------------------------------------------------------------------
def conv_general_dilated(
  lhs,
  rhs,
  window_strides: Sequence[int],
  padding,
  lhs_dilation=None,
  rhs_dilation=None,
  dimension_numbers=None,
  feature_group_count: int = 1,
  batch_group_count: int = 1,
  precision=None,
  preferred_element_type=None,
  *,
  impl: str = 'auto',
):
  """``lax.conv_general_dilated``; oneDNN computes it on the CPU backend.

  ``impl``: 'auto' (oneDNN on CPU where it applies, XLA elsewhere) or 'xla'
  (always ``lax.conv_general_dilated``).
  """
  if impl not in IMPLS:
    raise ValueError(f'Unknown conv impl {impl!r}: one of {IMPLS}.')
  lhs, rhs = jnp.asarray(lhs), jnp.asarray(rhs)
  params = None
  if impl == 'auto':
    params = onednn_params(
      lhs,
      rhs,
      window_strides,
      padding,
      lhs_dilation,
      rhs_dilation,
      dimension_numbers,
      feature_group_count,
      batch_group_count,
      precision,
      preferred_element_type,
    )
  if params is None:
    return lax.conv_general_dilated(
      lhs,
      rhs,
      window_strides,
      padding,
      lhs_dilation=lhs_dilation,
      rhs_dilation=rhs_dilation,
      dimension_numbers=dimension_numbers,
      feature_group_count=feature_group_count,
      batch_group_count=batch_group_count,
      precision=precision,
      preferred_element_type=preferred_element_type,
    )
  y = conv_fwd_p.bind(
    lhs.reshape(1, *lhs.shape), rhs.reshape(1, *rhs.shape), **params
  )
  return y.reshape(y.shape[1:])


def inherited_impl(module: nn.Module) -> str:
  """``conv_impl`` of the nearest enclosing module that sets it, or 'auto'."""
  parent = module.parent
  while isinstance(parent, nn.Module):
    impl = getattr(parent, 'conv_impl', None)
    if impl is not None:
      return impl
    parent = parent.parent
  return 'auto'


def _promote_but_bias(inputs, kernel, bias, *, dtype=None, inexact=True):
  """flax's ``promote_dtype`` for the input and kernel; the bias stays in
  its parameter dtype (float32), see :class:`Conv`."""
  inputs, kernel = flax_dtypes.promote_dtype(
    inputs, kernel, dtype=dtype, inexact=inexact
  )
  return inputs, kernel, bias


class Conv(nn.Conv):
  """``flax.linen.Conv`` computed by :func:`conv_general_dilated`.

  Same fields, parameters ('kernel', 'bias'), shapes, initializers and
  auto-generated names ('Conv_0', ...) as ``nn.Conv``. ``impl``: 'auto',
  'xla', or None to inherit the ``conv_impl`` of the nearest enclosing module
  that has one (:class:`WithConvImpl`), else 'auto'.

  The bias is added in float32 and the sum rounded once to ``dtype``: its
  gradient, a sum over the batch and every position of the map, is then
  summed in float32. ``nn.Conv`` adds a bfloat16 copy of the bias, whose
  gradient XLA:CPU sums in bfloat16: over a batch of 64 32x32 maps that sum
  stops growing near 2^-7 (gradients 0.0078 where float32 gives 0.068,
  tests/test_ops.py), and XLA splits it into slow ``reduce-window`` ops
  (a bfloat16 step of the 2-5-5-2 ResNet took 1.4-1.7x as long,
  BENCHMARKS.md).
  """

  impl: Optional[str] = None
  promote_dtype: Callable[..., Any] = _promote_but_bias

  def __post_init__(self):
    super().__post_init__()
    if self.conv_general_dilated is None:
      impl = self.impl if self.impl is not None else inherited_impl(self)
      if impl not in IMPLS:
        raise ValueError(f'Unknown conv impl {impl!r}: one of {IMPLS}.')
      # Frozen dataclass: set once here, from the module's own fields and
      # its parents', so that nothing outside the module tree decides.
      object.__setattr__(
        self,
        'conv_general_dilated',
        functools.partial(conv_general_dilated, impl=impl),
      )

  @nn.nowrap  # one module call (nn.Conv's) for interceptors and summaries.
  def __call__(self, inputs):
    y = super().__call__(inputs)
    # A float32 bias made the sum float32: back to the convolution's dtype.
    if self.dtype is not None:
      return y.astype(self.dtype)
    return y.astype(jnp.result_type(inputs, self.param_dtype))


class WithConvImpl(nn.Module):
  """``model`` with ``conv_impl`` for every :class:`Conv` inside it, and
  every pooling layer (:class:`cnn_jax.ops.pool.MaxPool`, ``AvgPool``).

  The wrapped model runs in this module's own scope (``nn.share_scope``), so
  its variables, their paths and its checkpoints are those of ``model``
  alone. Layers that set ``impl`` themselves keep it.
  """

  model: nn.Module
  conv_impl: str = 'auto'

  def setup(self):
    if self.conv_impl not in IMPLS:
      raise ValueError(f'Unknown conv impl {self.conv_impl!r}: one of {IMPLS}.')
    nn.share_scope(self, self.model)

  def __call__(self, *args, **kwargs):
    return self.model(*args, **kwargs)
