"""What does a model say about my pictures? Top-k classes with probabilities.

Usage (from the repository root):

  # A model you trained (the workdir of python -m cnn_jax.main):
  python -m cnn_jax.predict --checkpoint=workdirs/shapes photo.jpg more/
  # A converted torchvision / timm / Keras model (python -m cnn_jax.convert):
  python -m cnn_jax.predict --checkpoint=/tmp/resnet50_converted cat.jpg --json

Arguments are image files (anything Pillow reads) and folders (their image
files, recursively). Each image is prepared as the checkpoint's evaluation
prepares it (its ``preprocessing.json``: the run's crop, resize and
normalization, or for a converted model the reference library's own), in
NumPy and Pillow: TensorFlow is not needed. The model runs in batches on
JAX's default backend (``JAX_PLATFORMS=cpu`` to force the CPU). Class names
come from the checkpoint's ``dataset.json`` (the folder names of an image
folder, the dataset's label names, ImageNet's 1,000 names for converted
ImageNet models).

A workdir predicts with its best validation state (``--which=latest`` for the
latest checkpoint). ``--json`` prints one JSON object instead of the table.
"""

from __future__ import annotations

import json

from absl import flags
from absl import logging

from cnn_jax import errors


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Defines the CLI flags (on a fresh FlagValues in tests)."""
  fv = flag_values
  flags.DEFINE_string(
    'checkpoint',
    None,
    'A training workdir '
    '(python -m cnn_jax.main) or a converted checkpoint '
    '(the --out of python -m cnn_jax.convert).',
    flag_values=fv,
  )
  flags.DEFINE_integer('top_k', 5, 'Classes shown per image.', flag_values=fv)
  flags.DEFINE_integer(
    'batch_size', 32, 'Images per forward pass.', flag_values=fv
  )
  flags.DEFINE_enum(
    'which',
    'best',
    ['best', 'latest'],
    'In a workdir: the best validation state or the latest checkpoint.',
    flag_values=fv,
  )
  flags.DEFINE_bool(
    'json', False, 'Print JSON instead of a table.', flag_values=fv
  )


def format_table(predictions) -> str:
  lines = []
  for p in predictions:
    lines.append(p.path)
    for _, name, prob in p.top:
      lines.append(f'  {100 * prob:6.2f}%  {name}')
  return '\n'.join(lines)


def run(
  checkpoint: str,
  paths,
  *,
  top_k: int = 5,
  batch_size: int = 32,
  which: str = 'best',
  as_json: bool = False,
) -> str:
  """The CLI's work: the text it prints."""
  from cnn_jax.inference import predictor  # pylint: disable=g-import-not-at-top

  files = predictor.list_images(paths)
  model = predictor.Predictor.load(checkpoint, which)
  predictions = model.predict(files, top_k=top_k, batch_size=batch_size)
  if as_json:
    return json.dumps(
      {
        'checkpoint': model.directory,
        'step': model.step,
        'results': [p.to_dict() for p in predictions],
      },
      indent=2,
    )
  return format_table(predictions)


def run_flags(argv, fv: flags.FlagValues = flags.FLAGS) -> str:
  if not fv.checkpoint:
    raise errors.UserError(
      '--checkpoint=DIR is required (a training workdir or '
      'a converted checkpoint).'
    )
  if len(argv) < 2:
    raise errors.UserError('Name one or more image files or folders.')
  for name in ('top_k', 'batch_size'):
    if fv[name].value < 1:
      raise errors.UserError(
        f'--{name}={fv[name].value}: must be an integer >= 1.'
      )
  try:
    return run(
      fv.checkpoint,
      argv[1:],
      top_k=fv.top_k,
      batch_size=fv.batch_size,
      which=fv.which,
      as_json=fv.json,
    )
  except (FileNotFoundError, ValueError) as e:
    # The predictor's messages (a missing file, an unreadable image, a
    # checkpoint without its records) say what to do.
    if isinstance(e, errors.UserError):
      raise
    raise errors.UserError(str(e)) from e


def main(argv, flag_values: flags.FlagValues = flags.FLAGS):
  logging.set_verbosity(logging.WARNING)  # Orbax logs every read at INFO.
  print(run_flags(argv, flag_values))


if __name__ == '__main__':
  define_flags()
  errors.run(main)
