"""DenseNet, Xception and NASNet-A: exact parameter counts, shapes, gradients.

Reference counts: /work/shared/reference/params.md (torchvision / timm count
trainable parameters; Keras counts include the BN moving statistics, so those
rows are compared against params + batch_stats).
"""
import functools
import importlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnn_jax import models
from cnn_jax.analysis import model_stats
from cnn_jax.models import densenet, nasnet, xception


def _counts(name):
  """(params, batch_stats) of a registered model at its native input."""
  return model_stats.count_registered(name)


# --------------------------------------------------------------------------
# Independent parameter formulas (layer sizes summed here, not read off the
# modules) for the models without a library reference.


def _densenet_formula(growth, blocks, init_features, bn_size, stem,
                      num_classes, stem_bias=False):
  """Returns (params, bn_statistics) of a DenseNet-BC from its definition."""
  params = stats = 0

  def bn(c):
    nonlocal params, stats
    params += 2 * c  # scale + bias
    stats += 2 * c  # running mean + var

  if stem == 'imagenet':
    params += 7 * 7 * 3 * init_features
    bn(init_features)
  else:
    params += 3 * 3 * 3 * init_features + (init_features if stem_bias else 0)
  c = init_features
  for i, n in enumerate(blocks):
    for _ in range(n):
      width = bn_size * growth
      bn(c)
      params += c * width  # 1x1 bottleneck, no bias
      bn(width)
      params += 3 * 3 * width * growth  # 3x3 conv, no bias
      c += growth
    if i < len(blocks) - 1:
      bn(c)
      params += c * (c // 2)  # 1x1 transition conv, compression 0.5
      c //= 2
  bn(c)
  params += c * num_classes + num_classes
  return params, stats


# --------------------------------------------------------------------------
# Exact counts against the libraries.

TORCHVISION = {
    'densenet121': 7_978_856,
    'densenet161': 28_681_000,
    'densenet169': 14_149_480,
    'densenet201': 20_013_928,
}


@pytest.mark.parametrize('name', sorted(TORCHVISION))
def test_densenet_torchvision_counts(name):
  params, stats = _counts(name)
  assert params == TORCHVISION[name]
  # The formula agrees too, and BN statistics are as many as BN parameters.
  kw = getattr(densenet, name).keywords
  assert (params, stats) == _densenet_formula(
      kw['growth_rate'], kw['block_config'], kw['num_init_features'], 4,
      'imagenet', 1000)


def test_densenet264_count_from_formula():
  params, stats = _counts('densenet264')
  expected = _densenet_formula(32, (6, 12, 64, 48), 64, 4, 'imagenet', 1000)
  assert (params, stats) == expected
  assert params == 33_337_704


def test_densenet121_keras_count():
  params, stats = _counts('densenet121_keras')
  assert params + stats == 8_062_504  # keras.applications.DenseNet121
  assert params == 7_978_856  # the same layers as torchvision's
  model = models.build('densenet121_keras')
  assert model.bn_epsilon == 1.001e-5 and model.bn_momentum == 0.99


# DenseNet-BC for CIFAR: (name, depth, growth, paper's rounded count).
DENSENET_BC = [('densenet_bc_100_12', 100, 12, 0.8e6),
               ('densenet_bc_250_24', 250, 24, 15.3e6),
               ('densenet_bc_190_40', 190, 40, 25.6e6)]


@pytest.mark.parametrize('name,depth,growth,paper', DENSENET_BC)
def test_densenet_bc_cifar_counts(name, depth, growth, paper):
  params, stats = _counts(name)
  n = (depth - 4) // 6
  assert (params, stats) == _densenet_formula(
      growth, (n, n, n), 2 * growth, 4, 'small', 10)
  # The paper's Table 2 rounds to 0.1M: our count rounds to the same figure.
  assert round(params / 1e6, 1) == pytest.approx(paper / 1e6)
  if paper > 1e6:
    # 15.3M and 25.6M are within 2%. (0.8M is 769,162 rounded up: 3.9% off,
    # the 0.1M rounding step being 12% of it.)
    assert abs(params - paper) / paper < 0.02


def test_densenet_seed_count():
  params, stats = _counts('densenet_seed')
  assert params == 239_146  # the seed report's table
  assert (params, stats) == _densenet_formula(
      16, (6, 6, 6, 6), 32, 2, 'small', 10, stem_bias=True)


@pytest.mark.parametrize('name', ['xception', 'legacy_xception'])
def test_xception_counts(name):
  params, stats = _counts(name)
  assert params == 22_855_952  # timm legacy_xception (formerly xception)
  assert params + stats == 22_910_480  # keras.applications.Xception


def test_nasnetamobile_count():
  params, stats = _counts('nasnetamobile')
  assert params + stats == 5_326_716  # keras.applications.NASNetMobile


def test_nasnetalarge_counts():
  params, stats = _counts('nasnetalarge')
  assert params + stats == 88_949_818  # keras.applications.NASNetLarge
  assert params == 88_753_150  # timm nasnetalarge
  # timm's pooling convention has no parameters of its own.
  timm_style = models.build('nasnetalarge', pool_padding='timm')
  assert model_stats.count_params(timm_style, (331, 331, 3)) == (params, stats)


# --------------------------------------------------------------------------
# Output shapes at native resolution (jax.eval_shape: no real forward pass).

# (The models with a config file are shape-checked by the config test.)
NATIVE = [('densenet161', (224, 224, 3), 1000),
          ('densenet264', (224, 224, 3), 1000),
          ('densenet_bc_190_40', (32, 32, 3), 10),
          ('legacy_xception', (299, 299, 3), 1000)]


@pytest.mark.parametrize('name,shape,classes', NATIVE)
def test_output_shape(name, shape, classes):
  spec = models.get_spec(name)
  assert spec.input_shape == shape and spec.num_classes == classes
  model = models.build(name, num_classes=classes)
  assert model_stats.output_shape(model, shape) == (2, classes)


def test_nasnet_large_cell_widths():
  """Cell outputs of NASNet-A Large at 331: 83x83x168 ... 11x11x4032."""
  model = models.build('nasnetalarge')
  variables = model_stats.abstract_variables(model, (331, 331, 3))
  x = jax.ShapeDtypeStruct((1, 331, 331, 3), jnp.float32)
  logits, state = jax.eval_shape(
      lambda v, x: model.apply(v, x, capture_intermediates=True,
                               mutable=['intermediates']), variables, x)
  assert logits.shape == (1, 1000)
  inter = state['intermediates']
  shape = lambda cell: inter[cell]['__call__'][0][0].shape
  assert shape('reduction_stem_1') == (1, 83, 83, 4 * 42)
  assert shape('reduction_stem_2') == (1, 42, 42, 4 * 84)
  assert shape('normal_5') == (1, 42, 42, 6 * 168)
  assert shape('reduction_reduce_6') == (1, 21, 21, 4 * 336)
  assert shape('normal_12') == (1, 21, 21, 6 * 336)
  assert shape('reduction_reduce_12') == (1, 11, 11, 4 * 672)
  assert shape('normal_18') == (1, 11, 11, 6 * 672)


# --------------------------------------------------------------------------
# Real forward + backward passes at small sizes.


_FAST_COMPILE = {'xla_backend_optimization_level': 0}


def _check_train_step(model, shape, batch=2):
  """A training-mode gradient; checks it is finite and nonzero.

  Initialization and gradient are one jitted function: XLA drops the unused
  forward pass of ``init``, so the model is compiled once. Compilation, not
  running, is what costs time on CPU: LLVM optimization level 0 halves it
  (e.g. 25 -> 12 CPU seconds for densenet_seed) and runs these tiny inputs
  as fast.
  """
  x = jax.random.normal(jax.random.key(0), (batch, *shape))
  labels = jnp.arange(batch) % model.num_classes

  @functools.partial(jax.jit, compiler_options=_FAST_COMPILE)
  def init_and_grads(x):
    variables = model.init(
        {'params': jax.random.key(1), 'dropout': jax.random.key(2)}, x)

    def loss_fn(params):
      logits, new_state = model.apply(
          {'params': params, 'batch_stats': variables['batch_stats']}, x,
          train=True, rngs={'dropout': jax.random.key(3)},
          mutable=['batch_stats'])
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
      return loss.mean(), (logits, new_state)

    grads, aux = jax.grad(loss_fn, has_aux=True)(variables['params'])
    return variables, grads, aux

  variables, grads, (logits, new_state) = init_and_grads(x)
  assert logits.shape == (batch, model.num_classes)
  leaves = jax.tree.leaves(grads)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
  # Every parameter tensor receives some gradient.
  nonzero = [float(jnp.max(jnp.abs(g))) > 0 for g in leaves]
  assert all(nonzero), f'{nonzero.count(False)} of {len(nonzero)} zero grads'
  # The BN running statistics were updated in training mode.
  old = jax.tree.leaves(variables['batch_stats'])
  new = jax.tree.leaves(new_state['batch_stats'])
  assert any(not np.allclose(a, b) for a, b in zip(old, new))


def test_densenet_seed_train_step():
  _check_train_step(models.build('densenet_seed'), (32, 32, 3))


@pytest.mark.slow
def test_densenet_bc_100_12_train_step():
  _check_train_step(models.build('densenet_bc_100_12'), (32, 32, 3))


def test_densenet_imagenet_reduced_train_step():
  # The ImageNet stem and four blocks, 1 layer each, at 32x32 (1x1 maps in
  # the last block).
  model = densenet.densenet121(num_classes=5, growth_rate=8,
                               block_config=(1, 1, 1, 1))
  _check_train_step(model, (32, 32, 3))


@pytest.mark.slow
def test_xception_train_step():
  # Keras' minimum input size; 1 middle-flow block instead of 8 keeps the
  # compile shorter (the middle blocks are identical).
  _check_train_step(models.build('xception', num_classes=7, middle_blocks=1,
                                 dropout_rate=0.5), (71, 71, 3))


class _XceptionBlocks(nn.Module):
  """Entry-flow block, middle-flow block and exit block of Xception."""
  num_classes: int = 3

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = xception.XceptionBlock(8, 2, 2, start_with_relu=False)(x, train)
    x = xception.XceptionBlock(8, 3, 1)(x, train)
    x = xception.XceptionBlock(12, 2, 2, grow_first=False)(x, train)
    return nn.Dense(self.num_classes)(x.mean(axis=(1, 2)))


def test_xception_blocks_train_step():
  _check_train_step(_XceptionBlocks(), (8, 8, 3))


@pytest.mark.slow
def test_nasnetamobile_train_step():
  # NASNet-A Mobile's widths and wiring with 1 normal cell per stage (every
  # cell kind and both adjust paths), at 32x32.
  _check_train_step(models.build('nasnetamobile', num_classes=7, num_blocks=1,
                                 dropout_rate=0.5), (32, 32, 3))


class _NASNetCells(nn.Module):
  """A reduction cell (p=None) then two normal cells: the first adjusts p by
  factorized reduction, the second by projection."""
  num_classes: int = 3

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = nn.Conv(8, (3, 3))(x)
    x, p = nasnet.NASNetCell(4, reduction=True)(x, None, train)
    x, p = nasnet.NASNetCell(4)(x, p, train)
    x, p = nasnet.NASNetCell(4)(x, p, train)
    return nn.Dense(self.num_classes)(x.mean(axis=(1, 2)))


def test_nasnet_cells_train_step():
  model = _NASNetCells()
  _check_train_step(model, (8, 8, 3))
  params = model_stats.abstract_variables(model, (8, 8, 3))['params']
  assert set(params['NASNetCell_1']) >= {'adjust_reduction', 'conv_1x1'}
  assert 'adjust_projection' in params['NASNetCell_2']


# --------------------------------------------------------------------------
# Semantics.


def test_dense_layer_concat_order():
  x = jax.random.normal(jax.random.key(0), (1, 4, 4, 5))
  for new_first in (False, True):
    layer = densenet.DenseLayer(growth_rate=3, bn_size=2, new_first=new_first)
    y, _ = jax.jit(layer.init_with_output)(jax.random.key(1), x)
    assert y.shape == (1, 4, 4, 8)
    kept = y[..., 3:] if new_first else y[..., :5]
    np.testing.assert_array_equal(kept, x)


def test_xception_padding_conventions_differ_only_at_even_pools():
  """Same weights: 'SAME' and torch pooling agree where inputs are odd."""
  block = xception.XceptionBlock(4, reps=1, strides=2)
  torch_block = xception.XceptionBlock(4, reps=1, strides=2, padding='torch')
  for size, same in ((9, True), (8, False)):
    x = jax.random.normal(jax.random.key(size), (1, size, size, 3))
    variables = jax.jit(block.init)(jax.random.key(0), x)
    a = jax.jit(block.apply)(variables, x)
    b = jax.jit(torch_block.apply)(variables, x)
    assert a.shape == b.shape == (1, (size + 1) // 2, (size + 1) // 2, 4)
    assert np.allclose(a, b) == same


def test_nasnet_factorized_reduction_paths():
  """Path 1 samples even pixels, path 2 the odd ones (shifted by one)."""
  p = jnp.arange(1 * 4 * 4 * 2, dtype=jnp.float32).reshape(1, 4, 4, 2)
  module = nasnet.FactorizedReduction(4)
  variables = jax.jit(module.init)(jax.random.key(0), p)
  identity = jnp.eye(2)[None, None]
  params = {'conv_1': {'kernel': identity}, 'conv_2': {'kernel': identity},
            'bn': variables['params']['bn']}
  # BN in inference mode with fresh statistics is x / sqrt(1 + eps).
  out = jax.jit(module.apply)({'params': params,
                               'batch_stats': variables['batch_stats']}, p)
  out = out * np.sqrt(1 + 1e-3)
  np.testing.assert_allclose(out[..., :2], p[:, ::2, ::2], rtol=1e-6)
  np.testing.assert_allclose(out[..., 2:], p[:, 1::2, 1::2], rtol=1e-6)


# --------------------------------------------------------------------------
# Configs.

CONFIGS = ['densenet121_imagenet', 'densenet169_imagenet', 'xception_imagenet',
           'nasnetamobile_imagenet', 'nasnetalarge_imagenet',
           'densenet_seed_cifar10', 'densenet_bc_100_12_cifar10',
           'densenet_bc_100_12_fashion_mnist']
DATASETS = {'cifar10': ((32, 32, 3), 10), 'fashion_mnist': ((28, 28, 1), 10),
            'imagenet2012': (None, 1000)}


@pytest.mark.parametrize('config_name', CONFIGS)
def test_config_loads_and_builds(config_name):
  module = importlib.import_module(f'configs.{config_name}')
  assert 'python -m cnn_jax.main --config=configs/' in module.__doc__
  c = module.get_config()
  shape, classes = DATASETS[c.dataset]
  if shape is None:
    shape = (c.image_size, c.image_size, 3)
    assert models.get_spec(c.model).input_shape == shape  # native resolution
  model = models.build(c.model, num_classes=classes, **c.model_kwargs)
  assert model_stats.output_shape(model, shape) == (2, classes)
