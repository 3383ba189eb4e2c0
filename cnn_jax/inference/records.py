"""The records beside a checkpoint that make it usable on its own.

* ``model.json``: the registered model, the arguments it is built with
  (e.g. ``transform_input``), its class count and compute dtype;
* ``dataset.json``: the dataset's facts: name, class count, class names in
  label order, the model input shape, the split sizes and, for an image
  folder, its root and layout;
* ``preprocessing.json``: how an image file becomes the model's input at
  evaluation (``data.preprocessing.Preprocessing``).

The trainer writes all three into the workdir when a run starts, the
converter into its output directory (with the preprocessing the reference
library uses for its pretrained weights). ``python -m cnn_jax.predict``
needs nothing else, so a checkpoint predicts with the network, class names
and preprocessing it was trained or converted with. (``config.json``, the
whole run config, is the trainer's record of how a run was made; these are
what any checkpoint, trained or converted, needs to be used.)
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from cnn_jax.data import image_folder, preprocessing

MODEL_FILE = 'model.json'
DATASET_FILE = 'dataset.json'
PREPROCESSING_FILE = 'preprocessing.json'


def write_json(directory: str, name: str, record: dict[str, Any]) -> str:
  """Writes ``directory/name`` atomically (a kill leaves the old or the new)."""
  path = os.path.join(directory, name)
  tmp = f'{path}.tmp.{os.getpid()}'
  with open(tmp, 'w') as f:
    json.dump(record, f, indent=2)
    f.write('\n')
  os.replace(tmp, path)
  return path


def read_json(directory: str, name: str) -> Optional[dict[str, Any]]:
  """``directory/name`` parsed, or None if there is none."""
  path = os.path.join(directory, name)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    try:
      return json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(
        f'{path} is not valid JSON ({e}); delete it, or '
        'rerun the command that wrote it.'
      ) from e


def _native(config) -> tuple[tuple[int, int], int, Optional[str]]:
  """(native (H, W), decoded channels, image folder root or None)."""
  if config.dataset == image_folder.NAME:
    folder = image_folder.scan_for(config)
    h, w, c = image_folder.native_shape(config, folder)
    return (h, w), c, folder.root
  if config.dataset == 'synthetic':
    h, w, c = config.synthetic_shape
    return (h, w), c, None
  from cnn_jax.data import datasets  # pylint: disable=g-import-not-at-top

  h, w, c = datasets.get_spec(config.dataset).image_shape
  return (h, w), c, None


def eval_preprocessing(config, info) -> preprocessing.Preprocessing:
  """The evaluation preprocessing of a run (its input path's eval batches)."""
  native_hw, channels, root = _native(config)
  size = config.get('eval_image_size') or config.image_size
  read_size = image_folder.read_size(config) if root else None
  return preprocessing.Preprocessing(
    input_size=size,
    native_hw=None if size else native_hw,
    crop_fraction=float(config.eval_crop_fraction),
    read_size=read_size,
    rounded=info.jpeg_photos,
    interpolation='bilinear',
    mean=tuple(info.mean),
    std=tuple(info.std),
    channels=channels,
    grayscale_to_rgb=bool(config.grayscale_to_rgb and channels == 1),
  )


def dataset_record(config, info, num_classes: int) -> dict[str, Any]:
  """The facts of ``dataset.json`` for a run on ``info``."""
  if config.dataset == image_folder.NAME:
    folder = image_folder.scan_for(config)
    names = list(folder.class_names)
    extra = {'image_folder': folder.summary()}
  else:
    from cnn_jax.data import datasets  # pylint: disable=g-import-not-at-top

    names = datasets.label_names(
      config.dataset,
      info.num_classes,
      config.data_dir,
      config.manual_dir,
      config.download,
    )
    extra = {}
  if num_classes != len(names):  # a head wider than the dataset's classes
    names = (names + [f'class_{i}' for i in range(len(names), num_classes)])[
      :num_classes
    ]
  return {
    'name': info.dataset,
    'num_classes': num_classes,
    'class_names': names,
    'image_shape': list(info.image_shape),
    'mean': list(info.mean),
    'std': list(info.std),
    'num_examples': {s: sl.size for s, sl in info.splits.items()},
    **extra,
  }


def model_record(
  model: str,
  model_kwargs: dict[str, Any],
  num_classes: int,
  dtype: str = 'float32',
  **extra: Any,
) -> dict[str, Any]:
  """The facts of ``model.json``: enough to build the network again."""
  return {
    'model': model,
    'model_kwargs': dict(model_kwargs),
    'num_classes': int(num_classes),
    'dtype': dtype,
    **extra,
  }


def write_run_records(workdir: str, config, info, num_classes: int) -> None:
  """``model.json``, ``dataset.json`` and ``preprocessing.json`` of a run."""
  kwargs = config.model_kwargs.to_dict() if config.model_kwargs else {}
  write_json(
    workdir,
    MODEL_FILE,
    model_record(config.model, kwargs, num_classes, str(config.dtype)),
  )
  write_json(workdir, DATASET_FILE, dataset_record(config, info, num_classes))
  write_json(
    workdir, PREPROCESSING_FILE, eval_preprocessing(config, info).to_dict()
  )


def class_names(directory: str) -> Optional[list[str]]:
  """The class names recorded in ``directory/dataset.json``, if any."""
  record = read_json(directory, DATASET_FILE)
  return None if record is None else record.get('class_names')


def read_preprocessing(directory: str) -> Optional[preprocessing.Preprocessing]:
  record = read_json(directory, PREPROCESSING_FILE)
  return (
    None if record is None else preprocessing.Preprocessing.from_dict(record)
  )


def init_from_mismatches(config, directory: str, info) -> list[str]:
  """What differs between a run and the checkpoint it starts from.

  A converted pretrained model expects its own model arguments (torchvision's
  GoogLeNet: ``transform_input=True``) and input normalization; a run that
  fine-tunes it otherwise still trains, on features computed from inputs the
  weights were not made for. Returns one line per difference (for a warning).
  """
  out = []
  model_rec = read_json(directory, MODEL_FILE) or {}
  ours = config.model_kwargs.to_dict() if config.model_kwargs else {}
  for key, value in (model_rec.get('model_kwargs') or {}).items():
    if ours.get(key) != value:
      out.append(
        f'{directory} was made with model argument {key}={value}; '
        f'this run has {key}={ours.get(key)} (set '
        f'--config.model_kwargs.{key}={value}).'
      )
  pre = read_preprocessing(directory)
  if pre is not None:

    def close(a, b):
      return len(a) == len(b) and all(abs(x - y) < 1e-3 for x, y in zip(a, b))

    if pre.channel_order != 'RGB':
      out.append(
        f'{directory} expects {pre.channel_order} input; this run feeds RGB.'
      )
    if not (close(pre.mean, info.mean) and close(pre.std, info.std)):
      out.append(
        f'{directory} expects inputs normalized with mean '
        f'{list(pre.mean)} and std {list(pre.std)}; this run uses '
        f'{list(info.mean)} and {list(info.std)} (set '
        '--config.mean and --config.std).'
      )
  return out
