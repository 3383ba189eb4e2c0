"""The pooling every model calls: oneDNN on the CPU backend, XLA's elsewhere.

:func:`max_pool` and :func:`avg_pool` give ``flax.linen.max_pool`` and
``flax.linen.avg_pool``'s results (NHWC, 2-D windows, 'VALID', 'SAME' or
explicit padding; ``count_include_pad``). :class:`MaxPool` and
:class:`AvgPool` are the same as Flax modules (no variables), taking their
implementation from the enclosing modules' ``conv_impl`` as :class:`~cnn_jax.
ops.conv.Conv` does; ``cnn_jax.models.layers.max_pool``/``avg_pool`` build
them, so every model's pooling goes through here.

Why: XLA:CPU computes pooling (``reduce_window``) and, worse, its gradient
(``select_and_scatter``, expanded into compare and scatter loops) on one
thread: half of GoogLeNet's train step (BENCHMARKS.md). oneDNN, which runs
PyTorch's CPU pooling, uses every core with vector kernels.

How, as for the convolutions (:mod:`cnn_jax.ops.conv`), with primitives that
hold a leading group axis G (the axis an SPMD program splits over devices)
and choose their implementation when lowered, per platform:

* Average pooling is linear: ``avg_pool_p`` and its transpose
  ``avg_pool_bwd_p`` (oneDNN's backward pass), each the other's transpose.
* Max pooling: ``max_pool_p`` (oneDNN's inference pass). Its JVP runs
  ``max_pool_train_p``, which returns the output and a workspace (on the CPU,
  oneDNN's record of where each maximum was, one byte per output element;
  zeros elsewhere), and the tangent ``max_pool_tangent_p(t, x, ws)``, linear
  in ``t``. Its transpose ``max_pool_bwd_p(dy, x, ws)`` is oneDNN's backward
  pass, which reads the workspace. So ``grad`` runs oneDNN's forward-training
  and backward passes; forward mode (``jvp``, and the transpose of the
  backward pass) computes the tangent with XLA's rule, which reads ``x``.
  Where several elements of a window tie for the maximum, oneDNN and XLA
  may pick different ones (the gradient goes to one of them either way).
* On the CPU a pass takes oneDNN when the library is built and oneDNN has a
  non-reference kernel for it (bfloat16 runs as float32 between converts
  where the CPU has no bf16 kernel; max pooling also needs oneDNN's one-byte
  workspace, i.e. windows under 256 elements); otherwise, and on every other
  platform, it lowers to what Flax's pooling and its derivatives lower to.
  ``max_pool_train_p`` and ``max_pool_bwd_p`` decide by the same test, so the
  backward pass reads the workspace only where oneDNN wrote it.
* vmap folds the mapped axis into the batch (pooling is per example); SPMD
  splits the batch into one slice per device, as for the convolutions.
"""

from __future__ import annotations

import functools
from typing import Any, Optional, Sequence, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.core import ShapedArray
from jax.interpreters import ad
from jax.interpreters import batching
from jax.interpreters import mlir

from cnn_jax.ops import conv
from cnn_jax.ops import custom_call
from cnn_jax.ops import onednn
from cnn_jax.ops.custom_call import out_hw, pair

Padding = Union[str, Sequence[tuple[int, int]]]
# oneDNN's max-pooling workspace is one byte per output element for windows
# of at most 255 elements (an int32 index beyond).
_MAX_WINDOW_FOR_BYTE_WORKSPACE = 255


# --------------------------------------------------------------------------
# Which pooling oneDNN takes.
# --------------------------------------------------------------------------
def pool_params(x, window, strides, padding) -> Optional[dict]:
  """The primitives' parameters, or None where Flax's pooling must do it."""
  if np.ndim(x) != 4 or np.dtype(x.dtype) not in custom_call.DTYPES:
    return None
  window = pair(window)
  strides = pair(strides)
  if window is None or strides is None or min(window + strides) < 1:
    return None
  h, w = np.shape(x)[1:3]
  padding = custom_call.explicit_padding((h, w), window, strides, padding)
  if padding is None:
    return None
  # oneDNN wants every window to overlap the input: padding below the window.
  for (lo, hi), k in zip(padding, window):
    if min(lo, hi) < 0 or max(lo, hi) >= k:
      return None
  if min(out_hw((h, w), window, strides, padding)) < 1 or min(x.shape) < 1:
    return None
  return dict(window=window, strides=strides, padding=padding)


# --------------------------------------------------------------------------
# The primitives' shapes: activations (G, N, H, W, C).
# --------------------------------------------------------------------------
def _out_aval(x, *, window, strides, padding, **_):
  g, n, h, w, c = x.shape
  ho, wo = out_hw((h, w), window, strides, padding)
  return ShapedArray((g, n, ho, wo, c), x.dtype)


def _in_aval(dy, *, in_hw, **_):
  g, n, _, _, c = dy.shape
  return ShapedArray((g, n, *in_hw, c), dy.dtype)


def _workspace_aval(y):
  return ShapedArray(y.shape, np.dtype(np.uint8))


# --------------------------------------------------------------------------
# Their XLA computations (other platforms, and the CPU's fallback): Flax's
# pooling and XLA's rules for its derivatives.
# --------------------------------------------------------------------------
def _groups_as_batch(fn):
  """``fn`` of (N, H, W, C) arrays applied to (G, N, H, W, C) ones."""

  def apply(*args):
    g, n = args[0].shape[:2]
    flat = [a.reshape(g * n, *a.shape[2:]) for a in args]
    out = fn(*flat)
    return out.reshape(g, n, *out.shape[1:])

  return apply


def _flax_max(x, *, window, strides, padding):
  return nn.max_pool(x, window, strides, padding)


def _flax_avg(x, *, window, strides, padding, count_include_pad):
  return nn.avg_pool(
    x, window, strides, padding, count_include_pad=count_include_pad
  )


def _xla_avg(x, **params):
  return _groups_as_batch(functools.partial(_flax_avg, **params))(x)


def _xla_avg_bwd(dy, *, in_hw, **params):
  def one(dy):
    x = jax.ShapeDtypeStruct((dy.shape[0], *in_hw, dy.shape[3]), dy.dtype)
    avg = functools.partial(_flax_avg, **params)
    return jax.linear_transpose(avg, x)(dy)[0]

  return _groups_as_batch(one)(dy)


def _xla_max(x, **params):
  return _groups_as_batch(functools.partial(_flax_max, **params))(x)


def _xla_max_train(x, **params):
  y = _xla_max(x, **params)
  return [y, jnp.zeros(y.shape, jnp.uint8)]


def _xla_max_tangent(t, x, ws, **params):
  del ws

  def one(t, x):
    return jax.jvp(functools.partial(_flax_max, **params), (x,), (t,))[1]

  return _groups_as_batch(one)(t, x)


def _xla_max_bwd(dy, x, ws, *, in_hw, **params):
  del ws, in_hw

  def one(dy, x):
    _, vjp = jax.vjp(functools.partial(_flax_max, **params), x)
    return vjp(dy)[0]

  return _groups_as_batch(one)(dy, x)


# --------------------------------------------------------------------------
# Their CPU lowering: oneDNN's pooling.
# --------------------------------------------------------------------------
def _algorithm(params) -> int:
  if 'count_include_pad' not in params:
    return onednn.POOL_MAX
  if params['count_include_pad']:
    return onednn.POOL_AVG
  return onednn.POOL_AVG_EXCLUDE_PAD


def _fast_kernels(passes, algorithm, geometry, dtype) -> bool:
  """oneDNN has a kernel other than its reference code for every pass the
  primitive needs (and, for max pooling, a one-byte workspace)."""
  g = geometry
  for pass_ in passes:
    impl, ws_bytes = onednn.pool_query(pass_, algorithm, dtype.name, g)
    if impl is None or impl.startswith('ref'):
      return False
    if algorithm == onednn.POOL_MAX and pass_ != onednn.POOL_FORWARD:
      if ws_bytes != g.n * g.ho * g.wo * g.c:  # a byte per output element
        return False
  return True


def _run_onednn(handler, split, run_dtype, *args, out_avals, attrs):
  """Converts, cuts N into one slice per device, calls, and back."""
  if handler == 'max_backward':
    args = (args[0], args[2])  # dy, ws: oneDNN does not read x.
  if split > 1 and args[0].shape[0] == 1:
    args = [custom_call.to_slices(a, split) for a in args]
    avals = [
      ShapedArray((split, a.shape[1] // split, *a.shape[2:]), a.dtype)
      for a in out_avals
    ]
  else:
    avals = list(out_avals)
  args = [a if a.dtype == np.uint8 else a.astype(run_dtype) for a in args]
  avals = [
    a if a.dtype == np.uint8 else ShapedArray(a.shape, run_dtype) for a in avals
  ]
  outs = custom_call.call(
    onednn.POOL_TARGETS[handler][0], args, avals, partitioned=split > 1, **attrs
  )
  return [o.reshape(a.shape).astype(a.dtype) for o, a in zip(outs, out_avals)]


def _cpu_lowering(prim, ctx, *args, **params):
  if prim not in _ONEDNN or not onednn.available():
    return custom_call.xla_lowering(prim, ctx, *args, **params)
  handler, passes = _ONEDNN[prim]
  split = custom_call.slices(ctx)
  # x: the input of the forward passes, the output of the backward ones.
  x = (
    ctx.avals_out[0]
    if prim in (avg_pool_bwd_p, max_pool_bwd_p)
    else ctx.avals_in[0]
  )
  g, n, h, w, c = x.shape
  ho, wo = out_hw(
    (h, w), params['window'], params['strides'], params['padding']
  )
  (pt, pb), (pl, pr) = params['padding']
  geometry = onednn.PoolGeometry(
    n=n // split if g == 1 else n,
    h=h,
    w=w,
    c=c,
    ho=ho,
    wo=wo,
    kh=params['window'][0],
    kw=params['window'][1],
    sh=params['strides'][0],
    sw=params['strides'][1],
    pt=pt,
    pb=pb,
    pl=pl,
    pr=pr,
  )
  algorithm = _algorithm(params)
  if (
    algorithm == onednn.POOL_MAX
    and np.prod(params['window']) > _MAX_WINDOW_FOR_BYTE_WORKSPACE
  ):
    return custom_call.xla_lowering(prim, ctx, *args, **params)
  run_dtype = custom_call.run_dtype(
    x.dtype, functools.partial(_fast_kernels, passes, algorithm, geometry)
  )
  if run_dtype is None:
    return custom_call.xla_lowering(prim, ctx, *args, **params)
  attrs = dict(
    algorithm=algorithm,
    window=params['window'],
    strides=params['strides'],
    padding=(pt, pb, pl, pr),
  )
  fn = functools.partial(
    _run_onednn,
    handler,
    split,
    run_dtype,
    out_avals=tuple(ctx.avals_out),
    attrs=attrs,
  )
  outs = mlir.lower_fun(fn, multiple_results=True)(ctx, *args)
  return outs if prim.multiple_results else outs[0]


avg_pool_p = custom_call.primitive(
  'onednn_avg_pool', _out_aval, _xla_avg, _cpu_lowering
)
avg_pool_bwd_p = custom_call.primitive(
  'onednn_avg_pool_bwd', _in_aval, _xla_avg_bwd, _cpu_lowering
)
max_pool_p = custom_call.primitive(
  'onednn_max_pool', _out_aval, _xla_max, _cpu_lowering
)
max_pool_train_p = custom_call.primitive(
  'onednn_max_pool_train',
  lambda x, **p: [_out_aval(x, **p), _workspace_aval(_out_aval(x, **p))],
  _xla_max_train,
  _cpu_lowering,
  multiple_results=True,
)
max_pool_tangent_p = custom_call.primitive(
  'onednn_max_pool_tangent',
  lambda t, x, ws, **p: _out_aval(x, **p),
  _xla_max_tangent,
  _cpu_lowering,
)
max_pool_bwd_p = custom_call.primitive(
  'onednn_max_pool_bwd', lambda dy, x, ws, **p: x, _xla_max_bwd, _cpu_lowering
)
PRIMITIVES = (
  avg_pool_p,
  avg_pool_bwd_p,
  max_pool_p,
  max_pool_train_p,
  max_pool_tangent_p,
  max_pool_bwd_p,
)
# primitive -> (handler, oneDNN passes whose kernels it needs).
_ONEDNN = {
  avg_pool_p: ('forward', (onednn.POOL_FORWARD,)),
  avg_pool_bwd_p: ('avg_backward', (onednn.POOL_BACKWARD,)),
  max_pool_p: ('forward', (onednn.POOL_FORWARD,)),
  # The training pass and the backward pass that reads its workspace decide
  # together.
  max_pool_train_p: (
    'max_training',
    (onednn.POOL_TRAINING, onednn.POOL_BACKWARD),
  ),
  max_pool_bwd_p: (
    'max_backward',
    (onednn.POOL_TRAINING, onednn.POOL_BACKWARD),
  ),
}


# --------------------------------------------------------------------------
# Differentiation.
# --------------------------------------------------------------------------
def _zero_like(v):
  return ad.Zero(jax.typeof(v).to_tangent_aval())


# Average pooling and its backward pass: each the other's transpose.
ad.deflinear2(
  avg_pool_p,
  lambda ct, x, **p: [avg_pool_bwd_p.bind(ct, in_hw=x.aval.shape[2:4], **p)],
)
ad.deflinear2(
  avg_pool_bwd_p,
  lambda ct, dy, *, in_hw, **p: [avg_pool_p.bind(ct, **p)],
)


def _max_pool_jvp(primals, tangents, **params):
  (x,), (t,) = primals, tangents
  y, ws = max_pool_train_p.bind(x, **params)
  if type(t) is ad.Zero:
    return y, _zero_like(y)
  return y, max_pool_tangent_p.bind(t, x, ws, **params)


def _max_pool_train_jvp(primals, tangents, **params):
  (x,), (t,) = primals, tangents
  y, ws = max_pool_train_p.bind(x, **params)
  if type(t) is ad.Zero:
    ty = _zero_like(y)
  else:
    ty = max_pool_tangent_p.bind(t, x, ws, **params)
  return (y, ws), (ty, _zero_like(ws))


def _linear_in_first_jvp(prim, primals, tangents, **params):
  """Linear in its first operand; locally constant in ``x`` and ``ws``
  (which element of a window is its maximum does not move under an
  infinitesimal change of ``x``, ties aside)."""
  out = prim.bind(*primals, **params)
  if type(tangents[0]) is ad.Zero:
    return out, _zero_like(out)
  return out, prim.bind(tangents[0], *primals[1:], **params)


def _tangent_transpose(ct, t, x, ws, **params):
  assert ad.is_undefined_primal(t) and not ad.is_undefined_primal(x)
  if type(ct) is ad.Zero:
    return [ad.Zero(t.aval), None, None]
  in_hw = tuple(t.aval.shape[2:4])
  return [max_pool_bwd_p.bind(ct, x, ws, in_hw=in_hw, **params), None, None]


def _bwd_transpose(ct, dy, x, ws, *, in_hw, **params):
  assert ad.is_undefined_primal(dy) and not ad.is_undefined_primal(x)
  del in_hw
  if type(ct) is ad.Zero:
    return [ad.Zero(dy.aval), None, None]
  return [max_pool_tangent_p.bind(ct, x, ws, **params), None, None]


ad.primitive_jvps[max_pool_p] = _max_pool_jvp
ad.primitive_jvps[max_pool_train_p] = _max_pool_train_jvp
for _p in (max_pool_tangent_p, max_pool_bwd_p):
  ad.primitive_jvps[_p] = functools.partial(_linear_in_first_jvp, _p)
ad.primitive_transposes[max_pool_tangent_p] = _tangent_transpose
ad.primitive_transposes[max_pool_bwd_p] = _bwd_transpose


# --------------------------------------------------------------------------
# vmap: the mapped axis joins the batch (every pass is per example).
# --------------------------------------------------------------------------
def _batch(prim, args, dims, **params):
  size = next(a.shape[d] for a, d in zip(args, dims) if d is not None)
  folded = []
  for a, d in zip(args, dims):
    a = (
      jnp.broadcast_to(a, (size, *a.shape))
      if d is None
      else jnp.moveaxis(a, d, 0)
    )
    a = jnp.moveaxis(a, 0, 1)  # (G, B, N, ...)
    folded.append(a.reshape(a.shape[0], size * a.shape[2], *a.shape[3:]))
  out = prim.bind(*folded, **params)

  def unfold(o):
    return o.reshape(o.shape[0], size, o.shape[1] // size, *o.shape[2:])

  if prim.multiple_results:
    return [unfold(o) for o in out], [1] * len(out)
  return unfold(out), 1


for _p in PRIMITIVES:
  batching.primitive_batchers[_p] = functools.partial(_batch, _p)


# --------------------------------------------------------------------------
# The ops and the Flax modules.
# --------------------------------------------------------------------------
def _check_impl(impl: str) -> None:
  if impl not in conv.IMPLS:
    raise ValueError(f'Unknown pooling impl {impl!r}: one of {conv.IMPLS}.')


def max_pool(
  x: jax.Array,
  window: Sequence[int],
  strides: Optional[Sequence[int]] = None,
  padding: Padding = 'VALID',
  *,
  impl: str = 'auto',
) -> jax.Array:
  """``flax.linen.max_pool``; oneDNN computes it on the CPU backend.

  ``impl``: 'auto' (oneDNN on CPU where it applies, XLA elsewhere) or 'xla'
  (always Flax's).
  """
  _check_impl(impl)
  x = jnp.asarray(x)
  params = pool_params(x, window, strides, padding) if impl == 'auto' else None
  if params is None:
    return nn.max_pool(x, tuple(window), strides and tuple(strides), padding)
  return max_pool_p.bind(x[None], **params)[0]


def avg_pool(
  x: jax.Array,
  window: Sequence[int],
  strides: Optional[Sequence[int]] = None,
  padding: Padding = 'VALID',
  count_include_pad: bool = True,
  *,
  impl: str = 'auto',
) -> jax.Array:
  """``flax.linen.avg_pool``; oneDNN computes it on the CPU backend."""
  _check_impl(impl)
  x = jnp.asarray(x)
  params = pool_params(x, window, strides, padding) if impl == 'auto' else None
  if params is None:
    return nn.avg_pool(
      x,
      tuple(window),
      strides and tuple(strides),
      padding,
      count_include_pad=count_include_pad,
    )
  params['count_include_pad'] = bool(count_include_pad)
  return avg_pool_p.bind(x[None], **params)[0]


class _Pool(nn.Module):
  window: tuple[int, int]
  strides: tuple[int, int]
  padding: Any = 'VALID'
  # 'auto', 'xla', or None: the ``conv_impl`` of the enclosing modules.
  impl: Optional[str] = None

  def _impl(self) -> str:
    return self.impl if self.impl is not None else conv.inherited_impl(self)


class MaxPool(_Pool):
  """:func:`max_pool` as a module."""

  @nn.compact
  def __call__(self, x):
    return max_pool(
      x, self.window, self.strides, self.padding, impl=self._impl()
    )


class AvgPool(_Pool):
  """:func:`avg_pool` as a module."""

  count_include_pad: bool = True

  @nn.compact
  def __call__(self, x):
    return avg_pool(
      x,
      self.window,
      self.strides,
      self.padding,
      self.count_include_pad,
      impl=self._impl(),
    )
