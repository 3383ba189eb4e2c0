"""What the converter does because a library does it only for pretrained
weights (``conversion.pretrained``); the logits themselves are checked in
``test_equivalence.py::test_pretrained_builder_logits_match``."""

import os

import numpy as np
import pytest

from cnn_jax import models
from cnn_jax.conversion import pretrained, torch_source
from cnn_jax.conversion.layer_list import ConversionError
from cnn_jax.inference import records

try:  # after TensorFlow: see torch_source.import_torch.
  torch_source.import_torch()
except ImportError:
  pass


def test_transform_input_as_torchvision_builds_the_model():
  with_file = pretrained.conventions(
    'torchvision', 'googlenet', 'googlenet', weights='googlenet-1378be20.pth'
  )
  assert with_file.reference_kwargs == {
    'transform_input': True,
    'aux_logits': True,
    'init_weights': False,
  }
  assert with_file.model_kwargs == {'transform_input': True}
  assert with_file.drop_aux  # our googlenet has no aux heads
  aux = pretrained.conventions(
    'torchvision', 'inception_v3', 'inception_v3_aux', weights='w.pth'
  )
  assert not aux.drop_aux and aux.model_kwargs == {'transform_input': True}
  random_init = pretrained.conventions('torchvision', 'googlenet', 'googlenet')
  assert random_init.reference_kwargs == {} and random_init.model_kwargs == {}
  forced_off = pretrained.conventions(
    'torchvision',
    'googlenet',
    'googlenet',
    weights='w.pth',
    transform_input=False,
  )
  assert forced_off.reference_kwargs['transform_input'] is False
  assert forced_off.model_kwargs == {}
  forced_on = pretrained.conventions(
    'torchvision', 'googlenet', 'googlenet', transform_input=True
  )
  assert forced_on.reference_kwargs == {'transform_input': True}
  assert (
    pretrained.conventions(
      'torchvision', 'resnet50', 'resnet50', weights='w.pth'
    ).model_kwargs
    == {}
  )
  with pytest.raises(ValueError, match='applies to torchvision googlenet'):
    pretrained.conventions(
      'keras', 'InceptionV3', 'inception_v3_keras', transform_input=True
    )


def test_our_transform_input_is_torchvisions():
  """Our re-normalization maps ImageNet-normalized pixels to (v - .5) / .5."""
  from cnn_jax.models.googlenet import imagenet_to_unit_range  # pylint: disable=g-import-not-at-top

  v = np.random.default_rng(0).uniform(size=(2, 3, 3, 3)).astype(np.float32)
  mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
  out = np.asarray(imagenet_to_unit_range((v - mean) / std))
  np.testing.assert_allclose(out, (v - 0.5) / 0.5, atol=1e-6)
  m = models.build('googlenet', num_classes=3, transform_input=True)
  assert m.transform_input


def test_densenet_files_with_torchvisions_old_key_names_load(tmp_path):
  torch = pytest.importorskip('torch')
  torchvision = pytest.importorskip('torchvision')
  torch.manual_seed(0)
  source = torchvision.models.densenet121(weights=None)
  old = {}
  for key, value in source.state_dict().items():
    # torchvision's released files: denselayer1.norm.1.weight, conv.2, ...
    for part in ('norm', 'relu', 'conv'):
      for i in ('1', '2'):
        key = key.replace(f'.{part}{i}.', f'.{part}.{i}.')
    old[key] = value
  assert any('.norm.1.' in k for k in old)
  path = str(tmp_path / 'densenet121-a639ec97.pth')
  torch.save(old, path)
  target = torchvision.models.densenet121(weights=None)
  torch_source.load_weights(target, path)
  for key, value in source.state_dict().items():
    assert torch.equal(target.state_dict()[key], value), key


def test_safetensors_files_load(tmp_path):
  torch = pytest.importorskip('torch')
  torchvision = pytest.importorskip('torchvision')
  safetensors = pytest.importorskip('safetensors.torch')
  torch.manual_seed(0)
  source = torchvision.models.resnet18(weights=None)
  path = str(tmp_path / 'model.safetensors')
  safetensors.save_file(source.state_dict(), path)
  target = torchvision.models.resnet18(weights=None)
  torch_source.load_weights(target, path)
  assert torch.equal(target.fc.weight, source.fc.weight)
  with pytest.raises(ConversionError, match='does not exist'):
    torch_source.load_weights(target, str(tmp_path / 'missing.pth'))


def test_fine_tuning_from_a_checkpoint_made_otherwise_warns(tmp_path):
  from configs import base  # pylint: disable=g-import-not-at-top
  from cnn_jax.data import preprocessing as prep  # pylint: disable=g-import-not-at-top

  records.write_json(
    str(tmp_path),
    records.MODEL_FILE,
    records.model_record('googlenet', {'transform_input': True}, 1000),
  )
  records.write_json(
    str(tmp_path),
    records.PREPROCESSING_FILE,
    prep.Preprocessing(input_size=224).to_dict(),
  )
  config = base.get_config()
  config.model = 'googlenet'

  class Info:
    mean, std = (0.2860,) * 3, (0.3530,) * 3

  warnings = records.init_from_mismatches(config, str(tmp_path), Info)
  assert len(warnings) == 2
  assert '--config.model_kwargs.transform_input=True' in warnings[0]
  assert '--config.mean' in warnings[1]
  Info.mean, Info.std = prep.IMAGENET_MEAN, prep.IMAGENET_STD
  config.model_kwargs.transform_input = True
  assert records.init_from_mismatches(config, str(tmp_path), Info) == []
  assert os.path.exists(tmp_path / 'model.json')


def _keras_input_map(model, first_layer: str):
  """(mean, std) on the 0-1 scale of what ``model`` does to its input before
  ``first_layer``: per channel ``(v / 255 - mean) / std``, read off on
  images of 0s and 255s."""
  keras = pytest.importorskip('keras')
  probe = keras.Model(model.input, model.get_layer(first_layer).input)
  shape = (1, *model.input_shape[1:])
  low, high = (
    np.asarray(probe(np.full(shape, v, np.float32)))[0, 0, 0] for v in (0, 255)
  )
  std = 1.0 / (high - low)
  return -low * std, std


@pytest.mark.slow  # builds Keras' ConvNeXt-T and EfficientNetV2-S: ~30 s
def test_keras_in_model_preprocessing_is_read_off_its_layers():
  from cnn_jax.conversion import keras_source  # pylint: disable=g-import-not-at-top

  keras = pytest.importorskip('keras')
  for name, first in (
    ('ConvNeXtTiny', 'convnext_tiny_stem'),
    ('EfficientNetV2S', 'stem_conv'),
  ):
    with keras_source._numpy_initializers():  # pylint: disable=protected-access
      model = getattr(keras.applications, name)(
        weights=None, include_top=False, input_shape=(32, 32, 3)
      )
    mean, std = _keras_input_map(model, first)
    want_mean, want_std = pretrained.KERAS_IN_MODEL_PREPROCESSING[name]
    np.testing.assert_allclose(mean, want_mean, rtol=1e-5)
    np.testing.assert_allclose(std, want_std, rtol=1e-5)
    conv = pretrained.conventions('keras', name, 'x', weights='w.weights.h5')
    assert conv.reference_kwargs == {'include_preprocessing': False}


@pytest.mark.slow  # builds Keras' ConvNeXt-T twice and converts it: ~40 s
def test_keras_weights_of_a_model_with_in_model_preprocessing(tmp_path):
  """A weights file of ConvNeXtTiny as Keras builds it pretrained (input
  normalization inside) converts; ours, fed what preprocessing.json says,
  computes what Keras' model computes from the pixels."""
  import jax  # pylint: disable=g-import-not-at-top
  from cnn_jax.conversion import convert_lib, keras_source  # pylint: disable=g-import-not-at-top

  keras = pytest.importorskip('keras')
  with keras_source._numpy_initializers(seed=3):  # pylint: disable=protected-access
    full = keras.applications.ConvNeXtTiny(
      weights=None,
      input_shape=(32, 32, 3),
      classes=10,
      classifier_activation=None,
    )
  path = str(tmp_path / 'convnext_tiny.weights.h5')
  full.save_weights(path)
  result = convert_lib.convert(
    'keras', 'convnext_tiny', weights=path, num_classes=10, input_size=32
  )
  assert result.relative_error < 1e-4
  p = result.preprocessing
  pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3))
  pixels = pixels.astype(np.float32)
  theirs = np.asarray(full(pixels))
  x = (pixels / 255 - np.array(p.mean)) / np.array(p.std)
  model = models.build('convnext_tiny', num_classes=10)
  ours = np.asarray(
    jax.jit(lambda v, x: model.apply(v, x, train=False))(
      result.variables, x.astype(np.float32)
    )
  )
  assert np.abs(ours - theirs).max() / np.abs(theirs).max() < 1e-4
