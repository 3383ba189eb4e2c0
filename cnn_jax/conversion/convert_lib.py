"""Reference model -> our Flax variables: the code path of ``cnn_jax.convert``.

``convert(source, model)`` builds the reference (torchvision, timm or
keras.applications) with random weights or a user's weights file, pairs its
conv/BN/dense layers with ours (``layer_list``), checks that both compute the
same logits on a random batch, and returns ``{'params', 'batch_stats'}``.
``save`` writes them as the Orbax checkpoint that
``checkpointing.load_variables`` (and ``--config.init_from``) reads.

Where each layout convention is handled:

* kernels (OIHW -> HWIO, (out, in) -> (in, out), grouped/depthwise kernels)
  and the NCHW flatten before a first dense layer: ``torch_source``,
  ``keras_source`` and ``layer_list.nchw_flatten_to_nhwc``;
* BatchNorm epsilon/momentum and TF 'SAME' vs PyTorch symmetric padding:
  hyper-parameters of each registered model (e.g. ``mobilenet_keras`` uses
  Keras' epsilon 1e-3 and 'SAME' padding), so the converter only copies
  tensors; the logit check catches a model whose conventions differ.
* what a library does only for pretrained weights (torchvision's
  ``transform_input`` for GoogLeNet / Inception-v3, DenseNet's old key
  names, each family's evaluation preprocessing): ``pretrained``. ``save``
  keeps the model arguments and that preprocessing beside the checkpoint
  (``inference.records``: model.json, preprocessing.json, dataset.json).
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Optional

import numpy as np

from cnn_jax import models
from cnn_jax.conversion import layer_list, pretrained
from cnn_jax.conversion.layer_list import ConversionError  # noqa: F401  (re-exported)
from cnn_jax.data import preprocessing as prep

SOURCES = ('torchvision', 'timm', 'keras')

# Our registered name -> the reference's name, where they differ. torchvision
# and timm models are registered under their own names; Keras names are in
# keras_source.KERAS_MODELS.
TORCH_NAMES: dict[str, dict[str, str]] = {'torchvision': {}, 'timm': {}}


def reference_name(source: str, model: str) -> str:
  """The reference's own name for our registered ``model``."""
  if source == 'keras':
    from cnn_jax.conversion import keras_source  # pylint: disable=g-import-not-at-top

    return keras_source.KERAS_MODELS.get(model, model)
  if source in TORCH_NAMES:
    return TORCH_NAMES[source].get(model, model)
  raise ValueError(f'Unknown source {source!r}; one of {", ".join(SOURCES)}.')


@dataclasses.dataclass
class Conversion:
  variables: dict[str, Any]  # {'params': ..., 'batch_stats': ...}, numpy.
  model: Any  # our Flax module.
  reference: Any  # the torch.nn.Module / keras.Model.
  input_shape: tuple[int, int, int]
  batch: np.ndarray  # the random probe batch (NHWC).
  our_logits: np.ndarray
  reference_logits: np.ndarray
  seconds: float
  # Our BatchNorm layers whose momentum differs from the reference's: no
  # effect on the converted function, only on how fine-tuning updates the
  # statistics.
  momentum_mismatches: list[str] = dataclasses.field(default_factory=list)
  # Arguments our model is built with (e.g. transform_input), the
  # evaluation preprocessing of the reference's pretrained weights and where
  # it comes from, and what the pretrained conventions decided.
  model_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
  preprocessing: Optional[prep.Preprocessing] = None
  preprocessing_source: str = ''
  notes: list[str] = dataclasses.field(default_factory=list)

  @property
  def relative_error(self) -> float:
    """max |ours - reference| / max |reference| over the probe batch."""
    ref = self.reference_logits
    return float(
      np.max(np.abs(self.our_logits - ref)) / (np.max(np.abs(ref)) + 1e-30)
    )


def convert(
  source: str,
  model: str,
  *,
  reference: Optional[str] = None,
  weights: str = '',
  num_classes: int = 1000,
  input_size: Optional[int] = None,
  batch_size: int = 2,
  seed: int = 0,
  randomize_batch_norm: bool = False,
  reference_kwargs: Optional[dict[str, Any]] = None,
  transform_input: Optional[bool] = None,
) -> Conversion:
  """Converts a reference model's weights into our ``model``'s variables.

  Args:
    source: 'torchvision', 'timm' or 'keras'.
    model: our registered model name.
    reference: the reference's name (default: ``reference_name``).
    weights: a weights file (torch state_dict .pth/.pt, or Keras
      .weights.h5/.h5/.keras); '' keeps the reference's random init.
    num_classes: classifier outputs of the reference (and of ours).
    input_size: side of the square probe input (default: our model's native
      size). Fully convolutional parts make the weights independent of it.
    batch_size: probe batch size.
    seed: seed of the probe batch, of the reference's random initialization
      and of the randomized BN statistics.
    randomize_batch_norm: give the reference's BN layers random statistics
      and affine parameters first (tests: freshly initialized BN is the
      identity and would hide mistakes in the statistics).
    reference_kwargs: extra arguments to the reference's constructor.
    transform_input: torchvision GoogLeNet / Inception-v3 only: None builds
      the reference as torchvision does (``transform_input=True`` when a
      weights file is given, as its pretrained builders; off otherwise);
      True/False forces it, in the reference and in ours.

  Raises:
    ConversionError: the weights file does not fit the reference, or the
      reference's layers do not fit ours (naming the first misfit).
  """
  start = time.perf_counter()
  spec = models.get_spec(model)
  size = input_size or spec.input_shape[0]
  input_shape = (size, size, spec.input_shape[2])
  ref_name = reference or reference_name(source, model)
  conv = pretrained.conventions(
    source, ref_name, model, weights=weights, transform_input=transform_input
  )
  ours = models.build(model, num_classes=num_classes, **conv.model_kwargs)
  batch = (
    np.random.default_rng(seed)
    .normal(size=(batch_size, *input_shape))
    .astype(np.float32)
  )

  pairs = []
  if source == 'keras':
    from cnn_jax.conversion import keras_source  # pylint: disable=g-import-not-at-top

    ref = keras_source.build_reference(
      ref_name,
      input_shape,
      num_classes,
      weights_path=weights,
      **{**conv.reference_kwargs, **(reference_kwargs or {})},
    )
    if randomize_batch_norm:
      keras_source.randomize_batch_norm(ref, seed, _calibration(batch, seed))
    ref_layers, ref_logits = keras_source.reference_layers_and_logits(
      ref, batch
    )
    # The pairing pass runs our model with exactly the variables it returns
    # (every variable checked to come from the reference): its logits are
    # our model's, and a second compile is saved.
    variables, logits = layer_list.assemble_by_dataflow(
      ref_layers, ours, batch, pairs=pairs
    )
  elif source in ('torchvision', 'timm'):
    from cnn_jax.conversion import torch_source  # pylint: disable=g-import-not-at-top

    torch_source.import_torch().manual_seed(seed)  # reproducible random init
    ref = torch_source.build_reference(
      source,
      ref_name,
      num_classes,
      **{**conv.reference_kwargs, **(reference_kwargs or {})},
    )
    if weights:
      torch_source.load_weights(ref, weights)
    if conv.drop_aux:
      torch_source.drop_aux_heads(ref)
    if randomize_batch_norm:
      torch_source.randomize_batch_norm(ref, seed, _calibration(batch, seed))
    ref_layers, ref_logits = torch_source.reference_layers_and_logits(
      ref, batch
    )
    our_layers = layer_list.our_layers(ours, input_shape)
    variables = layer_list.assemble(ref_layers, our_layers)
    pairs.extend(zip(ref_layers, our_layers))
    # Jitted: one XLA compile of the model costs less CPU than running it op
    # by op (each op compiled on its own).
    logits = layer_list.run_once(
      lambda v, x: ours.apply(v, x, train=False), variables, batch
    )
  else:
    raise ValueError(f'Unknown source {source!r}; one of {", ".join(SOURCES)}.')
  if isinstance(logits, (tuple, list)):
    logits = logits[0]
  preprocessing, where = pretrained.preprocessing(
    source,
    ref_name,
    weights=weights,
    ref_model=ref,
    native_size=spec.input_shape[0],
  )
  return Conversion(
    variables,
    ours,
    ref,
    input_shape,
    batch,
    np.asarray(logits),
    np.asarray(ref_logits),
    time.perf_counter() - start,
    layer_list.momentum_mismatches(pairs),
    model_kwargs=dict(conv.model_kwargs),
    preprocessing=preprocessing,
    preprocessing_source=where,
    notes=list(conv.notes),
  )


def _calibration(batch: np.ndarray, seed: int, size: int = 16) -> np.ndarray:
  """Images that set the random BN statistics: the probe batch and others.

  With the probe images among them, no probe image is an outlier for the
  statistics (late layers see 1x1 maps at small inputs: their statistics
  come from the batch alone).
  """
  others = (
    np.random.default_rng([seed, 1])
    .normal(size=(size - len(batch), *batch.shape[1:]))
    .astype(np.float32)
  )
  return np.concatenate([batch, others])


def check_empty(directory: str) -> None:
  """Raises FileExistsError if ``directory`` already holds a checkpoint."""
  if os.path.isdir(directory) and any(
    name.isdigit() for name in os.listdir(directory)
  ):
    raise FileExistsError(
      f'{os.path.abspath(directory)} already holds a '
      'checkpoint (step 0); choose an empty --out.'
    )


def write_records(
  directory: str,
  result: Conversion,
  *,
  model: str,
  source: str,
  reference: str,
  weights: str = '',
  num_classes: int = 1000,
) -> None:
  """What predict and fine-tuning need beside a converted checkpoint.

  ``model.json`` (our model, the arguments it must be built with, where it
  came from), ``preprocessing.json`` (the reference's evaluation
  preprocessing) and ``dataset.json`` (ImageNet's class names for a
  1,000-class head): ``inference.records``.
  """
  from cnn_jax.data import datasets  # pylint: disable=g-import-not-at-top
  from cnn_jax.inference import records  # pylint: disable=g-import-not-at-top

  os.makedirs(directory, exist_ok=True)
  records.write_json(
    directory,
    records.MODEL_FILE,
    records.model_record(
      model,
      result.model_kwargs,
      num_classes,
      'float32',
      source=source,
      reference=reference,
      weights=os.path.basename(weights) if weights else None,
      relative_error=result.relative_error,
      preprocessing_from=result.preprocessing_source,
      notes=list(result.notes),
    ),
  )
  if result.preprocessing is not None:
    records.write_json(
      directory, records.PREPROCESSING_FILE, result.preprocessing.to_dict()
    )
  imagenet = num_classes == 1000
  names = (
    datasets.imagenet_class_names()
    if imagenet
    else [f'class_{i}' for i in range(num_classes)]
  )
  records.write_json(
    directory,
    records.DATASET_FILE,
    {
      'name': 'imagenet2012' if imagenet else None,
      'num_classes': num_classes,
      'class_names': names,
      'image_shape': list(
        result.preprocessing.output_shape
        if result.preprocessing
        else result.input_shape
      ),
    },
  )


def save(variables: dict[str, Any], directory: str) -> str:
  """Writes ``variables`` as step 0 of an Orbax CheckpointManager directory.

  ``checkpointing.load_variables(directory)`` reads it back, and so does
  ``--config.init_from=directory``. The checkpoint carries a fingerprint of
  every tensor and is read back and checked before this returns.
  """
  from cnn_jax.training import checkpointing  # pylint: disable=g-import-not-at-top

  directory = os.path.abspath(directory)
  check_empty(directory)
  return checkpointing.write_variables(variables, directory)
