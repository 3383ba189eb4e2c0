"""The layer the oneDNN ops (:mod:`cnn_jax.ops.conv`, :mod:`cnn_jax.ops.pool`)
share: how a primitive is defined and lowered per platform, the custom call
into the library, its partitioning over devices, and the shape helpers.

* :func:`primitive`: a JAX primitive that runs outside ``jit``, lowers to
  the XLA computation given everywhere, and to the CPU lowering given on the
  CPU backend (which may fall back to the XLA computation,
  :func:`xla_lowering`).
* :func:`call`: the ``jax.ffi`` custom call into the library (named integer
  attributes), which exists only inside the CPU lowerings. With
  ``partitioned=True`` the call is split over devices along its leading
  axis (the library's targets are registered as batch-partitionable,
  :mod:`cnn_jax.ops.onednn`), with a Shardy rule saying so.
* :func:`slices`: how many slices (one per device) a call gets;
  :func:`to_slices` cuts the batch into them.
* :func:`run_dtype`: the dtype a pass runs in on the CPU, or None.
* :func:`pair`, :func:`explicit_padding`, :func:`out_hw`: 2-D geometry.
"""

from __future__ import annotations

import functools
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.core import ShapedArray
from jax.extend.core import Primitive
from jax.extend.mlir.dialects import sdy
from jax.interpreters import mlir

# The dtypes the library computes in (bfloat16 accumulates in float32).
DTYPES = (np.dtype(np.float32), np.dtype(jnp.bfloat16))


# --------------------------------------------------------------------------
# 2-D geometry (NHWC).
# --------------------------------------------------------------------------
def pair(v, default: int = 1) -> Optional[tuple[int, int]]:
  """``v`` as two ints (``default`` twice for None), or None if not 2-D."""
  if v is None:
    return (default, default)
  v = tuple(int(i) for i in np.atleast_1d(v))
  return v if len(v) == 2 else None


def explicit_padding(
  in_hw, extent, strides, padding
) -> Optional[tuple[tuple[int, int], tuple[int, int]]]:
  """((top, bottom), (left, right)) of a 'SAME'/'VALID' string or explicit
  pairs, for a window of ``extent`` (dilated) pixels; None if not 2-D."""
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(in_hw, extent, strides, padding)
  padding = tuple((int(lo), int(hi)) for lo, hi in padding)
  return padding if len(padding) == 2 else None


def out_hw(in_hw, window, strides, padding, dilation=(1, 1)) -> tuple[int, int]:
  """The output height and width of a window sliding over ``in_hw``."""
  return tuple(
    (i + lo + hi - (k - 1) * d - 1) // s + 1
    for i, k, s, (lo, hi), d in zip(in_hw, window, strides, padding, dilation)
  )


# --------------------------------------------------------------------------
# Primitives and their lowerings.
# --------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _jitted(prim: Primitive, params: tuple):
  return jax.jit(functools.partial(prim.bind, **dict(params)))


def _eager(prim: Primitive, *args, **params):
  """Outside ``jit``: compile the one primitive (cached per parameters).

  Under ``jax_debug_nans``/``jax_debug_infs`` JAX reruns a jitted function
  whose output is not finite op by op, which for a one-primitive function
  would call this again: the check is made here instead, on the outputs.
  """
  fn = _jitted(prim, tuple(sorted(params.items())))
  nans, infs = jax.config.jax_debug_nans, jax.config.jax_debug_infs
  if not (nans or infs):
    return fn(*args)
  with jax.debug_nans(False), jax.debug_infs(False):
    out = fn(*args)
  for o in out if prim.multiple_results else [out]:
    if not jnp.issubdtype(o.dtype, jnp.floating):
      continue
    if nans and bool(jnp.isnan(o).any()):
      raise FloatingPointError(
        f'invalid value (nan) encountered in {prim.name}'
      )
    if infs and bool(jnp.isinf(o).any()):
      raise FloatingPointError(
        f'invalid value (inf) encountered in {prim.name}'
      )
  return out


_XLA_IMPLS: dict[Primitive, Callable] = {}


def xla_lowering(prim: Primitive, ctx, *args, **params):
  """``prim`` lowered to its XLA computation (every platform's lowering,
  and the CPU's where the library does not take it)."""
  return mlir.lower_fun(
    functools.partial(_XLA_IMPLS[prim], **params),
    multiple_results=prim.multiple_results,
  )(ctx, *args)


def primitive(
  name: str,
  abstract_eval: Callable,
  xla_impl: Callable,
  cpu_lowering: Callable,
  multiple_results: bool = False,
) -> Primitive:
  """A primitive that lowers to ``xla_impl(*args, **params)`` (jax ops) on
  every platform and to ``cpu_lowering(prim, ctx, *args, **params)`` on the
  CPU, and runs outside ``jit`` by compiling itself."""
  prim = Primitive(name)
  prim.multiple_results = multiple_results
  _XLA_IMPLS[prim] = xla_impl
  prim.def_abstract_eval(abstract_eval)
  prim.def_impl(functools.partial(_eager, prim))
  mlir.register_lowering(prim, functools.partial(xla_lowering, prim))
  mlir.register_lowering(
    prim, functools.partial(cpu_lowering, prim), platform='cpu'
  )
  return prim


def run_dtype(dtype, usable: Callable[[np.dtype], bool]) -> Optional[np.dtype]:
  """The dtype to run a pass in: ``dtype`` where the library has a fast
  kernel for it (``usable``), else float32 between two converts (what
  XLA:CPU does with bf16 too), else None (the pass is left to XLA)."""
  for candidate in dict.fromkeys((np.dtype(dtype), np.dtype(np.float32))):
    if usable(candidate):
      return candidate
  return None


# --------------------------------------------------------------------------
# The custom call and its partitioning over devices.
# --------------------------------------------------------------------------
def _call_abstract(*args, out_avals, **_):
  del args
  return list(out_avals)


@functools.lru_cache(maxsize=None)
def _call_primitive(target: str) -> Primitive:
  """The raw custom call to ``target``, one primitive per target so that
  profiles name each pass; it only exists inside the CPU lowerings."""
  prim = Primitive(target)
  prim.multiple_results = True
  prim.def_abstract_eval(_call_abstract)
  mlir.register_lowering(
    prim, functools.partial(_call_lowering, target=target), platform='cpu'
  )
  return prim


def _sharding_rule(ctx):
  """Shardy rule: the leading axis is one factor shared by every operand
  and result; every other axis is a factor of its own (not split)."""
  if not jax.config.jax_use_shardy_partitioner:
    return None  # GSPMD: the batch partitioner needs no rule.
  sizes = [ctx.avals_in[0].shape[0]]

  def mapping(aval):
    dims = [sdy.DimMappingAttr.get(factor_indices=[0])]
    for size in aval.shape[1:]:
      dims.append(sdy.DimMappingAttr.get(factor_indices=[len(sizes)]))
      sizes.append(size)
    return sdy.TensorMappingAttr.get(dim_mappings=dims)

  operands = [mapping(a) for a in ctx.avals_in]
  results = [mapping(a) for a in ctx.avals_out]
  return sdy.OpShardingRuleAttr.get(
    factor_sizes=sizes, operand_mappings=operands, result_mappings=results
  )


def _call_lowering(ctx, *args, target, partitioned, out_avals, attrs):
  del out_avals
  extra = None
  if partitioned:
    extra = {
      'mhlo.frontend_attributes': mlir.ir_attribute({'num_batch_dims': '1'})
    }
    rule = _sharding_rule(ctx)
    if rule is not None:
      extra['sdy.sharding_rule'] = rule
  lower = jax.ffi.ffi_lowering(target, extra_attributes=extra)
  values = {
    name: np.asarray(v, np.int64) if isinstance(v, tuple) else np.int64(v)
    for name, v in attrs
  }
  return lower(ctx, *args, **values)


def call(
  target: str,
  args: Sequence[jax.Array],
  out_avals: Sequence[ShapedArray],
  *,
  partitioned: bool,
  **attrs,
) -> list[jax.Array]:
  """The custom call ``target`` on ``args``; named integer or tuple
  attributes (the handler binds each by name)."""
  return _call_primitive(target).bind(
    *args,
    partitioned=partitioned,
    out_avals=tuple(out_avals),
    attrs=tuple(
      (k, tuple(int(i) for i in v) if isinstance(v, (tuple, list)) else int(v))
      for k, v in sorted(attrs.items())
    ),
  )


def spmd_devices(ctx) -> int:
  """Devices an SPMD program is partitioned over (1 inside shard_map)."""
  context = ctx.module_context.axis_context
  if type(context).__name__ == 'ShardingContext':
    return int(getattr(context, 'num_devices', 1) or 1)
  return 1


def slices(ctx) -> int:
  """Slices of a call's leading axis: one per device where the program is
  split and the group axis G (or, with G = 1, the batch N) divides evenly;
  else 1. ``ctx.avals_in[0]`` is (G, N, ...)."""
  devices = spmd_devices(ctx)
  groups, n = ctx.avals_in[0].shape[:2]
  if devices > 1 and (
    (groups == 1 and n % devices == 0) or groups % devices == 0
  ):
    return devices
  return 1


def to_slices(v: jax.Array, split: int) -> jax.Array:
  """(1, N, ...) -> (split, N / split, ...): one slice of the batch per
  device, on the leading axis XLA partitions."""
  return v.reshape(split, v.shape[1] // split, *v.shape[2:])
