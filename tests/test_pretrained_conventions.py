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
