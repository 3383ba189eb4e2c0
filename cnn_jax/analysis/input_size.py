"""The smallest input a model takes, found by tracing it (nothing is run).

Most models here accept any input size: 'SAME'-padded strided convolutions
and pools turn a 1x1 map into a 1x1 map, so a too-small ``image_size`` would
train silently with downsampling layers that have nothing left to downsample.
A size is *usable* when the model traces (a 'VALID' window larger than its
input fails) and every strided convolution or pool sees at least ``stride``
pixels along each strided axis. :func:`min_input_size` is the smallest usable
size (binary search between 1 and the registered input size), cached per
process; :func:`input_size_problem` says why one size is not usable, naming
the layer.

The trace is of ``model.init`` in training mode (auxiliary heads included),
with XLA's convolution (``conv_impl='xla'``, so every convolution is a
``conv_general_dilated`` in the jaxpr), via ``jax.make_jaxpr``:
seconds for the largest models, and only done for sizes below the model's
registered input size.
"""

from __future__ import annotations

import functools
from typing import Any, Iterator, Optional

import jax
import jax.numpy as jnp

from cnn_jax import models
from cnn_jax.analysis import flops
from cnn_jax.ops import conv


def _windows(jaxpr) -> Iterator[tuple[str, tuple, tuple, str]]:
  """(primitive, strided input sizes, strides, layer) of every window op."""
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == 'conv_general_dilated':
      shape = eqn.invars[0].aval.shape
      spatial = eqn.params['dimension_numbers'].lhs_spec[2:]
      yield (
        name,
        tuple(shape[d] for d in spatial),
        tuple(eqn.params['window_strides']),
        str(eqn.source_info.name_stack),
      )
    elif name.startswith('reduce_window'):
      yield (
        name,
        tuple(eqn.invars[0].aval.shape),
        tuple(eqn.params['window_strides']),
        str(eqn.source_info.name_stack),
      )
    for sub in (j for v in eqn.params.values() for j in flops.sub_jaxprs(v)):
      yield from _windows(sub)


def input_size_problem(model, shape: tuple[int, int, int]) -> Optional[str]:
  """Why ``model`` cannot take (H, W, C) inputs of ``shape``; None if it can."""
  plain = conv.WithConvImpl(model, conv_impl='xla')

  def init(key, x):
    return plain.init({'params': key, 'dropout': key}, x, train=True)

  try:
    jaxpr = jax.make_jaxpr(init)(
      jax.random.key(0), jax.ShapeDtypeStruct((1, *shape), jnp.float32)
    )
  except Exception as e:  # pylint: disable=broad-except
    first = str(e).strip().splitlines()[0] if str(e).strip() else ''
    return f'it does not build at this size ({type(e).__name__}: {first[:200]})'
  inner = model
  while isinstance(inner, conv.WithConvImpl):
    inner = inner.model
  wrapper = f'{type(plain).__name__}/model/'
  for op, sizes, strides, layer in _windows(jaxpr.jaxpr):
    while layer.startswith(wrapper):  # the layer's path in the model itself
      layer = layer[len(wrapper) :]
    layer = f'{type(inner).__name__}/{layer}' if layer else ''
    for size, stride in zip(sizes, strides):
      if stride > 1 and size < stride:
        kind = 'pooling' if op.startswith('reduce_window') else 'convolution'
        where = f' ({layer})' if layer else ''
        grid = 'x'.join(str(s) for s, t in zip(sizes, strides) if t > 1)
        return (
          f'its stride-{stride} {kind}{where} would get a {grid} map: '
          'nothing left to downsample'
        )
  return None


@functools.lru_cache(maxsize=None)
def _min_size(name: str, kwargs: tuple, channels: int, upper: int) -> int:
  model = models.build(name, **dict(kwargs))
  if input_size_problem(model, (upper, upper, channels)) is not None:
    return upper + 1  # not even the registered size: callers report it.
  lo, hi = 1, upper  # hi is usable.
  while lo < hi:
    mid = (lo + hi) // 2
    if input_size_problem(model, (mid, mid, channels)) is None:
      hi = mid
    else:
      lo = mid + 1
  return hi


def min_input_size(name: str, channels: int = 3, **kwargs: Any) -> int:
  """The smallest square input side registered model ``name`` takes.

  ``kwargs`` go to the model (``num_classes``, ``model_kwargs``...); they
  rarely matter, but a stem option (``small_input_stem``) does.
  """
  upper = max(models.get_spec(name).input_shape[:2])
  key = tuple(sorted((k, _hashable(v)) for k, v in kwargs.items()))
  return _min_size(name, key, channels, upper)


def _hashable(value):
  if isinstance(value, (list, tuple)):
    return tuple(_hashable(v) for v in value)
  if isinstance(value, dict):
    return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
  return value
