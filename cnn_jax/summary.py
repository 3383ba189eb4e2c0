"""Keras-style model summary: layers, output shapes, parameters, FLOPs.

Usage (from the repository root):

  python -m cnn_jax.summary --model=resnet50
  python -m cnn_jax.summary --model=mobilenet_v2 --input_shape=160,160,3 \\
      --num_classes=10 --depth=1
  python -m cnn_jax.summary --config=configs/efficientnet_b0_imagenet.py
  python -m cnn_jax.summary --list            # registered names and shapes
  python -m cnn_jax.summary --list --count    # ... with parameter counts

Nothing is run: output shapes come from tracing (``jax.jit(...).trace``) an
eval-mode forward pass with every submodule call recorded
(``nn.intercept_methods``), parameter counts from the abstract variables,
FLOPs from XLA's cost analysis of the lowered forward pass and MACs from the
convolutions and matrix products of its jaxpr (``cnn_jax.flops``). ``--depth`` limits how deep the nesting of
submodules the table shows (0: no table, -1: everything); totals always cover
the whole model.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

from absl import flags
import flax.linen as nn
from flax import traverse_util
import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.analysis import flops as flops_lib
from cnn_jax.analysis import model_stats
from cnn_jax import errors
from cnn_jax import models

# Classes and native (H, W, C) of each dataset a config can name (kept here so
# that the summary does not import TensorFlow; same values as cnn_jax.data).
DATASET_CLASSES = {'mnist': 10, 'fashion_mnist': 10, 'cifar10': 10,
                   'cifar100': 100, 'imagenet2012': 1000}
DATASET_SHAPES = {'mnist': (28, 28, 1), 'fashion_mnist': (28, 28, 1),
                  'cifar10': (32, 32, 3), 'cifar100': (32, 32, 3),
                  'imagenet2012': (224, 224, 3)}


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
  return jax.tree.map(lambda a: tuple(a.shape), tree,
                      is_leaf=lambda a: hasattr(a, 'shape'))


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


def summarize(model: nn.Module, input_shape: Sequence[int],
              name: str = '', batch_size: int = 1,
              compute_flops: bool = True) -> Summary:
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
    calls[index] = Layer(path, type(context.module).__name__, _shapes(out),
                         params.get(path, 0), stats.get(path, 0))
    return out

  traced = flops_lib.trace_forward(model, input_shape, batch_size,
                                   interceptor=record)
  output = _shapes(traced.out_info)
  layers = [c for c in calls if c is not None and c.path]
  other = {k: model_stats.tree_size(v) for k, v in variables.items()
           if k not in ('params', 'batch_stats')}
  result = Summary(name or type(model).__name__, input_shape, batch_size,
                   layers, output, params.get((), 0), stats.get((), 0), other,
                   dtype=_dtype_name(model))
  if compute_flops:
    result.flops = flops_lib.traced_flops(traced)
    result.macs = flops_lib.traced_conv_dense_macs(traced)
  return result


def _fmt_shape(shapes) -> str:
  if isinstance(shapes, tuple) and all(isinstance(d, int) for d in shapes):
    return '(' + ', '.join(str(d) for d in shapes) + ')'
  if isinstance(shapes, (list, tuple)):
    inner = ', '.join(_fmt_shape(s) for s in shapes)
    return f'[{inner}]' if isinstance(shapes, list) else f'({inner})'
  if isinstance(shapes, dict):
    return '{' + ', '.join(f'{k}: {_fmt_shape(v)}'
                           for k, v in shapes.items()) + '}'
  return str(shapes)


def format_summary(s: Summary, depth: int = 2, width: int = 100) -> str:
  """Renders a summary as a table; ``depth`` limits the nesting shown."""
  lines = [f'Model: {s.name}   input: {_fmt_shape(s.input_shape)}, '
           f'batch {s.batch_size}, compute dtype {s.dtype}']
  rows = [l for l in s.layers if depth < 0 or len(l.path) <= depth]
  if rows:
    name_w = max(34, min(56, max(2 * (len(l.path) - 1) + len(l.path[-1])
                                 + len(l.type) + 3 for l in rows)))
    shape_w = max(20, width - name_w - 28)
    rule = '-' * (name_w + shape_w + 28)
    lines += [rule, f'{"Layer (type)":<{name_w}}{"Output shape":<{shape_w}}'
              f'{"Params":>14}{"BN stats":>14}', rule]
    for l in rows:
      label = '  ' * (len(l.path) - 1) + f'{l.path[-1]} ({l.type})'
      shape = _fmt_shape(l.output)
      if len(shape) > shape_w - 1:
        shape = shape[:shape_w - 4] + '...'
      lines.append(f'{label[:name_w - 1]:<{name_w}}{shape:<{shape_w}}'
                   f'{l.params:>14,}{l.stats:>14,}')
    lines.append(rule)
  lines.append(f'Output: {_fmt_shape(s.output)}')
  lines.append(f'Trainable params: {s.params:,}')
  lines.append(f'BatchNorm statistics: {s.stats:,}')
  for k, v in s.other.items():
    lines.append(f'Other variables ({k}): {v:,}')
  total = s.params + s.stats + sum(s.other.values())
  lines.append(f'Total (Keras count, incl. statistics): {total:,}')
  if s.macs is not None:
    lines.append(f'MACs (convolutions + dense, batch {s.batch_size}): '
                 f'{s.macs:,} = {s.macs / 1e9:.3f} G')
  if s.flops is not None:
    lines.append(f'FLOPs (XLA cost analysis, all ops, batch {s.batch_size}): '
                 f'{s.flops:,.0f} = {s.flops / 1e9:.3f} G '
                 f'(/ 2 = {s.flops / 2e9:.3f} GMACs)')
  return '\n'.join(lines)


def from_config(config) -> tuple[str, dict[str, Any], tuple[int, int, int],
                                 int, Any]:
  """(model name, model kwargs, input shape, num_classes, dtype) of a config."""
  dataset = config.dataset
  if dataset == 'synthetic':
    native = tuple(config.synthetic_shape)
    classes = config.synthetic_classes
  else:
    if dataset not in DATASET_SHAPES:
      raise errors.UserError(f'Unknown dataset {dataset!r}; known: '
                             f'{", ".join(sorted(DATASET_SHAPES))}, synthetic')
    native, classes = DATASET_SHAPES[dataset], DATASET_CLASSES[dataset]
  size = config.image_size
  shape = (size, size, native[2]) if size is not None else native
  num_classes = (config.num_classes if config.num_classes is not None
                 else classes)
  kwargs = dict(config.model_kwargs.to_dict()) if config.model_kwargs else {}
  return config.model, kwargs, shape, num_classes, jnp.dtype(config.dtype)


def list_models(count: bool = False) -> str:
  lines = []
  for name in models.known_models():
    spec = models.get_spec(name)
    line = (f'{name:<28} input {_fmt_shape(spec.input_shape):<16} '
            f'classes {spec.num_classes:>5}')
    if count:
      p, b = model_stats.count_registered(name)
      line += f'   params {p:>13,}   BN stats {b:>9,}'
    lines.append(line)
  return '\n'.join(lines)


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Defines the CLI flags (on a fresh FlagValues in tests)."""
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  fv = flag_values
  flags.DEFINE_string('model', None, 'Registered model name.', flag_values=fv)
  flags.DEFINE_list('input_shape', None,
                    'H,W,C of one input; default: the model\'s native shape '
                    '(or the config\'s dataset/image_size).', flag_values=fv)
  flags.DEFINE_integer('num_classes', None, 'Classifier outputs; default: the '
                       'reference class count (or the config\'s).',
                       flag_values=fv)
  flags.DEFINE_integer('batch_size', 1, 'Batch size for shapes and FLOPs.',
                       flag_values=fv)
  flags.DEFINE_integer('depth', 2, 'Nesting depth of the layer table (0: no '
                       'table, -1: all).', flag_values=fv)
  flags.DEFINE_bool('flops', True, 'Compute FLOPs/MACs.', flag_values=fv)
  flags.DEFINE_bool('list', False, 'List registered models and exit.',
                    flag_values=fv)
  flags.DEFINE_bool('count', False, 'With --list: count every model\'s '
                    'parameters (slow).', flag_values=fv)
  config_flags.DEFINE_config_file('config', None, 'A config file (its model, '
                                  'model_kwargs, num_classes, dataset and '
                                  'image_size are used).', flag_values=fv)
  flags.DEFINE_bool('debug', False, 'Show the traceback of errors too.',
                    flag_values=fv)


def run(fv: flags.FlagValues = flags.FLAGS) -> str:
  """Does what the parsed flags ask and returns the text to print."""
  if fv.list:
    return list_models(fv.count)
  kwargs: dict[str, Any] = {}
  if fv.config is not None:
    name, kwargs, shape, num_classes, dtype = from_config(fv.config)
    kwargs['dtype'] = dtype
  elif fv.model:
    name = fv.model
    from cnn_jax import config_validation  # pylint: disable=g-import-not-at-top
    problem = config_validation.check_field('model', name)
    if problem:
      raise errors.UserError(problem)
    spec = models.get_spec(name)
    shape, num_classes = spec.input_shape, spec.num_classes
  else:
    raise errors.UserError('Pass --model=NAME, --config=FILE or --list.')
  if fv.model and fv.config is not None and fv.model != name:
    raise errors.UserError('--model and --config name different models.')
  if fv.input_shape:
    try:
      shape = tuple(int(d) for d in fv.input_shape)
    except ValueError:
      shape = ()
    if len(shape) != 3 or min(shape) < 1:
      raise errors.UserError(f'--input_shape={",".join(fv.input_shape)}: '
                             'give H,W,C, three positive integers.')
  if fv.num_classes is not None:
    num_classes = fv.num_classes
  model = models.build(name, num_classes=num_classes, **kwargs)
  s = summarize(model, shape, name=name, batch_size=fv.batch_size,
                compute_flops=fv.flops)
  return format_summary(s, depth=fv.depth)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise errors.UserError(f'Unexpected arguments: {argv[1:]}')
  print(run(flags.FLAGS))


if __name__ == '__main__':
  define_flags()
  errors.run(main)
