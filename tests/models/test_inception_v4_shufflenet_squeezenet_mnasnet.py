"""Tests of Inception-v4 / Inception-ResNet-v2, ShuffleNet V2, SqueezeNet and
MNASNet, and of the two shared layers they added (channel shuffle, fire).

Every registered model's parameter count is checked in
``test_every_model.py``, its logits against the reference's in
``tests/test_equivalence.py``. Here: the shared layers, what each family does
that a count cannot show (the identity half of a ShuffleNet unit, MNASNet's
BatchNorm momentum, the map sizes of the unpadded Inception convs), the MACs
against torchvision's published ``_ops`` (GMACs at 224x224, torchvision
0.29.1), and a few training steps of the small-image ShuffleNet on real
Fashion-MNIST.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnn_jax import models
from cnn_jax.analysis import flops, layer_table, model_stats
from cnn_jax.data import raw_files
from cnn_jax.models import layers
from cnn_jax.models.shufflenet import ShuffleUnit
from tests.models import model_checks

slow = pytest.mark.slow


def test_channel_shuffle_interleaves_the_groups():
  x = jnp.arange(12.0).reshape(1, 1, 1, 12)
  out = layers.channel_shuffle(x, 3)
  # torchvision: view (groups, C / groups), transpose, flatten.
  np.testing.assert_array_equal(
    out.ravel(), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
  )
  np.testing.assert_array_equal(
    layers.channel_shuffle(x, 2).ravel(),
    np.arange(12).reshape(2, 6).T.ravel(),
  )


def test_fire_module_layout_and_output():
  fire = layers.Fire(16, 64, 48)
  params = model_stats.abstract_variables(fire, (9, 9, 32))['params']
  assert params['squeeze']['conv']['kernel'].shape == (1, 1, 32, 16)
  assert params['expand1x1']['conv']['kernel'].shape == (1, 1, 16, 64)
  assert params['expand3x3']['conv']['kernel'].shape == (3, 3, 16, 48)
  assert params['expand3x3']['conv']['bias'].shape == (48,)
  assert model_stats.output_shape(fire, (9, 9, 32)) == (2, 9, 9, 112)


def test_shufflenet_stride_1_unit_passes_the_first_half_through():
  unit = ShuffleUnit(8)
  x = jax.random.normal(jax.random.key(0), (2, 5, 5, 8))
  out = jax.jit(lambda x: unit.apply(unit.init(jax.random.key(1), x), x))(x)
  # After the 2-group shuffle the kept half sits at the even channels.
  np.testing.assert_array_equal(out[..., 0::2], x[..., :4])
  assert not np.allclose(out[..., 1::2], x[..., 4:])
  with pytest.raises(ValueError, match='keeps the width'):
    model_stats.abstract_variables(ShuffleUnit(16), (5, 5, 8))


def _outputs(name, input_shape, **kwargs):
  s = layer_table.summarize(
    models.build(name, **kwargs), input_shape, compute_flops=False
  )
  return {'/'.join(l.path): l.output for l in s.layers}


def test_shufflenet_cifar_stem_keeps_the_resolution():
  small = _outputs('shufflenet_v2_x1_0_cifar', (32, 32, 3))
  assert small['conv1'] == (1, 32, 32, 24)
  assert small['stage2_3'] == (1, 16, 16, 116)
  assert small['conv5'] == (1, 4, 4, 1024)
  assert models.get_spec('shufflenet_v2_x1_0_cifar').input_shape == (32, 32, 3)


def test_mnasnet_batch_norm_momentum_is_tensorflows():
  momenta = set()

  def record(next_fun, args, kwargs, context):
    if isinstance(context.module, nn.BatchNorm):
      momenta.add(context.module.momentum)
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    model_stats.abstract_variables(models.build('mnasnet0_5'), (32, 32, 3))
  # torchvision's momentum=1 - 0.9997 weights the new batch; Flax weights
  # the running average.
  assert momenta == {0.9997}


def test_mnasnet_widths_follow_the_multiplier():
  params = model_stats.abstract_variables(
    models.build('mnasnet1_3'), (32, 32, 3)
  )['params']
  # 32 * 1.3 = 41.6 -> 40; 16 * 1.3 -> 24; expansion 3 of 24 -> 72; the last
  # conv stays 1280.
  assert params['layers_0']['conv']['kernel'].shape == (3, 3, 3, 40)
  assert params['layers_6']['conv']['kernel'].shape == (1, 1, 40, 24)
  assert params['layers_8_0']['expand']['conv']['kernel'].shape == (
    1,
    1,
    24,
    72,
  )
  assert params['layers_14']['conv']['kernel'].shape == (1, 1, 416, 1280)
  with pytest.raises(ValueError, match='no residual'):
    model_stats.abstract_variables(
      models.build('mnasnet0_5', alpha=0.25), (32, 32, 3)
    )


@slow
def test_inception_map_sizes_at_299():
  v4 = _outputs('inception_v4', (299, 299, 3))
  assert v4['features_2'] == (1, 147, 147, 64)
  assert v4['features_3'] == (1, 73, 73, 160)
  assert v4['features_4'] == (1, 71, 71, 192)
  assert v4['features_9'] == (1, 35, 35, 384)
  assert v4['features_17'] == (1, 17, 17, 1024)
  assert v4['features_21'] == (1, 8, 8, 1536)
  irv2 = _outputs('inception_resnet_v2', (299, 299, 3))
  assert irv2['conv2d_4a'] == (1, 71, 71, 192)
  assert irv2['repeat_9'] == (1, 35, 35, 320)
  assert irv2['repeat_1_19'] == (1, 17, 17, 1088)
  assert irv2['repeat_2_8'] == (1, 8, 8, 2080)
  assert irv2['conv2d_7b'] == (1, 8, 8, 1536)


@slow
def test_keras_inception_resnet_v2_differs_only_by_bn_scales():
  timm, timm_stats = model_stats.count_registered('inception_resnet_v2')
  keras, keras_stats = model_stats.count_registered('inception_resnet_v2_keras')
  assert keras_stats == timm_stats == 2 * 30_272  # mean + variance
  assert timm - keras == 30_272  # one scale per BN channel


# torchvision 0.29.1 ``_ops`` (GMACs of one 224x224 image).
PUBLISHED_GMACS = [
  pytest.param('shufflenet_v2_x1_0', 0.145),
  pytest.param('squeezenet1_1', 0.349),
  pytest.param('mnasnet1_0', 0.314),
  pytest.param('shufflenet_v2_x0_5', 0.04, marks=slow),
  pytest.param('shufflenet_v2_x1_5', 0.296, marks=slow),
  pytest.param('shufflenet_v2_x2_0', 0.583, marks=slow),
  pytest.param('squeezenet1_0', 0.819, marks=slow),
  pytest.param('mnasnet0_5', 0.104, marks=slow),
  pytest.param('mnasnet0_75', 0.215, marks=slow),
  pytest.param('mnasnet1_3', 0.526, marks=slow),
]


@pytest.mark.parametrize('name,gmacs', PUBLISHED_GMACS)
def test_macs_match_torchvision(name, gmacs):
  # What cnn_jax.summary prints as "MACs (convolutions + dense)". The
  # published figures have three decimals: x0.5's 0.040 is 0.0405 rounded.
  macs = flops.count_conv_dense_macs(models.build(name), (224, 224, 3))
  assert macs / 1e9 == pytest.approx(gmacs, rel=0.02)


@pytest.mark.parametrize(
  'name,shape',
  [
    pytest.param('squeezenet1_1', (64, 64, 3)),
    pytest.param('mnasnet0_5', (64, 64, 3), marks=slow),
    pytest.param('inception_v4', (75, 75, 3), marks=slow),
    pytest.param('inception_resnet_v2', (75, 75, 3), marks=slow),
  ],
)
def test_train_step(name, shape):
  model_checks.check_train_step(models.build(name, num_classes=10), shape)


def _fashion_mnist(n):
  directory = raw_files.DEBIAN_DIRS['fashion_mnist'][1]
  if not raw_files.has_files('fashion_mnist', directory):
    pytest.skip(f'Fashion-MNIST is not in {directory} (bash setup.sh)')
  images, labels = raw_files.read_split('fashion_mnist', directory, 'train')
  x = (images[:n].astype(np.float32) / 255.0 - 0.286) / 0.353
  return jnp.asarray(x), jnp.asarray(labels[:n])


@slow
def test_small_shufflenet_trains_on_fashion_mnist():
  """shufflenet_v2_x1_0_cifar on 28x28x1 Fashion-MNIST: 12 Adam steps on
  successive batches of 64 bring the training loss down."""
  images, labels = _fashion_mnist(12 * 64)
  model = models.build('shufflenet_v2_x1_0_cifar', num_classes=10)
  variables = jax.jit(lambda x: model.init(jax.random.key(0), x))(images[:2])
  tx = optax.adam(3e-3)

  @jax.jit
  def step(params, stats, opt_state, x, y):
    def loss_fn(params):
      logits, updates = model.apply(
        {'params': params, 'batch_stats': stats},
        x,
        train=True,
        mutable=['batch_stats'],
      )
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, y)
      return loss.mean(), updates['batch_stats']

    (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), stats, opt_state, loss

  params, stats = variables['params'], variables['batch_stats']
  opt_state = tx.init(params)
  losses = []
  for i in range(12):
    batch = slice(64 * i, 64 * (i + 1))
    params, stats, opt_state, loss = step(
      params, stats, opt_state, images[batch], labels[batch]
    )
    losses.append(float(loss))
  print('losses', [round(v, 3) for v in losses])
  assert np.all(np.isfinite(losses))
  assert losses[0] == pytest.approx(np.log(10), rel=0.1)  # 10 classes
  assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:4]), losses
