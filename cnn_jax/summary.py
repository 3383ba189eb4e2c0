"""Keras-style model summary: layers, output shapes, parameters, FLOPs.

Usage (from the repository root):

  python -m cnn_jax.summary --model=resnet50
  python -m cnn_jax.summary --model=mobilenet_v2 --input_shape=160,160,3 \\
      --num_classes=10 --depth=1
  python -m cnn_jax.summary --config=configs/efficientnet_b0_imagenet.py
  python -m cnn_jax.summary --list            # registered names and shapes
  python -m cnn_jax.summary --list --count    # ... with parameter counts

Nothing is run (see :mod:`cnn_jax.analysis.layer_table`). ``--depth`` limits
how deep the nesting of submodules the table shows (0: no table, -1:
everything); totals always cover the whole model.
"""

from __future__ import annotations

from typing import Any, Sequence

from absl import flags
import jax.numpy as jnp

from cnn_jax import errors, models
from cnn_jax.analysis import layer_table, model_stats
from cnn_jax.data import datasets


def from_config(
  config,
) -> tuple[str, dict[str, Any], tuple[int, int, int], int, Any]:
  """(model name, model kwargs, input shape, num_classes, dtype) of a config."""
  shape, num_classes = datasets.model_input(config)
  kwargs = dict(config.model_kwargs.to_dict()) if config.model_kwargs else {}
  return config.model, kwargs, shape, num_classes, jnp.dtype(config.dtype)


def list_models(count: bool = False) -> str:
  lines = []
  for name in models.known_models():
    spec = models.get_spec(name)
    line = (
      f'{name:<28} input {layer_table.fmt_shape(spec.input_shape):<16} '
      f'classes {spec.num_classes:>5}'
    )
    if count:
      p, b = model_stats.count_registered(name)
      line += f'   params {p:>13,}   BN stats {b:>9,}'
    lines.append(line)
  return '\n'.join(lines)


def define_flags(
  flag_values: flags.FlagValues = flags.FLAGS, argv=None
) -> None:
  """Defines the CLI flags (on a fresh FlagValues with its argv in tests)."""
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top

  fv = flag_values
  flags.DEFINE_string('model', None, 'Registered model name.', flag_values=fv)
  flags.DEFINE_list(
    'input_shape',
    None,
    "H,W,C of one input; default: the model's native shape "
    "(or the config's dataset/image_size).",
    flag_values=fv,
  )
  flags.DEFINE_integer(
    'num_classes',
    None,
    "Classifier outputs; default: the reference class count (or the config's).",
    flag_values=fv,
  )
  flags.DEFINE_integer(
    'batch_size', 1, 'Batch size for shapes and FLOPs.', flag_values=fv
  )
  flags.DEFINE_integer(
    'depth',
    2,
    'Nesting depth of the layer table (0: no table, -1: all).',
    flag_values=fv,
  )
  flags.DEFINE_bool('flops', True, 'Compute FLOPs/MACs.', flag_values=fv)
  flags.DEFINE_bool(
    'list', False, 'List registered models and exit.', flag_values=fv
  )
  flags.DEFINE_bool(
    'count',
    False,
    "With --list: count every model's parameters (slow).",
    flag_values=fv,
  )
  config_flags.DEFINE_config_file(
    'config',
    None,
    'A config file (its model, '
    'model_kwargs, num_classes, dataset and '
    'image_size are used).',
    flag_values=fv,
    sys_argv=argv,
  )
  flags.DEFINE_bool(
    'debug', False, 'Show the traceback of errors too.', flag_values=fv
  )


def run(fv: flags.FlagValues = flags.FLAGS) -> str:
  """Does what the parsed flags ask and returns the text to print."""
  from cnn_jax import config_validation  # pylint: disable=g-import-not-at-top

  if fv.list:
    return list_models(fv.count)
  for flag, low in (('num_classes', 1), ('batch_size', 1), ('depth', -1)):
    value = fv[flag].value
    if value is not None and value < low:
      raise errors.UserError(f'--{flag}={value}: must be an integer >= {low}.')
  kwargs: dict[str, Any] = {}
  if fv.config is not None:
    config_validation.validate(fv.config)
    name, kwargs, shape, num_classes, dtype = from_config(fv.config)
    kwargs['dtype'] = dtype
  elif fv.model:
    name = fv.model
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
      raise errors.UserError(
        f'--input_shape={",".join(fv.input_shape)}: '
        'give H,W,C, three positive integers.'
      )
  if fv.num_classes is not None:
    num_classes = fv.num_classes
  model = models.build(name, num_classes=num_classes, **kwargs)
  s = layer_table.summarize(
    model, shape, name=name, batch_size=fv.batch_size, compute_flops=fv.flops
  )
  return layer_table.format_summary(s, depth=fv.depth)


def main(
  argv: Sequence[str], flag_values: flags.FlagValues = flags.FLAGS
) -> None:
  if len(argv) > 1:
    raise errors.UserError(f'Unexpected arguments: {argv[1:]}')
  print(run(flag_values))


if __name__ == '__main__':
  define_flags()
  errors.run(main)
