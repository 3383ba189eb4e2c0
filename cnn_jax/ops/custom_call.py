"""What the oneDNN ops (:mod:`cnn_jax.ops.conv`, :mod:`cnn_jax.ops.pool`) share.

* :func:`eager_impl`: how one of their primitives runs outside ``jit``.
* :func:`call`: the ``jax.ffi`` custom call into the oneDNN library, which
  exists only inside their CPU lowerings. With ``partitioned=True`` the call
  is split over devices along its leading axis (the library's targets are
  registered as batch-partitionable, :mod:`cnn_jax.ops.onednn`).
* :func:`spmd_devices`: how many devices the program being lowered is
  partitioned over; :func:`slices`: how many slices a call gets.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import mlir


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


def eager_impl(prim: Primitive) -> None:
  """Makes ``prim`` evaluate outside ``jit`` by compiling it alone."""
  prim.def_impl(functools.partial(_eager, prim))


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
  """Shardy rule: the leading axis is shared, all others are not."""
  if not getattr(jax.config, 'jax_use_shardy_partitioner', True):
    return None  # GSPMD: the batch partitioner needs no rule.
  try:
    # What jax's own batch-partitionable LAPACK calls use.
    from jax._src.lax import linalg  # pylint: disable=g-import-not-at-top

    return linalg._build_sdy_sharding_rule(  # pylint: disable=protected-access
      ctx.module_context, 1, ctx.avals_in, ctx.avals_out
    )
  except (ImportError, AttributeError, TypeError):
    return None


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
  out_avals: Sequence[jax.core.ShapedArray],
  *,
  partitioned: bool,
  **attrs,
) -> list[jax.Array]:
  """The custom call ``target`` on ``args``; integer or tuple attributes."""
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
