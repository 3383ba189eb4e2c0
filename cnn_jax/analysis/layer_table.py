"""A Keras-style layer table of a model: each submodule's output shape and
parameters, totals, FLOPs and MACs, computed without running anything.

Output shapes come from tracing (``jax.jit(...).trace``) an eval-mode forward
pass with every submodule call recorded (``nn.intercept_methods``), parameter
counts from the abstract variables, FLOPs from XLA's cost analysis of the
lowered forward pass and MACs from the convolutions and matrix products of its
jaxpr (:mod:`cnn_jax.analysis.flops`). ``python -m cnn_jax.summary`` prints it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import flax.linen as nn
from flax import traverse_util
import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.analysis import flops as flops_lib
from cnn_jax.analysis import model_stats


@dataclasses.dataclass
class Layer:
  path: tuple[str, ...]  # submodule names from the model root.
  type: str  # module class name.
  output: Any  # pytree of output shapes.
  params: int  # parameters in this submodule (and its children).
  stats: int  # BatchNorm statistics (batch_stats) in it.


@dataclasses.dataclass
class Summary:
  name: str
  input_shape: tuple[int, ...]  # (H, W, C) of one example.
  batch_size: int
  layers: list[Layer]
  output: Any  # shape(s) of the model output.
  params: int
  stats: int
  other: dict[str, int]  # sizes of any other variable collections.
  dtype: str = 'float32'  # the model's compute dtype.
  flops: Optional[float] = None  # XLA count; a MAC is 2 FLOPs.
  macs: Optional[int] = None  # convolutions and matmuls only.


def _shapes(tree):
  return jax.tree.map(
    lambda a: tuple(a.shape), tree, is_leaf=lambda a: hasattr(a, 'shape')
  )


def _dtype_name(model) -> str:
  dtype = getattr(model, 'dtype', None)
  return jnp.dtype(dtype).name if dtype is not None else 'float32'


def _prefix_sizes(tree) -> dict[tuple[str, ...], int]:
  """Size of every subtree of a nested variable dict, keyed by path prefix."""
  sizes: dict[tuple[str, ...], int] = {}
  for path, leaf in traverse_util.flatten_dict(tree).items():
    size = int(np.prod(leaf.shape))
    for i in range(len(path)):
      sizes[path[:i]] = sizes.get(path[:i], 0) + size
  return sizes


def summarize(
  model: nn.Module,
  input_shape: Sequence[int],
  name: str = '',
  batch_size: int = 1,
  compute_flops: bool = True,
) -> Summary:
  """Summary of ``model`` on a batch of ``input_shape`` (H, W, C) inputs."""
  input_shape = tuple(int(d) for d in input_shape)
  variables = model_stats.abstract_variables(model, input_shape, batch_size)
  variables = dict(variables)
  params = _prefix_sizes(variables.get('params', {}))
  stats = _prefix_sizes(variables.get('batch_stats', {}))
  calls: list[Optional[Layer]] = []

  def record(next_fun, args, kwargs, context):
    if context.method_name != '__call__':
      return next_fun(*args, **kwargs)
    index = len(calls)
    calls.append(None)  # Reserve the slot: parents are listed before children.
    out = next_fun(*args, **kwargs)
    path = tuple(context.module.path)
    calls[index] = Layer(
      path,
      type(context.module).__name__,
      _shapes(out),
      params.get(path, 0),
      stats.get(path, 0),
    )
    return out

  traced = flops_lib.trace_forward(
    model, input_shape, batch_size, interceptor=record
  )
  output = _shapes(traced.out_info)
  layers = [c for c in calls if c is not None and c.path]
  other = {
    k: model_stats.tree_size(v)
    for k, v in variables.items()
    if k not in ('params', 'batch_stats')
  }
  result = Summary(
    name or type(model).__name__,
    input_shape,
    batch_size,
    layers,
    output,
    params.get((), 0),
    stats.get((), 0),
    other,
    dtype=_dtype_name(model),
  )
  if compute_flops:
    result.flops = flops_lib.traced_flops(traced)
    result.macs = flops_lib.traced_conv_dense_macs(traced)
  return result


def fmt_shape(shapes) -> str:
  if isinstance(shapes, tuple) and all(isinstance(d, int) for d in shapes):
    return '(' + ', '.join(str(d) for d in shapes) + ')'
  if isinstance(shapes, (list, tuple)):
    inner = ', '.join(fmt_shape(s) for s in shapes)
    return f'[{inner}]' if isinstance(shapes, list) else f'({inner})'
  if isinstance(shapes, dict):
    return (
      '{' + ', '.join(f'{k}: {fmt_shape(v)}' for k, v in shapes.items()) + '}'
    )
  return str(shapes)


def format_summary(s: Summary, depth: int = 2, width: int = 100) -> str:
  """Renders a summary as a table; ``depth`` limits the nesting shown."""
  lines = [
    f'Model: {s.name}   input: {fmt_shape(s.input_shape)}, '
    f'batch {s.batch_size}, compute dtype {s.dtype}'
  ]
  rows = [l for l in s.layers if depth < 0 or len(l.path) <= depth]
  if rows:
    name_w = max(
      34,
      min(
        56,
        max(
          2 * (len(l.path) - 1) + len(l.path[-1]) + len(l.type) + 3
          for l in rows
        ),
      ),
    )
    shape_w = max(20, width - name_w - 28)
    rule = '-' * (name_w + shape_w + 28)
    lines += [
      rule,
      f'{"Layer (type)":<{name_w}}{"Output shape":<{shape_w}}'
      f'{"Params":>14}{"BN stats":>14}',
      rule,
    ]
    for l in rows:
      label = '  ' * (len(l.path) - 1) + f'{l.path[-1]} ({l.type})'
      shape = fmt_shape(l.output)
      if len(shape) > shape_w - 1:
        shape = shape[: shape_w - 4] + '...'
      lines.append(
        f'{label[: name_w - 1]:<{name_w}}{shape:<{shape_w}}'
        f'{l.params:>14,}{l.stats:>14,}'
      )
    lines.append(rule)
  lines.append(f'Output: {fmt_shape(s.output)}')
  lines.append(f'Trainable params: {s.params:,}')
  lines.append(f'BatchNorm statistics: {s.stats:,}')
  for k, v in s.other.items():
    lines.append(f'Other variables ({k}): {v:,}')
  total = s.params + s.stats + sum(s.other.values())
  lines.append(f'Total (Keras count, incl. statistics): {total:,}')
  if s.macs is not None:
    lines.append(
      f'MACs (convolutions + dense, batch {s.batch_size}): '
      f'{s.macs:,} = {s.macs / 1e9:.3f} G'
    )
  if s.flops is not None:
    lines.append(
      f'FLOPs (XLA cost analysis, all ops, batch {s.batch_size}): '
      f'{s.flops:,.0f} = {s.flops / 1e9:.3f} G '
      f'(/ 2 = {s.flops / 2e9:.3f} GMACs)'
    )
  return '\n'.join(lines)
