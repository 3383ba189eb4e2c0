"""Converts torchvision / timm / Keras weights into an Orbax checkpoint of ours.

Usage (from the repository root):

  # A torchvision ResNet-18 (random weights, or a state_dict you have):
  python -m cnn_jax.convert --source=torchvision --model=resnet18 \\
      --weights=resnet18-f37072fd.pth --out=/tmp/resnet18_converted
  # keras.applications (our name -> Keras class: conversion.keras_source):
  python -m cnn_jax.convert --source=keras --model=resnet50v2 \\
      --weights=resnet50v2_weights_tf_dim_ordering_tf_kernels.h5 \\
      --out=/tmp/resnet50v2_converted
  # timm:
  python -m cnn_jax.convert --source=timm --model=seresnet50 --out=/tmp/se50

  # Then evaluate or fine-tune from it (a new head if the class count differs):
  python -m cnn_jax.main --config=configs/resnet18_finetune_fashion_mnist.py \\
      --config.init_from=/tmp/resnet18_converted --workdir=/tmp/ft

Nothing is downloaded: without ``--weights`` the reference keeps its random
initialization (useful to check a model's wiring). The reference model is
built, its weights are paired with our layers (``cnn_jax.conversion``), both
models run on a random batch, and the checkpoint is written only if their
logits agree (``--max_relative_error``). ``--out`` then holds
``{'params', 'batch_stats'}`` at step 0 of an Orbax CheckpointManager
directory, which ``checkpointing.load_variables`` and ``--config.init_from``
read, with ``model.json`` (our model and the arguments it is built with),
``preprocessing.json`` (how the reference library prepares images for its
pretrained weights) and ``dataset.json`` (class names) beside it, which
``python -m cnn_jax.predict --checkpoint=OUT`` reads. A weights file that
does not fit the model stops the conversion with an error naming the first
mismatched tensor and both shapes. The checkpoint is read back and checked
against its fingerprint before the command reports it written. Errors are one
message with exit status 2 (``--debug``: with the traceback).

torchvision's pretrained GoogLeNet and Inception-v3 re-normalize their input
inside the network (``transform_input``); with ``--weights`` the reference
and ours are built so, as torchvision's builders do (``--transform_input``
overrides). ``cnn_jax.conversion.pretrained`` lists every such
pretrained-only convention of the three libraries.
"""

from __future__ import annotations

import math
import os
from typing import Optional

from absl import flags
from absl import logging
import jax
import numpy as np

from cnn_jax import errors
from cnn_jax.training import workdir_lock


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Defines the CLI flags (on a fresh FlagValues in tests)."""
  fv = flag_values
  flags.DEFINE_enum(
    'source',
    None,
    ['torchvision', 'timm', 'keras'],
    'Library of the reference model.',
    flag_values=fv,
  )
  flags.DEFINE_string(
    'model',
    None,
    'Our registered model name (python -m cnn_jax.summary --list).',
    flag_values=fv,
  )
  flags.DEFINE_string(
    'reference_name',
    '',
    "The reference's name for it "
    '(default: the same for torchvision/timm, the '
    'keras.applications class in keras_source.KERAS_MODELS '
    'for keras).',
    flag_values=fv,
  )
  flags.DEFINE_string(
    'weights',
    '',
    'Weights file: a torch state_dict '
    '(.pth/.pt) or Keras weights (.weights.h5/.h5/.keras). '
    'Empty: random initialization.',
    flag_values=fv,
  )
  flags.DEFINE_integer(
    'num_classes', 1000, 'Classes of the reference head.', flag_values=fv
  )
  flags.DEFINE_integer(
    'input_size',
    0,
    'Side of the square input of the '
    "verification pass (0: the model's native size). "
    'Keras models are built for this size.',
    flag_values=fv,
  )
  flags.DEFINE_float(
    'max_relative_error',
    1e-4,
    'Refuse to write the '
    'checkpoint if max|ours - reference| / max|reference| '
    'over the verification batch exceeds this (< 0: never '
    'refuse).',
    flag_values=fv,
  )
  flags.DEFINE_string(
    'out',
    None,
    'Output directory (must not hold a checkpoint yet).',
    flag_values=fv,
  )
  flags.DEFINE_bool(
    'debug', False, 'Show the traceback of errors too.', flag_values=fv
  )
  flags.DEFINE_bool(
    'transform_input',
    None,
    'torchvision googlenet / '
    'inception_v3: re-normalize the ImageNet-normalized input '
    'to [-1, 1] in the network. Default: as torchvision '
    'builds the model (true with --weights, as its pretrained '
    'builders; false for a random initialization).',
    flag_values=fv,
  )


def check_flags(
  source: str,
  model: str,
  *,
  reference_name: str,
  weights: str,
  num_classes: int,
  input_size: int,
  max_relative_error: float,
) -> None:
  """A UserError naming the first flag the conversion cannot use, before
  any work."""
  from cnn_jax import models  # pylint: disable=g-import-not-at-top
  from cnn_jax.analysis import input_size as input_size_lib  # pylint: disable=g-import-not-at-top
  from cnn_jax.conversion import keras_source  # pylint: disable=g-import-not-at-top

  if source == 'keras' and not reference_name:
    if model not in keras_source.KERAS_MODELS:
      ours = ', '.join(keras_source.KERAS_MODELS)
      raise errors.UserError(
        f'--model={model} has no Keras reference. The models converted from '
        f'Keras: {ours}; --reference_name=CLASS names a keras.applications '
        'class.'
      )
  if weights and not os.path.isfile(weights):
    raise errors.UserError(f'--weights={weights}: no such file.')
  if num_classes < 1:
    raise errors.UserError(
      f'--num_classes={num_classes}: must be an integer >= 1.'
    )
  if input_size < 0:
    raise errors.UserError(
      f"--input_size={input_size}: must be 0 (the model's native size) or "
      'a side in pixels.'
    )
  if math.isnan(max_relative_error):
    raise errors.UserError(
      '--max_relative_error=nan: give a number (< 0: never refuse).'
    )
  spec = models.get_spec(model)
  if 0 < input_size < min(spec.input_shape[:2]):
    channels = spec.input_shape[2]
    problem = input_size_lib.input_size_problem(
      models.build(model, num_classes=num_classes),
      (input_size, input_size, channels),
    )
    if problem:
      smallest = input_size_lib.min_input_size(model, channels)
      raise errors.UserError(
        f'--input_size={input_size} is too small for {model}: {problem}. It '
        f'takes at least {smallest}.'
      )


def run(
  source: str,
  model: str,
  out: str,
  *,
  reference_name: str = '',
  weights: str = '',
  num_classes: int = 1000,
  input_size: int = 0,
  max_relative_error: float = 1e-4,
  transform_input: Optional[bool] = None,
) -> float:
  """The CLI's work; returns the verified relative logit difference."""
  from cnn_jax import config_validation  # pylint: disable=g-import-not-at-top
  from cnn_jax.conversion import convert_lib  # pylint: disable=g-import-not-at-top

  problem = config_validation.check_field('model', model)
  if problem:
    raise errors.UserError(problem)
  check_flags(
    source,
    model,
    reference_name=reference_name,
    weights=weights,
    num_classes=num_classes,
    input_size=input_size,
    max_relative_error=max_relative_error,
  )
  convert_lib.check_empty(out)  # before the work, not after.
  workdir_lock.check_creatable(out, '--out')
  result = convert_lib.convert(
    source,
    model,
    reference=reference_name or None,
    weights=weights,
    num_classes=num_classes,
    input_size=input_size or None,
    transform_input=transform_input,
  )
  err = result.relative_error
  num_params = sum(
    int(np.prod(x.shape)) for x in jax.tree.leaves(result.variables['params'])
  )
  ref = reference_name or convert_lib.reference_name(source, model)
  print(
    f'{source} {ref} -> {model}: {num_params:,} parameters; on a random '
    f'batch of {len(result.batch)} at {result.input_shape}, max relative '
    f'logit difference {err:.3g} ({result.seconds:.1f} s).'
  )
  if result.momentum_mismatches:
    print(
      f'Note: {len(result.momentum_mismatches)} BatchNorm momenta differ '
      "from the reference's (only fine-tuning is affected), e.g. "
      f'{result.momentum_mismatches[0]}.'
    )
  scale = float(np.abs(result.reference_logits).max())
  if scale < 1e-6:
    print(
      f"Note: the reference's logits are nearly zero on this batch (max "
      f'{scale:.3g}; random weights with untrained BatchNorm often vanish '
      'like this), so the logit check says little here; the weights were '
      'still paired layer by layer with matching shapes.'
    )
  if 0 <= max_relative_error < err:
    raise errors.UserError(
      f'Not written: the logits differ by {err:.3g} (relative) > '
      f'--max_relative_error={max_relative_error}. The weights fit, but our '
      f'{model} does not compute the same function as the reference.'
    )
  for note in result.notes:
    print(f'Note: {note}')
  # The records first: a kill before the checkpoint leaves a directory that
  # the same command fills again.
  convert_lib.write_records(
    out,
    result,
    model=model,
    source=source,
    reference=ref,
    weights=weights,
    num_classes=num_classes,
  )
  path = convert_lib.save(result.variables, out)
  pre = result.preprocessing
  print(
    f'Wrote {path} (load with --config.init_from={path}; predict with '
    f'python -m cnn_jax.predict --checkpoint={path} IMAGE...).'
  )
  if pre is not None:
    geometry = (
      f'resize to {pre.resize_size}, center crop {pre.input_size}'
      if pre.resize_size
      else f'resize to {pre.input_size}'
    )
    print(
      f'Preprocessing ({result.preprocessing_source}): {geometry}, '
      f'{pre.interpolation}, mean {_rounded(pre.mean)} std '
      f'{_rounded(pre.std)} {pre.channel_order}; kept in '
      'preprocessing.json.'
    )
  if result.model_kwargs:
    kwargs = ' '.join(
      f'--config.model_kwargs.{k}={v}' for k, v in result.model_kwargs.items()
    )
    print(
      f'Built with {result.model_kwargs} (model.json); to fine-tune '
      f'from it, pass {kwargs}.'
    )
  return err


def _rounded(values) -> str:
  return '(' + ', '.join(f'{v:.4g}' for v in values) + ')'


def run_flags(fv: flags.FlagValues = flags.FLAGS) -> float:
  """Runs the parsed flags; a ConversionError becomes a UserError."""
  from cnn_jax.conversion.layer_list import ConversionError  # pylint: disable=g-import-not-at-top

  for name in ('source', 'model', 'out'):
    if not fv[name].value:
      raise errors.UserError(
        f'--{name} is required (--helpfull lists the flags).'
      )
  try:
    return run(
      fv.source,
      fv.model,
      fv.out,
      reference_name=fv.reference_name,
      weights=fv.weights,
      num_classes=fv.num_classes,
      input_size=fv.input_size,
      max_relative_error=fv.max_relative_error,
      transform_input=fv.transform_input,
    )
  except (ConversionError, FileExistsError, ValueError) as e:
    raise errors.UserError(f'Conversion failed: {e}') from e


def main(argv):
  if len(argv) > 1:
    raise errors.UserError(f'Unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.WARNING)  # Orbax logs every file at INFO.
  run_flags(flags.FLAGS)


if __name__ == '__main__':
  define_flags()
  errors.run(main)
