"""What the reference libraries do only when they load pretrained weights.

A converted file must compute what the library's *pretrained* model computes,
and be fed what that model is fed. Checked architecture by architecture
(torchvision 0.29, timm 1.0, Keras 3 applications), the differences are:

torchvision (builders in ``torchvision/models/*.py`` with ``weights=``):

* ``googlenet`` and ``inception_v3``: ``transform_input=True`` (the network
  re-normalizes its ImageNet-normalized input to [-1, 1] before the first
  convolution), ``aux_logits=True`` to load the file's auxiliary heads, then
  removes them unless asked for; ``init_weights=False``. Our models have the
  same ``transform_input`` field; the converter sets it (and builds the
  reference so) when a weights file is given; ``--transform_input`` overrides.
* ``densenet*``: the released files use the old key names
  ``denselayerN.norm.1.weight``; the builder renames them to ``norm1.weight``
  before loading. So does ``torch_source.load_weights`` (``remap_state_dict``).
* every model: ``num_classes`` from the weights' categories (1,000), and its
  own evaluation transform in the weights' metadata: resize the shorter side
  to ``resize_size``, central ``crop_size`` crop, bilinear or bicubic
  (``efficientnet_b0``, ``b2``-``b7``: bicubic; ``resnet50`` V2: resize 232;
  ``inception_v3``: 342 -> 299; ``efficientnet_b7``: 600 -> 600), ImageNet
  mean/std (``vgg16`` IMAGENET1K_FEATURES: another mean and std 1/255). The
  weights are identified by the file name of ``--weights`` (the name
  torchvision downloads them under); an unknown name gets the default
  weights' transform, with a note.
* No other constructor argument depends on ``weights`` (alexnet, vgg, resnet,
  resnext, wide_resnet, mobilenet_v2/v3, efficientnet (B0-B7 and V2),
  convnext, shufflenet_v2,
  squeezenet, mnasnet: only ``num_classes``). torchvision's MNASNet also
  reads files saved by its first version (``_version`` 1 in the state
  dict's metadata), whose stem stayed 32/16 wide at every multiplier; ours
  is the current one (the two agree for ``mnasnet1_0`` only).

timm (``create_model(pretrained=True)``): no constructor argument changes for
the converted models (seresnet50, seresnext50_32x4d, senet154,
mobilenetv1_100/125, legacy_xception, inception_v4, inception_resnet_v2);
each pretrained tag's ``pretrained_cfg`` gives its evaluation transform:
``input_size``, ``crop_pct`` (resize to ``input_size / crop_pct``, then
central crop), ``interpolation`` (bicubic for all of these) and mean/std
(0.5 for mobilenetv1, legacy_xception and the Inceptions, ImageNet's for
the others). Pass the tag in
``--reference_name`` (``seresnet50.ra2_in1k``) for another tag's.

Keras applications (``weights='imagenet'``): no constructor difference. ConvNeXt
and EfficientNetV2 normalize their input inside the model (Rescaling /
Normalization layers, ``include_preprocessing=True``; their
``preprocess_input`` is the identity): those layers hold no weights, so the
reference is built without them (``KERAS_IN_MODEL_PREPROCESSING``) and what
they did becomes the converted model's preprocessing. Every other
family's ``preprocess_input`` has a mode: 'caffe' for ResNet50 (RGB -> BGR,
subtract the BGR mean in 0-255, no scaling), 'tf' for Xception, MobileNet,
ResNet50V2/101V2/152V2, InceptionV3, InceptionResNetV2, NASNetMobile/Large
(scale to [-1, 1]),
'torch' for DenseNet121 (0-1, ImageNet mean/std). The mode is read off the
application's own ``preprocess_input`` (``_keras_mode``), images are resized
to the model's input size without cropping, as Keras' examples load them.

Our configs' ImageNet evaluation (central 87.5% crop resized to 224,
bilinear, ImageNet mean/std) differs from most of these, so the converter
writes the reference's own preprocessing beside the checkpoint
(``preprocessing.json``) and ``predict`` uses it.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Optional

import numpy as np

from cnn_jax import models
from cnn_jax.data import preprocessing as prep

# torchvision models whose pretrained builder sets transform_input=True.
TRANSFORM_INPUT = ('googlenet', 'inception_v3')
# Keras applications that normalize their input inside the model, and how:
# (mean, std) on the 0-1 scale, read off keras/src/applications (convnext.py
# ``PreStem``: ImageNet's; efficientnet_v2.py for S/M/L: ``Rescaling(1 / 128,
# offset=-1)``, i.e. (v / 255 - 128 / 255) / (128 / 255)).
_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_HALF = ((128 / 255,) * 3, (128 / 255,) * 3)
KERAS_IN_MODEL_PREPROCESSING = {
  'ConvNeXtTiny': _IMAGENET,
  'ConvNeXtSmall': _IMAGENET,
  'ConvNeXtBase': _IMAGENET,
  'ConvNeXtLarge': _IMAGENET,
  'EfficientNetV2S': _HALF,
  'EfficientNetV2M': _HALF,
  'EfficientNetV2L': _HALF,
}
# (num_batches_tracked: the files torchvision released predate it; the same
# files re-saved by a newer PyTorch have it.)
_DENSENET_OLD_KEY = re.compile(
  r'^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.'
  r'(?:weight|bias|running_mean|running_var|num_batches_tracked))$'
)


@dataclasses.dataclass
class Conventions:
  """How to build the reference and ours for a conversion.

  Attributes:
    reference_kwargs: extra constructor arguments of the reference (as the
      library's pretrained builder passes them).
    model_kwargs: extra arguments of our model (kept in ``model.json``).
    drop_aux: remove the reference's auxiliary heads after loading (what
      torchvision's builder does unless ``aux_logits=True`` was asked for).
    notes: what was decided, for the CLI to print.
  """

  reference_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
  model_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
  drop_aux: bool = False
  notes: list[str] = dataclasses.field(default_factory=list)


def _has_field(model: str, field: str) -> bool:
  factory = models.get_spec(model).factory
  cls = getattr(factory, 'func', factory)
  keywords = getattr(factory, 'keywords', {}) or {}
  return field in getattr(cls, '__dataclass_fields__', {}) or field in keywords


def conventions(
  source: str,
  reference: str,
  model: str,
  *,
  weights: str = '',
  transform_input: Optional[bool] = None,
) -> Conventions:
  """The pretrained-only arguments for converting ``reference`` -> ``model``.

  ``transform_input``: None does what the library does (on with a weights
  file, off for a random initialization); True/False forces it.
  """
  conv = Conventions()
  base = reference.split('.')[0]
  applies = source == 'torchvision' and base in TRANSFORM_INPUT
  if transform_input is not None and not applies:
    raise ValueError(
      f'--transform_input applies to torchvision {" and ".join(TRANSFORM_INPUT)} '
      f'only, not {source} {reference}.'
    )
  if source == 'keras' and base in KERAS_IN_MODEL_PREPROCESSING:
    conv.reference_kwargs['include_preprocessing'] = False
    conv.notes.append(
      f'keras.applications.{base} built without its input normalization '
      'layers (include_preprocessing=False; they hold no weights): the '
      'converted model takes normalized images (preprocessing.json).'
    )
  if not applies:
    return conv
  on = bool(weights) if transform_input is None else transform_input
  if weights:
    # torchvision's googlenet()/inception_v3() with weights=...
    conv.reference_kwargs.update(
      transform_input=on, aux_logits=True, init_weights=False
    )
    conv.drop_aux = not _has_field_value(model, 'aux_logits')
  elif transform_input is not None:
    conv.reference_kwargs['transform_input'] = on
  if on:
    if not _has_field(model, 'transform_input'):
      raise ValueError(
        f'Our {model} has no transform_input; convert to '
        f'{" or ".join(TRANSFORM_INPUT)}.'
      )
    conv.model_kwargs['transform_input'] = True
  conv.notes.append(
    f'transform_input={on} ('
    + (
      'as torchvision builds its pretrained ' + base
      if transform_input is None and weights
      else 'forced by --transform_input'
      if transform_input is not None
      else "torchvision's default without pretrained weights"
    )
    + '): the network '
    + (
      're-normalizes its ImageNet-normalized input to [-1, 1] first.'
      if on
      else 'takes ImageNet-normalized input as it is.'
    )
  )
  return conv


def _has_field_value(model: str, field: str) -> bool:
  """Whether our registered ``model`` is built with ``field`` true."""
  factory = models.get_spec(model).factory
  keywords = getattr(factory, 'keywords', {}) or {}
  if field in keywords:
    return bool(keywords[field])
  cls = getattr(factory, 'func', factory)
  f = getattr(cls, '__dataclass_fields__', {}).get(field)
  return bool(f.default) if f is not None else False


def remap_state_dict(state: dict[str, Any]) -> dict[str, Any]:
  """torchvision's renaming of old DenseNet keys (``norm.1`` -> ``norm1``)."""
  out = {}
  for key, value in state.items():
    match = _DENSENET_OLD_KEY.match(key)
    out[match.group(1) + match.group(2) if match else key] = value
  return out


def preprocessing(
  source: str,
  reference: str,
  *,
  weights: str = '',
  ref_model: Any = None,
  native_size: int = 224,
) -> tuple[prep.Preprocessing, str]:
  """The evaluation preprocessing the library uses with its pretrained weights.

  Returns it and a one-line description of where it comes from.
  ``native_size``: the model's input side where the library does not say
  (Keras).
  """
  if source == 'torchvision':
    return _torchvision_preprocessing(reference, weights)
  if source == 'timm':
    return _timm_preprocessing(reference, ref_model)
  if source == 'keras':
    return _keras_preprocessing(reference, native_size)
  raise ValueError(f'Unknown source {source!r}.')


def _torchvision_preprocessing(reference: str, weights: str):
  import torchvision  # pylint: disable=g-import-not-at-top

  enum = torchvision.models.get_model_weights(reference)
  chosen, how = enum.DEFAULT, 'default'
  name = os.path.basename(weights)
  for w in enum:
    if name and os.path.basename(w.url) == name:
      chosen, how = w, 'matched by file name'
  t = chosen.transforms()
  interpolation = str(t.interpolation.value).lower()
  if interpolation not in prep.INTERPOLATIONS:
    interpolation = 'bilinear'
  p = prep.Preprocessing(
    input_size=int(t.crop_size[0]),
    resize_size=int(t.resize_size[0]),
    interpolation=interpolation,
    mean=tuple(float(m) for m in t.mean),
    std=tuple(float(s) for s in t.std),
  )
  note = f'torchvision {enum.__name__}.{chosen.name} ({how})'
  if weights and how == 'default':
    note += (
      f"; {name} is not one of torchvision's file names "
      f'({", ".join(os.path.basename(w.url) for w in enum)})'
    )
  return p, note


def _timm_preprocessing(reference: str, ref_model):
  cfg = dict(getattr(ref_model, 'pretrained_cfg', None) or {})
  if not cfg:
    import timm  # pylint: disable=g-import-not-at-top

    cfg = dict(timm.create_model(reference, pretrained=False).pretrained_cfg)
  size = int(cfg['input_size'][-1])
  crop_pct = float(cfg.get('crop_pct') or 0.875)
  interpolation = cfg.get('interpolation', 'bicubic')
  if interpolation not in prep.INTERPOLATIONS:
    interpolation = 'bicubic'
  p = prep.Preprocessing(
    input_size=size,
    resize_size=prep.timm_resize_size(size, crop_pct),
    interpolation=interpolation,
    mean=tuple(cfg['mean']),
    std=tuple(cfg['std']),
  )
  note = (
    f'timm pretrained_cfg of {cfg.get("architecture", reference)}.'
    f'{cfg.get("tag", "")} (crop_pct {crop_pct})'
  )
  if cfg.get('crop_mode', 'center') != 'center':
    note += f"; its crop_mode {cfg['crop_mode']!r} is approximated by 'center'"
  return p, note


def _keras_mode(reference: str) -> tuple[tuple, tuple, str]:
  """(mean, std, channel order) of an application's ``preprocess_input``.

  Read off the function itself: on pixels 0 and 255 per channel, its output
  is affine per channel, ``(v / 255 - mean) / std`` in some channel order.
  """
  import importlib  # pylint: disable=g-import-not-at-top
  from cnn_jax.conversion import keras_source  # pylint: disable=g-import-not-at-top

  keras = keras_source._keras()  # pylint: disable=protected-access
  cls = getattr(keras.applications, reference)
  module = importlib.import_module(cls.__module__)
  probe = np.array(
    [[[[0.0, 0.0, 0.0]]], [[[255.0, 255.0, 255.0]]], [[[255.0, 0.0, 0.0]]]],
    np.float32,
  )
  out = np.asarray(module.preprocess_input(probe.copy()), np.float64)
  low, high, red = out[0, 0, 0], out[1, 0, 0], out[2, 0, 0]
  slope = high - low  # per output channel, for v/255 going 0 -> 1
  std = 1.0 / slope
  mean = -low * std
  order = 'BGR' if np.argmax(np.abs(red - low)) == 2 else 'RGB'
  return tuple(float(m) for m in mean), tuple(float(s) for s in std), order


def _keras_preprocessing(reference: str, size: int):
  if reference in KERAS_IN_MODEL_PREPROCESSING:
    mean, std = KERAS_IN_MODEL_PREPROCESSING[reference]
    p = prep.Preprocessing(
      input_size=size,
      crop_fraction=1.0,
      interpolation='bilinear',
      mean=mean,
      std=std,
    )
    return p, (
      f'keras.applications {reference}: its in-model input normalization, '
      f'resized to {p.input_size} without a crop'
    )
  mean, std, order = _keras_mode(reference)
  p = prep.Preprocessing(
    input_size=size,
    crop_fraction=1.0,
    interpolation='bilinear',
    mean=mean,
    std=std,
    channel_order=order,
  )
  mode = (
    'caffe' if order == 'BGR' else 'tf' if np.allclose(mean, 0.5) else 'torch'
  )
  return p, (
    f'keras.applications {reference} preprocess_input '
    f"(mode '{mode}'), resized to {p.input_size} without a crop"
  )
