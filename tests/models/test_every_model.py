"""One test over every registered model (timm's idea).

In the default suite every model is built and traced at its native input
size: its parameter count equals the reference's, its output has the shape
of its classes, and its layer table renders. A model added to the registry is
tested here without anyone writing a test for it; its reference count must be
added to ``reference_counts.py``.

A real training step (forward and backward, compiled and run) of every model
is marked ``zoo`` and left out of the default run: compiling the gradients of
the 94 graphs takes about an hour on a 2-core CPU. Run it with
``pytest -m zoo tests/models/test_every_model.py`` after changing a shared
layer or block. The family test files (``test_resnet.py``, ``test_mobile.py``,
...) run the same check on representatives of each family in the default
suite. Train steps run at a reduced input size (and for a few huge classifier
heads, reduced width).
"""

import pytest

from cnn_jax import models
from cnn_jax.analysis import layer_table
from tests.models import model_checks
from tests.models.reference_counts import REFERENCE

ALL_MODELS = models.known_models()


@pytest.mark.parametrize('name', ALL_MODELS)
def test_parameter_count_output_and_summary(name):
  assert name in REFERENCE, (
    f'{name} is registered but tests/models/reference_counts.py has no '
    'reference count for it: add one, with its source.'
  )
  ref = REFERENCE[name]
  spec = models.get_spec(name)
  s = layer_table.summarize(
    models.build(name, num_classes=spec.num_classes),
    spec.input_shape,
    name=name,
    compute_flops=False,
  )
  got = s.params + s.stats if ref.includes_bn_statistics else s.params
  assert got == ref.value, (
    f'{name}: {got:,} parameters, {ref.source}: {ref.value:,}'
  )
  assert s.output == (1, spec.num_classes), s.output  # eval: no aux heads.
  assert f'Trainable params: {s.params:,}' in layer_table.format_summary(
    s, depth=-1
  )


# Input size (and constructor arguments) of the train step, where the default
# (the native size for inputs up to 32 px, else 64x64x3) does not fit.
SMALL = {
  'alexnet': ((64, 64, 3), {'fc_features': 32}),
  'alexnet_2012': ((67, 67, 3), {'fc_features': 32, 'two_tower': True}),
  'googlenet_2014': ((80, 80, 3), {}),  # its 5x5/3 aux pool needs 5x5 at 4a
  'inception_v3': ((75, 75, 3), {}),  # the smallest torchvision accepts
  'inception_v3_aux': ((75, 75, 3), {}),
  'inception_v3_keras': ((75, 75, 3), {}),
  'inception_v4': ((75, 75, 3), {}),  # as Inception-v3: unpadded convs
  'inception_resnet_v2': ((75, 75, 3), {}),
  'inception_resnet_v2_keras': ((75, 75, 3), {}),
  'xception': ((71, 71, 3), {}),  # the smallest Keras accepts
  'legacy_xception': ((71, 71, 3), {}),
  **{
    name: ((32, 32, 3), {'fc_features': 16})
    for name in (
      'vgg11',
      'vgg11_bn',
      'vgg11_lrn',
      'vgg13',
      'vgg13_bn',
      'vgg16',
      'vgg16_bn',
      'vgg16_c',
      'vgg19',
      'vgg19_bn',
    )
  },
}
# Stochastic depth can drop a whole block for both examples of the batch,
# leaving its parameters without gradient: off for this check.
NO_DROP = {'stochastic_depth_rate': 0.0}


def _train_step_case(name):
  spec = models.get_spec(name)
  default = spec.input_shape if spec.input_shape[0] <= 32 else (64, 64, 3)
  shape, kwargs = SMALL.get(name, (default, {}))
  if name.startswith(('efficientnet', 'convnext')):
    kwargs = {**kwargs, **NO_DROP}
  return pytest.param(name, shape, kwargs, id=name)


@pytest.mark.zoo
@pytest.mark.parametrize(
  'name,shape,kwargs', [_train_step_case(n) for n in ALL_MODELS]
)
def test_train_step(name, shape, kwargs):
  model = models.build(name, num_classes=10, **kwargs)
  model_checks.check_train_step(model, shape, classes=10)
