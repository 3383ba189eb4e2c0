"""DenseNet, Xception and NASNet-A: exact parameter counts, shapes, gradients.

Every model's count is checked against its reference in
``test_every_model.py`` (``reference_counts.py``); here: the formulas behind
the counts no library gives, and the details only these families have.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax import models
from cnn_jax.analysis import model_stats
from cnn_jax.models import densenet, layers, nasnet, xception
from tests.models import model_checks, reference_counts


def _counts(name):
  """(params, batch_stats) of a registered model at its native input."""
  return model_stats.count_registered(name)


# --------------------------------------------------------------------------
# Independent parameter formulas (layer sizes summed here, not read off the
# modules) for the models without a library reference.


def _densenet_formula(
  growth, blocks, init_features, bn_size, stem, num_classes, stem_bias=False
):
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

_FACTORIES = {
  'densenet121': 'DenseNet121',
  'densenet161': 'DenseNet161',
  'densenet169': 'DenseNet169',
  'densenet201': 'DenseNet201',
}
TORCHVISION = {
  name: reference_counts.TORCHVISION[name].value for name in _FACTORIES
}


@pytest.mark.parametrize('name', sorted(TORCHVISION))
def test_densenet_torchvision_counts(name):
  params, stats = _counts(name)
  assert params == TORCHVISION[name]
  # The formula agrees too, and BN statistics are as many as BN parameters.
  kw = getattr(densenet, _FACTORIES[name]).keywords
  assert (params, stats) == _densenet_formula(
    kw['growth_rate'],
    kw['block_config'],
    kw['num_init_features'],
    4,
    'imagenet',
    1000,
  )


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
DENSENET_BC = [
  ('densenet_bc_100_12', 100, 12, 0.8e6),
  ('densenet_bc_250_24', 250, 24, 15.3e6),
  ('densenet_bc_190_40', 190, 40, 25.6e6),
]


@pytest.mark.parametrize('name,depth,growth,paper', DENSENET_BC)
def test_densenet_bc_cifar_counts(name, depth, growth, paper):
  params, stats = _counts(name)
  n = (depth - 4) // 6
  assert (params, stats) == _densenet_formula(
    growth, (n, n, n), 2 * growth, 4, 'small', 10
  )
  # The paper's Table 2 rounds to 0.1M: our count rounds to the same figure.
  assert round(params / 1e6, 1) == pytest.approx(paper / 1e6)
  if paper > 1e6:
    # 15.3M and 25.6M are within 2%. (0.8M is 769,162 rounded up: 3.9% off,
    # the 0.1M rounding step being 12% of it.)
    assert abs(params - paper) / paper < 0.02


def test_densenet_uvadl_count():
  params, stats = _counts('densenet_uvadl')
  assert params == 239_146  # the UvA DL tutorial's table
  assert (params, stats) == _densenet_formula(
    16, (6, 6, 6, 6), 32, 2, 'small', 10, stem_bias=True
  )


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
NATIVE = [
  ('densenet161', (224, 224, 3), 1000),
  ('densenet264', (224, 224, 3), 1000),
  ('densenet_bc_190_40', (32, 32, 3), 10),
  ('legacy_xception', (299, 299, 3), 1000),
]


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
    lambda v, x: model.apply(
      v, x, capture_intermediates=True, mutable=['intermediates']
    ),
    variables,
    x,
  )
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


def test_densenet_imagenet_reduced_train_step():
  # The ImageNet stem and four blocks, 1 layer each, at 32x32 (1x1 maps in
  # the last block).
  model = densenet.DenseNet121(
    num_classes=5, growth_rate=8, block_config=(1, 1, 1, 1)
  )
  model_checks.check_train_step(model, (32, 32, 3), classes=5)


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
  model_checks.check_train_step(_XceptionBlocks(), (8, 8, 3), classes=3)


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
  model_checks.check_train_step(model, (8, 8, 3), classes=3)
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
  params = {
    'conv_1': {'kernel': identity},
    'conv_2': {'kernel': identity},
    'bn': variables['params']['bn'],
  }
  # BN in inference mode with fresh statistics is x / sqrt(1 + eps).
  out = jax.jit(module.apply)(
    {'params': params, 'batch_stats': variables['batch_stats']}, p
  )
  out = out * np.sqrt(1 + 1e-3)
  np.testing.assert_allclose(out[..., :2], p[:, ::2, ::2], rtol=1e-6)
  np.testing.assert_allclose(out[..., 2:], p[:, 1::2, 1::2], rtol=1e-6)


# --------------------------------------------------------------------------
# NASNet's training-only parts: the auxiliary head and ScheduledDropPath.

# The smallest NASNet-A that has an auxiliary head: at 96x96 its second stage
# runs at 6x6 (the head pools it 5/3 to 1x1).
_TINY_NASNET = dict(
  penultimate_filters=96,
  num_blocks=1,
  stem_filters=8,
  skip_reduction=False,
  num_classes=5,
)


def _size(tree):
  return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))


def test_nasnet_aux_head_counts_follow_tf_slim():
  """5x5/3 pool, 1x1 conv 128 + BN, a conv over the whole map to 768 + BN,
  linear: summed here from that definition."""

  def head(channels, map_size, classes):
    params = channels * 128 + 2 * 128
    params += map_size**2 * 128 * 768 + 2 * 768
    return params + 768 * classes + classes, 2 * 128 + 2 * 768

  # NASNet-A Mobile at 224: the last normal cell of the second stage is
  # 14x14x528 (6 x 88), pooled to 4x4.
  for kwargs, shape, expected in (
    ({}, (224, 224, 3), head(528, 4, 1000)),
    (_TINY_NASNET, (96, 96, 3), head(48, 1, 5)),
  ):
    build = nasnet.NASNetAMobile if not kwargs else nasnet.NASNetA
    plain = model_stats.abstract_variables(build(**kwargs), shape)
    aux = model_stats.abstract_variables(
      build(**kwargs, aux_logits=True), shape
    )
    assert _size(aux['params']) - _size(plain['params']) == expected[0]
    assert (
      _size(aux['batch_stats']) - _size(plain['batch_stats']) == (expected[1])
    )


def test_nasnet_aux_head_in_training_only():
  x = jax.random.normal(jax.random.key(0), (2, 96, 96, 3))
  model = nasnet.NASNetA(**_TINY_NASNET, aux_logits=True)
  variables = jax.jit(model.init)(jax.random.key(1), x)
  (logits, aux), _ = jax.jit(
    lambda v, x: model.apply(v, x, train=True, mutable=['batch_stats'])
  )(variables, x)
  assert logits.shape == aux[0].shape == (2, 5)
  assert not np.allclose(logits, aux[0])
  # Evaluation: the logits only, those of the same net without the head.
  evaluated = jax.jit(model.apply)(variables, x)
  without = {
    'params': {k: v for k, v in variables['params'].items() if k != 'aux'},
    'batch_stats': {
      k: v for k, v in variables['batch_stats'].items() if k != 'aux'
    },
  }
  np.testing.assert_array_equal(
    evaluated, jax.jit(nasnet.NASNetA(**_TINY_NASNET).apply)(without, x)
  )


def test_scheduled_drop_path_grows_with_depth_and_progress():
  x = jax.random.normal(jax.random.key(0), (4, 96, 96, 3))
  rate = 0.4
  model = nasnet.NASNetA(**_TINY_NASNET, drop_path_rate=rate)
  reference = nasnet.NASNetA(**_TINY_NASNET)
  variables = jax.jit(reference.init)(jax.random.key(1), x)

  def train(m, progress, seed):
    return m.apply(
      variables,
      x,
      train=True,
      progress=progress,
      rngs={'dropout': jax.random.key(seed)},
      mutable=['batch_stats'],
    )[0]

  # Every operation but the identities, each with its cell's rate: 9 in a
  # reduction cell (one identity), 8 in a normal cell (two), 7 cells.
  calls = []

  def record(next_fun, args, kwargs, context):
    if isinstance(context.module, layers.StochasticDepth):
      calls.append(context.module.rate)
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    train(model, 1.0, 0)
  cells = 7  # 2 stem + 3 normal + 2 reduction
  kinds = ['r', 'r', 'n', 'r', 'n', 'r', 'n']
  expected = []
  for i, kind in enumerate(kinds):
    expected += [rate * (i + 1) / cells] * (9 if kind == 'r' else 8)
  np.testing.assert_allclose(calls, expected)

  # Progress 0 drops nothing; progress 1 drops (a different net per key).
  np.testing.assert_array_equal(train(model, 0.0, 0), train(reference, 1.0, 0))
  late = train(model, 1.0, 0)
  assert not np.allclose(late, train(reference, 1.0, 0))
  assert not np.allclose(late, train(model, 1.0, 1))
  # Evaluation is untouched.
  np.testing.assert_array_equal(
    jax.jit(model.apply)(variables, x), jax.jit(reference.apply)(variables, x)
  )


def test_takes_progress_only_where_the_model_uses_it():
  from cnn_jax.models import registry  # pylint: disable=g-import-not-at-top

  assert registry.takes_progress(models.build('nasnetamobile'))
  assert registry.takes_progress(models.build('nasnetamobile', conv_impl='xla'))
  assert not registry.takes_progress(models.build('resnet18'))
