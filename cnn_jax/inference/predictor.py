"""Top-k predictions of a checkpoint on image files, without TensorFlow.

``Predictor.load(directory)`` reads a training workdir or a converted
checkpoint: the network from ``model.json``, the weights (the workdir's best
validation state, or its latest), the class names from ``dataset.json`` and
the evaluation preprocessing from ``preprocessing.json``
(``inference.records``). ``predict(paths)`` decodes the files with Pillow,
prepares them as the checkpoint's evaluation did (``data.preprocessing``) and
runs the model in fixed-size batches, one jit compilation, on JAX's default
backend (CPU, GPU or TPU).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax import models
from cnn_jax.data import preprocessing as prep
from cnn_jax.inference import records

# Files a folder argument contributes (anything Pillow reads may be named).
IMAGE_EXTENSIONS = (
  '.jpg',
  '.jpeg',
  '.png',
  '.bmp',
  '.gif',
  '.webp',
  '.tif',
  '.tiff',
)


@dataclasses.dataclass
class Prediction:
  path: str
  top: list[tuple[int, str, float]]  # (class index, name, probability)

  def to_dict(self) -> dict[str, Any]:
    return {
      'file': self.path,
      'predictions': [
        {'class': name, 'index': index, 'probability': prob}
        for index, name, prob in self.top
      ],
    }


def _missing_records_message(directory: str, missing: list[str]) -> str:
  return (
    f'{directory} has no {" / ".join(missing)}. A training workdir gets '
    'them when a run starts (runs made before predict existed: run '
    '`python -m cnn_jax.main --config=CONFIG --workdir='
    + directory
    + ' --config.eval_only=True` once); a converted checkpoint gets them '
    'from `python -m cnn_jax.convert`.'
  )


def find_weights(directory: str, which: str = 'best') -> tuple[str, int]:
  """(Orbax manager directory, step) holding the weights to use.

  A workdir: ``best/`` (the best validation state) with ``which='best'``
  when there is one, else ``checkpoints/`` (the latest); a converted
  checkpoint: the directory itself.
  """
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  if which not in ('best', 'latest'):
    raise ValueError(f"which must be 'best' or 'latest', not {which!r}.")
  order = (
    ['best', 'checkpoints', ''] if which == 'best' else ['checkpoints', '']
  )
  for sub in order:
    path = os.path.join(directory, sub)
    if not os.path.isdir(path):
      continue
    manager = ocp.CheckpointManager(path)
    step = manager.latest_step()
    manager.close()
    if step is not None:
      return path, step
  raise FileNotFoundError(
    f'No checkpoint in {directory} (looked in {", ".join(s or "." for s in order)}). '
    'Pass a training workdir or the --out of python -m cnn_jax.convert.'
  )


def restore_variables(path: str, step: int, model, input_shape) -> dict:
  """``{'params', 'batch_stats'}`` of ``model`` from an Orbax checkpoint.

  Restored onto one device whatever the training sharding was, and only the
  model's variables (not the optimizer state): of a best/ checkpoint, the
  weights it kept (raw or EMA).
  """
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  abstract = jax.eval_shape(
    functools.partial(model.init, train=True),
    {'params': jax.random.key(0), 'dropout': jax.random.key(1)},
    jnp.zeros((1, *input_shape), jnp.float32),
  )
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(
    lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
    {
      'params': abstract['params'],
      'batch_stats': abstract.get('batch_stats', {}),
    },
  )
  manager = ocp.CheckpointManager(path)
  from cnn_jax.training import checkpointing  # pylint: disable=g-import-not-at-top

  ema = checkpointing.saved_weights(manager, step) == 'ema'
  if ema:  # a best/ checkpoint that kept the moving averages
    target = {'ema': target}
  try:
    restored = manager.restore(
      step,
      args=ocp.args.PyTreeRestore(
        item=target,
        restore_args=ocp.checkpoint_utils.construct_restore_args(target),
        partial_restore=True,
      ),
    )
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(
      f'The checkpoint in {path} (step {step}) does not fit the model its '
      f'model.json describes ({type(e).__name__}: {str(e)[:300]}).'
    ) from e
  finally:
    manager.close()
  return restored['ema'] if ema else restored


def list_images(arguments: Sequence[str]) -> list[str]:
  """Files named, plus the image files under folders named (sorted)."""
  paths, missing = [], []
  for arg in arguments:
    if os.path.isdir(arg):
      found = sorted(
        os.path.join(root, f)
        for root, dirs, files in os.walk(arg)
        for f in files
        if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith('.')
      )
      if not found:
        missing.append(f'{arg} (a folder without image files)')
      paths += found
    elif os.path.isfile(arg):
      paths.append(arg)
    else:
      missing.append(f'{arg} (no such file or folder)')
  if missing:
    raise FileNotFoundError('Nothing to predict from: ' + '; '.join(missing))
  return paths


@dataclasses.dataclass
class Predictor:
  """A model with its weights, preprocessing and class names."""

  model: Any
  variables: dict
  preprocessing: prep.Preprocessing
  class_names: list[str]
  directory: str = ''
  step: Optional[int] = None

  @classmethod
  def load(cls, directory: str, which: str = 'best') -> 'Predictor':
    directory = os.path.abspath(directory)
    if os.path.isfile(directory):
      raise FileNotFoundError(
        f'{directory} is a file: pass a training workdir or a converted '
        'checkpoint (a directory).'
      )
    if not os.path.isdir(directory):
      raise FileNotFoundError(
        f'{directory} does not exist: pass a training '
        'workdir or a converted checkpoint.'
      )
    model_rec = records.read_json(directory, records.MODEL_FILE)
    pre = records.read_preprocessing(directory)
    missing = [
      name
      for name, rec in (
        (records.MODEL_FILE, model_rec),
        (records.PREPROCESSING_FILE, pre),
      )
      if rec is None
    ]
    if missing:
      raise FileNotFoundError(_missing_records_message(directory, missing))
    num_classes = int(model_rec['num_classes'])
    model = models.build(
      model_rec['model'],
      num_classes=num_classes,
      dtype=jnp.dtype(model_rec.get('dtype', 'float32')),
      **model_rec.get('model_kwargs', {}),
    )
    path, step = find_weights(directory, which)
    variables = restore_variables(path, step, model, pre.output_shape)
    names = records.class_names(directory) or []
    names = (
      list(names) + [f'class_{i}' for i in range(len(names), num_classes)]
    )[:num_classes]
    return cls(model, variables, pre, names, directory, step)

  @functools.cached_property
  def _apply(self):
    def probabilities(variables, images):
      logits = self.model.apply(variables, images, train=False)
      return jax.nn.softmax(logits.astype(jnp.float32), axis=-1)

    return jax.jit(probabilities)

  def prepare(self, path: str) -> np.ndarray:
    """One file as the model's input (raises ValueError if unreadable)."""
    import PIL.Image  # pylint: disable=g-import-not-at-top

    try:
      with PIL.Image.open(path) as image:
        image.load()
        return self.preprocessing(image)
    except (OSError, ValueError, SyntaxError) as e:
      raise ValueError(f'{path}: {type(e).__name__}: {e}') from e

  def probabilities(
    self, images: np.ndarray, batch_size: int = 32
  ) -> np.ndarray:
    """Class probabilities of prepared images, in fixed-size batches."""
    out = []
    for start in range(0, len(images), batch_size):
      chunk = images[start : start + batch_size]
      n = len(chunk)
      if n < batch_size:  # one compiled shape for every batch
        chunk = np.concatenate(
          [chunk, np.zeros((batch_size - n, *chunk.shape[1:]), chunk.dtype)]
        )
      out.append(
        np.asarray(
          jax.device_get(self._apply(self.variables, jnp.asarray(chunk)))
        )[:n]
      )
    return np.concatenate(out) if out else np.zeros((0, len(self.class_names)))

  def predict(
    self, paths: Sequence[str], top_k: int = 5, batch_size: int = 32
  ) -> list[Prediction]:
    """Top-k classes of each image file.

    All files are read first: unreadable ones are reported together, before
    any work on the model.
    """
    images, errors = [], []
    for path in paths:
      try:
        images.append(self.prepare(path))
      except ValueError as e:
        errors.append(str(e))
    if errors:
      raise ValueError(
        f'{len(errors)} file(s) cannot be read as images: '
        + '; '.join(errors[:5])
        + (' ...' if len(errors) > 5 else '')
        + '. Remove them or pass only image files.'
      )
    probs = self.probabilities(np.stack(images), min(batch_size, len(images)))
    k = min(top_k, probs.shape[-1])
    results = []
    for path, p in zip(paths, probs):
      order = np.argsort(-p, kind='stable')[:k]
      results.append(
        Prediction(
          path, [(int(i), self.class_names[i], float(p[i])) for i in order]
        )
      )
    return results
