"""Tests of ConvNeXt, EfficientNetV2 and the layers they brought.

Every registered model's count is checked in ``test_every_model.py`` and its
function against torchvision / Keras in ``test_equivalence.py``. Here: the
shared layers (channels-last LayerNorm, LayerScale, exact GELU), the layouts
and stochastic depth schedules the references use, the Keras twins, and a
small member of each family learning real Fashion-MNIST at 32x32.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax import models
from cnn_jax.analysis import model_stats
from cnn_jax.data import raw_files
from cnn_jax.models import convnext, efficientnet, layers
from cnn_jax.models.blocks.inverted_residual import InvertedResidual
from cnn_jax.training import optim, sharding, train_step
from configs import base


def _shapes(tree):
  return jax.tree.map(lambda a: tuple(a.shape), tree)


def test_layer_norm_normalizes_channels_with_two_pass_variance():
  ln = layers.layer_norm()
  assert ln.epsilon == 1e-6
  # A large common offset: E[x^2] - E[x]^2 would lose the variance's digits.
  x = 1e4 + jax.random.normal(jax.random.key(0), (2, 3, 3, 16))
  variables = ln.init(jax.random.key(1), x)
  assert _shapes(variables['params']) == {'scale': (16,), 'bias': (16,)}
  y = np.asarray(ln.apply(variables, x), np.float64)
  x64 = np.asarray(x, np.float64)
  want = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(
    x64.var(-1, keepdims=True) + 1e-6
  )
  np.testing.assert_allclose(y, want, atol=2e-3)


def test_layer_scale_starts_small_per_channel():
  scale = layers.LayerScale()
  x = jnp.ones((2, 4, 4, 8))
  variables = scale.init(jax.random.key(0), x)
  gamma = variables['params']['gamma']
  np.testing.assert_array_equal(gamma, np.full(8, 1e-6, np.float32))
  np.testing.assert_allclose(
    scale.apply({'params': {'gamma': jnp.arange(8.0)}}, x)[0, 0, 0],
    np.arange(8.0),
  )


def test_gelu_is_the_exact_erf_form():
  x = np.linspace(-4, 4, 101)
  want = 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
  np.testing.assert_allclose(layers.gelu(jnp.asarray(x)), want, atol=1e-6)
  assert layers.get_activation('gelu') is layers.gelu


def test_convnext_block_layout_and_stages():
  model = models.build('convnext_tiny')
  variables = model_stats.abstract_variables(model, (64, 64, 3))
  assert set(variables) == {'params'}  # no BatchNorm
  params = variables['params']
  # torchvision's features.<i>.<j>: stem, stages, downsampling between them.
  assert _shapes(params['features_0_0']) == {
    'kernel': (4, 4, 3, 96),
    'bias': (96,),
  }
  assert _shapes(params['features_4_1'])['kernel'] == (2, 2, 192, 384)
  block = _shapes(params['features_5_8'])
  assert block == {
    'dwconv': {'kernel': (7, 7, 1, 384), 'bias': (384,)},
    'norm': {'scale': (384,), 'bias': (384,)},
    'pwconv1': {'kernel': (384, 1536), 'bias': (1536,)},
    'pwconv2': {'kernel': (1536, 384), 'bias': (384,)},
    'layer_scale': {'gamma': (384,)},
  }
  assert 'features_5_9' not in params and 'features_8_0' not in params
  assert _shapes(params['classifier_2'])['kernel'] == (768, 1000)


def _drop_path_rates(name, block_type, input_shape=(32, 32, 3)):
  """The blocks' stochastic depth rates and the model's variables (shapes),
  from one abstract init."""
  rates = []

  def record(next_fun, args, kwargs_, context):
    if isinstance(context.module, block_type) and (
      context.method_name == '__call__'
    ):
      rates.append(context.module.drop_path_rate)
    return next_fun(*args, **kwargs_)

  with nn.intercept_methods(record):
    variables = model_stats.abstract_variables(models.build(name), input_shape)
  return rates, variables


@pytest.mark.parametrize(
  'name,rate', [('convnext_tiny', 0.1), ('convnext_large', 0.5)]
)
def test_convnext_stochastic_depth_rates_follow_torchvision(name, rate):
  # torchvision: rate * i / (blocks - 1), from 0 to the variant's rate.
  rates, _ = _drop_path_rates(name, convnext.ConvNeXtBlock)
  n = len(rates)
  assert n == sum(convnext.VARIANTS[name.split('_')[1]][0])
  np.testing.assert_allclose(rates, [rate * i / (n - 1) for i in range(n)])


def test_efficientnet_v2_fused_and_mbconv_layouts():
  rates, variables = _drop_path_rates('efficientnet_v2_s', InvertedResidual)
  np.testing.assert_allclose(rates, [0.2 * i / 40 for i in range(40)])
  params = variables['params']
  kernels = lambda block: {  # noqa: E731
    k: v['conv']['kernel'] for k, v in _shapes(params[block]).items()
  }
  # Fused-MBConv without expansion: one 3x3 conv with its activation.
  assert kernels('features_1_0') == {'project': (3, 3, 24, 24)}
  # Fused-MBConv x4: a strided full 3x3 conv, then the 1x1 projection.
  assert kernels('features_2_0') == {
    'expand': (3, 3, 24, 96),
    'project': (1, 1, 96, 48),
  }
  # MBConv x4 with SE of in // 4 channels (64 -> 16).
  block = _shapes(params['features_4_0'])
  assert block['expand']['conv']['kernel'] == (1, 1, 64, 256)
  assert block['depthwise']['conv']['kernel'] == (3, 3, 1, 256)
  assert block['se']['reduce']['kernel'] == (1, 1, 256, 16)
  assert 'se' not in _shapes(params['features_3_3'])
  assert _shapes(params['features_7'])['conv']['kernel'] == (1, 1, 256, 1280)


def test_efficientnet_v2_keras_twin_differs_only_in_padding():
  for v in 'sml':
    ours, keras = (
      efficientnet.v2_variant(v),
      efficientnet.v2_variant(v, keras=True),
    )
    assert {**ours, 'padding': 'SAME'} == keras
    spec = models.get_spec(f'efficientnet_v2_{v}_keras')
    assert (
      spec.input_shape == models.get_spec(f'efficientnet_v2_{v}').input_shape
    )
  # Keras' 'SAME' pads a stride-2 3x3 conv on an even input at the end only.
  x = jnp.zeros((1, 8, 8, 3)).at[0, 0, 0, 0].set(1.0)
  stem = lambda padding: layers.ConvBNAct(4, 3, 2, padding=padding)  # noqa: E731
  variables = stem('torch').init(jax.random.key(0), x)
  torch_out = stem('torch').apply(variables, x)
  same_out = stem('SAME').apply(variables, x)
  assert torch_out.shape == same_out.shape == (1, 4, 4, 4)
  assert not np.allclose(torch_out, same_out)


FMNIST_FILES = raw_files.DEBIAN_DIRS['fashion_mnist'][1]

# Small members of each family at 32x32 (Fashion-MNIST padded from 28): the
# ImageNet stems, fewer blocks and channels.
SMALL = {
  'convnext_tiny': dict(depths=(1, 1, 1, 1), dims=(16, 32, 64, 128)),
  'efficientnet_v2_s': dict(
    stages=(
      (True, 1, 3, 1, 16, 16, 1),
      (True, 4, 3, 2, 16, 24, 1),
      (False, 4, 3, 2, 24, 48, 2),
    ),
    last_features=128,
  ),
}


@pytest.mark.slow  # compiles a train step: 80-90 s on the busy 2-core CPU
@pytest.mark.skipif(
  not raw_files.has_files('fashion_mnist', FMNIST_FILES),
  reason='Fashion-MNIST IDX files not installed',
)
@pytest.mark.parametrize('name', sorted(SMALL))
def test_small_variant_learns_fashion_mnist_at_32(name):
  images, labels = raw_files.read_split('fashion_mnist', FMNIST_FILES, 'train')
  steps, batch = 24, 64
  x = (images[: steps * batch].astype(np.float32) / 255 - 0.286) / 0.353
  x = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
  y = labels[: steps * batch]
  config = base.get_config()
  config.optimizer = 'adamw'
  config.learning_rate = 2e-3
  config.weight_decay = 0.05
  model = models.build(name, num_classes=10, **SMALL[name])
  mesh = sharding.make_mesh(None)
  schedule = optim.learning_rate_schedule(config, steps, steps)
  state = train_step.create_train_state(
    model,
    optim.make_optimizer(config, schedule),
    (32, 32, 1),
    jax.random.key(0),
  )
  state = jax.device_put(state, sharding.replicated(mesh))
  train, _ = train_step.compile_steps(config, mesh, state, 10, schedule)
  losses = []
  for i in range(steps):
    part = slice(i * batch, (i + 1) * batch)
    state, metrics = train(
      state,
      sharding.global_batch({'image': x[part], 'label': y[part]}, mesh),
    )
    losses.append(float(metrics.compute()['loss']))
  first, last = np.mean(losses[:4]), np.mean(losses[-4:])
  print(f'{name}: train loss {first:.3f} -> {last:.3f} in {steps} steps')
  assert np.all(np.isfinite(losses))
  assert last < 0.75 * first, losses
