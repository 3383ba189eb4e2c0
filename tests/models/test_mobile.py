"""Tests of MobileNet v1/v2/v3, EfficientNet B0-B7 and their shared block.

Every registered model's count is checked in ``test_every_model.py``. Here:
the BatchNorm statistics (running mean + variance buffers) and the counts for
other widths / options, read off the same library versions the same way as
``reference_counts.py`` (torchvision ``mobilenet_v2(width_mult=...)`` etc., timm
``_gen_mobilenet_v1(..., channel_multiplier)``, Keras
``MobileNet(alpha=..., weights=None).count_params()``).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.analysis import model_stats
from cnn_jax import models
from cnn_jax.analysis import layer_table
from cnn_jax.models import efficientnet
from cnn_jax.models import layers
from cnn_jax.models.blocks.inverted_residual import InvertedResidual
from tests.models import model_checks

# name: (trainable params, BatchNorm statistics) of the reference.
TORCHVISION = {
  'mobilenet_v2': (3_504_872, 34_112),
  'mobilenet_v3_large': (5_483_032, 24_400),
  'mobilenet_v3_small': (2_542_856, 12_112),
  'efficientnet_b0': (5_288_548, 42_016),
  'efficientnet_b1': (7_794_184, 62_048),
  'efficientnet_b2': (9_109_994, 67_568),
  'efficientnet_b3': (12_233_232, 87_296),
  'efficientnet_b4': (19_341_616, 125_200),
  'efficientnet_b5': (30_389_784, 172_736),
  'efficientnet_b6': (43_040_704, 224_432),
  'efficientnet_b7': (66_347_960, 310_720),
}
TIMM = {
  'mobilenetv1_100': (4_231_976, 21_888),
  'mobilenetv1_125': (6_270_840, 27_360),
  # Not registered in timm; timm's rule with channel_multiplier 0.25 / 0.5 /
  # 0.75.
  'mobilenetv1_025': (470_072, 5_472),
  'mobilenetv1_050': (1_331_592, 10_944),
  'mobilenetv1_075': (2_585_560, 16_416),
}
KERAS_MOBILENET = 4_253_864  # count_params(), BN statistics included.


def _counts_and_output_shape(model, input_shape, train=False):
  """(params, BN statistics), output shape: one init and one apply trace."""
  variables = model_stats.abstract_variables(model, input_shape)
  x = jax.ShapeDtypeStruct((2, *input_shape), jnp.float32)

  def apply(variables, x):
    out = model.apply(
      variables,
      x,
      train=train,
      rngs={'dropout': jax.random.key(0)},
      mutable=['batch_stats'] if train else False,
    )
    return out[0] if train else out

  counts = (
    model_stats.tree_size(variables['params']),
    model_stats.tree_size(variables['batch_stats']),
  )
  return counts, jax.eval_shape(apply, variables, x).shape


def _count_and_output_shape(name, train=False, num_classes=1000):
  spec = models.get_spec(name)
  return _counts_and_output_shape(
    models.build(name, num_classes=num_classes), spec.input_shape, train
  )


@pytest.mark.parametrize('name', sorted({**TORCHVISION, **TIMM}))
def test_counts_exact_and_output_shape(name):
  counts, shape = _count_and_output_shape(name)
  assert counts == {**TORCHVISION, **TIMM}[name]
  assert shape == (2, 1000)


def test_keras_mobilenet_is_timm_count_plus_bn_statistics():
  params, stats = model_stats.count_registered('mobilenet_keras')
  assert params + stats == KERAS_MOBILENET
  # Same layers as timm's mobilenetv1_100: Keras' larger figure is only its
  # counting of the BN moving mean / variance (2 x 10,944 channels).
  timm_params, timm_stats = model_stats.count_registered('mobilenetv1_100')
  assert params == timm_params == 4_231_976
  assert stats == timm_stats == 21_888
  assert timm_params + timm_stats == KERAS_MOBILENET


@pytest.mark.parametrize(
  'model, kwargs, expected',
  [
    # torchvision mobilenet_v2(width_mult=...) / mobilenet_v3_*(...).
    ('mobilenet_v2', dict(width_mult=0.5), (1_968_680, 18_544)),
    ('mobilenet_v2', dict(width_mult=1.4), (6_108_776, 47_936)),
    ('mobilenet_v3_large', dict(width_mult=0.75), (3_377_576, 18_416)),
    ('mobilenet_v3_small', dict(width_mult=0.75), (1_653_920, 9_200)),
    (
      'mobilenet_v3_large',
      dict(reduced_tail=True, dilated=True),
      (2_569_352, 19_120),
    ),
    ('efficientnet_b0', dict(num_classes=10), (4_020_358, 42_016)),
  ],
)
def test_width_multipliers_and_options_match_torchvision(
  model, kwargs, expected
):
  assert model_stats.count_registered(model, **kwargs) == expected


@pytest.mark.parametrize(
  'alpha, keras_total',
  [
    (0.25, 475_544),
    (0.5, 1_342_536),
    (0.75, 2_601_976),
    # 0.35 is where Keras' int(c * alpha) and timm's make_divisible(c * alpha,
    # 8) part ways (e.g. a stem of 11 vs 16 channels).
    (0.35, 773_521),
  ],
)
def test_keras_width_multipliers(alpha, keras_total):
  params, stats = model_stats.count_registered(
    'mobilenet_keras', width_mult=alpha
  )
  assert params + stats == keras_total


def test_width_multiplier_rounding_differs_between_keras_and_timm():
  keras = model_stats.count_registered('mobilenet_keras', width_mult=0.35)
  timm = model_stats.count_registered('mobilenetv1_100', width_mult=0.35)
  assert keras == (765_881, 7_640)
  assert timm == (763_752, 7_632)


def test_width_multipliers_change_counts():
  for name in ('mobilenet_v2', 'mobilenet_v3_small'):
    counts = [
      model_stats.count_registered(name, width_mult=w)[0]
      for w in (0.5, 1.0, 1.5)
    ]
    assert counts[0] < counts[1] < counts[2]


MOBILE_NAMES = sorted({**TORCHVISION, **TIMM}) + ['mobilenet_keras']


def test_registered_with_native_shapes():
  for name in MOBILE_NAMES:
    spec = models.get_spec(name)
    assert spec.num_classes == 1000
    size = (
      efficientnet.SCALING[name.split('_')[1]][2]
      if name.startswith('efficientnet')
      else 224
    )
    assert spec.input_shape == (size, size, 3), name


@pytest.mark.parametrize(
  'name',
  ['mobilenet_keras', 'mobilenet_v2', 'mobilenet_v3_small', 'efficientnet_b0'],
)
def test_output_shape_train_mode_other_classes(name):
  _, shape = _count_and_output_shape(name, train=True, num_classes=7)
  assert shape == (2, 7)


@pytest.mark.parametrize('size', [128, 160, 192])
def test_mobilenetv1_resolution_multiplier(size):
  # Resolution changes the FLOPs, not the parameters.
  model = models.build('mobilenetv1_050')
  assert (
    model_stats.count_params(model, (size, size, 3)) == TIMM['mobilenetv1_050']
  )
  assert model_stats.output_shape(model, (size, size, 3)) == (2, 1000)


def _layer_outputs(name, input_shape, **kwargs):
  s = layer_table.summarize(
    models.build(name, **kwargs), input_shape, compute_flops=False
  )
  return {'/'.join(l.path): l.output for l in s.layers}


def test_keras_padding_matches_keras_shapes():
  # keras.applications.MobileNet at 225x225: conv1 113, conv_dw_2 56 (pads
  # bottom/right only), last map 7x7; PyTorch padding gives 57 and 8x8.
  keras = _layer_outputs('mobilenet_keras', (225, 225, 3))
  assert keras['conv1'] == (1, 113, 113, 32)
  assert keras['conv_dw_2'] == (1, 56, 56, 64)
  assert keras['conv_pw_13'] == (1, 7, 7, 1024)
  timm = _layer_outputs('mobilenetv1_100', (225, 225, 3))
  assert timm['blocks_1_0_conv_dw'] == (1, 57, 57, 64)
  assert timm['blocks_4_1_conv_pw'] == (1, 8, 8, 1024)


def test_mobilenet_v3_dilated_keeps_stride_16():
  plain = _layer_outputs('mobilenet_v3_large', (224, 224, 3))
  dilated = _layer_outputs('mobilenet_v3_large', (224, 224, 3), dilated=True)
  assert plain['features_16'] == (1, 7, 7, 960)
  assert dilated['features_16'] == (1, 14, 14, 960)


def _kernel(params, *path):
  for p in path:
    params = params[p]
  return params['kernel'].shape


def test_parameter_layout_v3_and_efficientnet():
  v3 = model_stats.abstract_variables(
    models.build('mobilenet_v3_large'), (224, 224, 3)
  )['params']
  # features.4: 24 -> 72 expand, 5x5 depthwise, SE 72 -> make_divisible(18)
  # = 24 with biases, project to 40 (torchvision's layout).
  assert _kernel(v3, 'features_4', 'expand', 'conv') == (1, 1, 24, 72)
  assert _kernel(v3, 'features_4', 'depthwise', 'conv') == (5, 5, 1, 72)
  assert _kernel(v3, 'features_4', 'se', 'reduce') == (1, 1, 72, 24)
  assert v3['features_4']['se']['reduce']['bias'].shape == (24,)
  assert _kernel(v3, 'features_4', 'project', 'conv') == (1, 1, 72, 40)
  assert 'expand' not in v3['features_1']  # expansion 16 -> 16: skipped.
  assert _kernel(v3, 'classifier_0') == (960, 1280)
  assert _kernel(v3, 'classifier_3') == (1280, 1000)
  b0 = model_stats.abstract_variables(
    models.build('efficientnet_b0'), (224, 224, 3)
  )['params']
  # EfficientNet's SE squeezes to a quarter of the block INPUT (16 // 4).
  assert _kernel(b0, 'features_2_0', 'se', 'reduce') == (1, 1, 96, 4)
  assert _kernel(b0, 'features_2_0', 'se', 'expand') == (1, 1, 4, 96)
  assert _kernel(b0, 'features_8', 'conv') == (1, 1, 320, 1280)
  v1 = model_stats.abstract_variables(
    models.build('mobilenet_keras'), (224, 224, 3)
  )['params']
  assert _kernel(v1, 'conv_preds') == (1, 1, 1024, 1000)  # Keras' 1x1 conv.
  assert v1['conv_preds']['bias'].shape == (1000,)


def test_efficientnet_compound_scaling_rule():
  for variant, (width, depth, _, dropout) in efficientnet.SCALING.items():
    model = models.build(f'efficientnet_{variant}')
    assert (model.width_mult, model.depth_mult, model.dropout_rate) == (
      width,
      depth,
      dropout,
    )
    # torchvision keeps PyTorch's BN defaults for B0-B4 and uses the TF
    # settings (eps 1e-3, momentum 0.01 = Flax 0.99) for B5-B7.
    tf_bn = variant in ('b5', 'b6', 'b7')
    assert model.bn_epsilon == (1e-3 if tf_bn else 1e-5)
    assert model.bn_momentum == (0.99 if tf_bn else 0.9)
  # Stage widths make_divisible(c * 2.0, 8) and repeats ceil(n * 3.1) for B7.
  outputs = _layer_outputs('efficientnet_b7', (64, 64, 3))
  blocks = [p for p in outputs if p.count('/') == 0 and p.count('_') == 2]
  assert (
    len(blocks)
    == sum(int(np.ceil(n * 3.1)) for n in (1, 2, 2, 3, 3, 4, 1))
    == 55
  )
  assert outputs['features_7_0'][-1] == 640
  assert outputs['features_8'][-1] == 2560


def _drop_path_rates(name, **kwargs):
  rates = []

  def record(next_fun, args, kwargs_, context):
    if isinstance(context.module, InvertedResidual) and (
      context.method_name == '__call__'
    ):
      rates.append(context.module.drop_path_rate)
    return next_fun(*args, **kwargs_)

  model = models.build(name, **kwargs)
  with nn.intercept_methods(record):
    model_stats.abstract_variables(model, (32, 32, 3))
  return rates


def test_efficientnet_stochastic_depth_rates_follow_torchvision():
  rates = _drop_path_rates('efficientnet_b0')
  assert len(rates) == 16
  np.testing.assert_allclose(rates, [0.2 * i / 16 for i in range(16)])
  rates = _drop_path_rates('efficientnet_b3')
  assert len(rates) == 26  # ceil(n * 1.4) per stage.
  np.testing.assert_allclose(rates[-1], 0.2 * 25 / 26)


def _numpy_init(model, x):
  """Variables for ``model`` without running ``model.init``.

  Shapes come from an abstract init (a trace); values from NumPy: He-normal
  kernels, unit BN scales and variances, zero biases and means. Eager or even
  jitted ``init`` of a 150-layer net costs 20-100 s of XLA compilation on this
  2-core machine, which these tests do not need.
  """
  rng = np.random.default_rng(0)
  abstract = model_stats.abstract_variables(
    model, x.shape[1:], batch_size=x.shape[0]
  )

  def value(path, leaf):
    name = path[-1].key
    if name == 'kernel':
      fan_in = int(np.prod(leaf.shape[:-1]))
      return jnp.asarray(
        rng.normal(0.0, np.sqrt(2.0 / fan_in), leaf.shape), jnp.float32
      )
    if name in ('scale', 'var'):
      return jnp.ones(leaf.shape, jnp.float32)
    return jnp.zeros(leaf.shape, jnp.float32)

  return jax.tree_util.tree_map_with_path(value, abstract)


def _compile(fn, *args):
  return (
    jax.jit(fn).lower(*args).compile(compiler_options=model_checks.FAST_COMPILE)
  )


def _apply(model, variables, x, train, rngs=(0,)):
  """Jitted apply, one output per dropout seed in ``rngs``.

  (Eager op-by-op dispatch is slow on this machine; one compile serves all
  seeds.)
  """

  def f(variables, x, key):
    out = model.apply(
      variables,
      x,
      train=train,
      rngs={'dropout': key},
      mutable=['batch_stats'] if train else False,
    )
    return out[0] if train else out

  keys = [jax.random.key(k) for k in rngs]
  f = _compile(f, variables, x, keys[0])
  outs = [f(variables, x, key) for key in keys]
  return outs[0] if len(outs) == 1 else outs


def test_stochastic_depth_drops_branches_in_training_only():
  block = InvertedResidual(8, 16, se_features=2, drop_path_rate=0.5)
  no_sd = InvertedResidual(8, 16, se_features=2)
  x = jax.random.normal(jax.random.key(0), (64, 4, 4, 8))
  variables = _numpy_init(block, x)
  branch = _apply(block, variables, x, False) - x  # eval: all kept.
  assert float(jnp.abs(branch).max(axis=(1, 2, 3)).min()) > 0
  # Eval mode ignores the rate: the same as a block without stochastic depth.
  np.testing.assert_allclose(
    _apply(block, variables, x, False),
    _apply(no_sd, variables, x, False),
    rtol=1e-6,
  )
  out = np.asarray(_apply(block, variables, x, True, rngs=(2,)))
  train_branch = np.asarray(_apply(no_sd, variables, x, True) - x)
  x = np.asarray(x)
  dropped = np.all(out == x, axis=(1, 2, 3))
  kept = np.all(
    np.isclose(out - x, 2 * train_branch, rtol=1e-4, atol=1e-5), axis=(1, 2, 3)
  )
  assert np.all(dropped | kept)  # Each example: branch dropped or scaled 2x.
  assert 16 <= dropped.sum() <= 48  # ~Binomial(64, 0.5).


def test_stochastic_depth_only_on_residual_blocks():
  x = jax.random.normal(jax.random.key(0), (16, 8, 8, 8))
  for kwargs, residual in (
    (dict(features=8), True),
    (dict(features=16), False),
    (dict(features=8, strides=2), False),
  ):
    block = InvertedResidual(expanded_features=16, drop_path_rate=0.5, **kwargs)
    variables = _numpy_init(block, x)
    # Train-mode outputs depend on the dropout rng only where a residual
    # branch can be dropped (BatchNorm uses batch statistics, no dropout).
    outs = _apply(block, variables, x, True, rngs=(0, 1))
    assert (not np.array_equal(outs[0], outs[1])) == residual, kwargs


def test_tiny_efficientnet_train_mode_depends_on_rng_only_with_sd():
  x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
  for rate, differs in ((0.0, False), (0.5, True)):
    model = efficientnet.EfficientNet(
      num_classes=5,
      width_mult=0.25,
      depth_mult=0.5,
      dropout_rate=0.0,
      stochastic_depth_rate=rate,
    )
    variables = _numpy_init(model, x)
    outs = _apply(model, variables, x, True, rngs=(0, 1))
    assert (not np.allclose(outs[0], outs[1])) == differs
    evals = _apply(model, variables, x, False, rngs=(0, 1))
    np.testing.assert_array_equal(evals[0], evals[1])


def test_hard_swish_and_hard_sigmoid():
  x = jnp.array([-4.0, -3.0, 0.0, 1.5, 3.0, 5.0])
  np.testing.assert_allclose(layers.hard_sigmoid(x), [0, 0, 0.5, 0.75, 1, 1])
  np.testing.assert_allclose(layers.hard_swish(x), x * np.clip(x + 3, 0, 6) / 6)
