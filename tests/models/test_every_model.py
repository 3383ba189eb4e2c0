"""One test over every registered model (timm's idea): its parameter count
equals the reference's, and a training step runs forward and backward.

A model added to the registry is tested here without anyone writing a test
for it; its reference count must be added to ``reference_counts.py``.
Train steps run at a reduced input size (and for a few huge classifier heads,
reduced width) so that the whole zoo compiles on a 2-core CPU; the heaviest
graphs are marked slow.
"""
import pytest

from cnn_jax import models
from cnn_jax.analysis import model_stats
from tests.models import model_checks
from tests.models.reference_counts import REFERENCE

ALL_MODELS = models.known_models()


@pytest.mark.parametrize('name', ALL_MODELS)
def test_parameter_count_equals_reference(name):
  assert name in REFERENCE, (
      f'{name} is registered but tests/models/reference_counts.py has no '
      'reference count for it: add one, with its source.')
  ref = REFERENCE[name]
  params, stats = model_stats.count_registered(name)
  got = params + stats if ref.includes_bn_statistics else params
  assert got == ref.value, f'{name}: {got:,} parameters, {ref.source}: ' \
      f'{ref.value:,}'


# Input size (and constructor arguments) of the train step, where the default
# (the native size for inputs up to 32 px, else 64x64x3) does not fit.
SMALL = {
    'alexnet': ((64, 64, 3), {'fc_features': 32}),
    'alexnet_2012': ((67, 67, 3), {'fc_features': 32, 'two_tower': True}),
    'googlenet_2014': ((80, 80, 3), {}),  # its 5x5/3 aux pool needs 5x5 at 4a
    'inception_v3': ((75, 75, 3), {}),  # the smallest torchvision accepts
    'inception_v3_aux': ((75, 75, 3), {}),
    'inception_v3_keras': ((75, 75, 3), {}),
    'xception': ((71, 71, 3), {}),  # the smallest Keras accepts
    'legacy_xception': ((71, 71, 3), {}),
    **{name: ((32, 32, 3), {'fc_features': 16}) for name in (
        'vgg11', 'vgg11_bn', 'vgg11_lrn', 'vgg13', 'vgg13_bn', 'vgg16',
        'vgg16_bn', 'vgg16_c', 'vgg19', 'vgg19_bn')},
}
# Graphs whose gradient takes more than ~30 s to compile here.
SLOW = {
    'senet154', 'nasnetalarge', 'nasnetamobile', 'preact_resnet1001',
    'resnet152', 'resnet101', 'resnext101_32x8d', 'resnext101_64x4d',
    'wide_resnet101_2', 'preact_resnet101', 'preact_resnet152',
    'resnet101v2', 'resnet152v2', 'densenet161', 'densenet169', 'densenet201',
    'densenet264', 'densenet_bc_250_24', 'densenet_bc_190_40',
    'efficientnet_b4', 'efficientnet_b5', 'efficientnet_b6',
    'efficientnet_b7', 'inception_v3', 'inception_v3_aux',
    'inception_v3_keras', 'googlenet_2014', 'xception', 'legacy_xception',
    'resnext29_16x64d', 'preact_resnet164', 'resnet110',
}


def _train_step_case(name):
  spec = models.get_spec(name)
  default = spec.input_shape if spec.input_shape[0] <= 32 else (64, 64, 3)
  shape, kwargs = SMALL.get(name, (default, {}))
  marks = [pytest.mark.slow] if name in SLOW else []
  return pytest.param(name, shape, kwargs, marks=marks, id=name)


@pytest.mark.parametrize('name,shape,kwargs',
                         [_train_step_case(n) for n in ALL_MODELS])
def test_train_step(name, shape, kwargs):
  model = models.build(name, num_classes=10, **kwargs)
  model_checks.check_train_step(model, shape, classes=10)
