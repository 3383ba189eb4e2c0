"""Tests of the residual families: ResNet, ResNeXt, WRN, SENet, pre-act, plain.

Every model's count is checked against its library reference in
``test_every_model.py`` (``reference_counts.py``). Here: small-image models
without a library reference are checked against parameter formulas written
independently of the model code (sums of conv / BN / dense sizes) and against
the papers' rounded figures; then shortcuts, stride placement, parameter
layout, and training steps with the options the zoo test does not cover.
"""

import functools

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.analysis import model_stats
from cnn_jax import models
from cnn_jax.models.blocks import residual as rb
from tests.models import model_checks, reference_counts


def key(seed):
  # 'rbg' keys compile several times faster than threefry on XLA:CPU, and
  # init compiles one random draw per parameter.
  return jax.random.key(seed, impl='rbg')


# --------------------------------------------------------------------------
# Reference counts (checked in test_every_model.py; used below).

TORCHVISION = {
  n: c.value
  for n, c in reference_counts.TORCHVISION.items()
  if n.startswith(('resnet', 'resnext', 'wide_resnet'))
}
TIMM = {
  n: c.value
  for n, c in reference_counts.TIMM.items()
  if ('resnet' in n and not n.startswith('inception')) or n == 'senet154'
}
KERAS = {
  n: c.value
  for n, c in reference_counts.KERAS.items()
  if n.startswith('resnet')
}
TUTORIAL = {
  n: reference_counts.PAPERS[n].value
  for n in ('resnet_uvadl', 'preact_resnet_uvadl')
}


# --------------------------------------------------------------------------
# Independent parameter formulas for the small-image nets.


def conv(k, cin, cout, groups=1, bias=False):
  return k * k * (cin // groups) * cout + (cout if bias else 0)


def bn(c):
  return 2 * c  # scale + bias (and as many running statistics).


def dense(cin, cout):
  return cin * cout + cout


class Tally:
  """Sums parameters and BN channels separately."""

  def __init__(self):
    self.params = 0
    self.bn_stats = 0

  def conv(self, *args, **kwargs):
    self.params += conv(*args, **kwargs)

  def bn(self, c):
    self.params += bn(c)
    self.bn_stats += 2 * c

  def dense(self, cin, cout):
    self.params += dense(cin, cout)


def he2016_cifar(n, shortcut='A', in_ch=3, classes=10):
  """ResNet-(6n+2): stem conv-BN, 3 stages x n basic units, 16/32/64."""
  t = Tally()
  t.conv(3, in_ch, 16)
  t.bn(16)
  cin = 16
  for width in (16, 32, 64):
    for _ in range(n):
      t.conv(3, cin, width)
      t.bn(width)
      t.conv(3, width, width)
      t.bn(width)
      if cin != width and shortcut == 'B':
        t.conv(1, cin, width)
        t.bn(width)
      cin = width
  t.dense(64, classes)
  return t


def preact_bottleneck_cifar(depth, classes=10):
  """He et al. 2016b: conv 16, 3 x (depth-2)/9 pre-act bottlenecks, BN."""
  n = (depth - 2) // 9
  t = Tally()
  t.conv(3, 3, 16)
  cin = 16
  for planes in (16, 32, 64):
    for _ in range(n):
      t.bn(cin)
      t.conv(1, cin, planes)
      t.bn(planes)
      t.conv(3, planes, planes)
      t.bn(planes)
      t.conv(1, planes, 4 * planes)
      if cin != 4 * planes:
        t.conv(1, cin, 4 * planes)
      cin = 4 * planes
  t.bn(cin)
  t.dense(cin, classes)
  return t


def wrn(depth, k, classes=10):
  """WRN-d-k: conv 16, 3 x (d-4)/6 pre-act basic units of 16k/32k/64k, BN."""
  n = (depth - 4) // 6
  t = Tally()
  t.conv(3, 3, 16)
  cin = 16
  for width in (16 * k, 32 * k, 64 * k):
    for _ in range(n):
      t.bn(cin)
      t.conv(3, cin, width)
      t.bn(width)
      t.conv(3, width, width)
      if cin != width:
        t.conv(1, cin, width)
      cin = width
  t.bn(cin)
  t.dense(cin, classes)
  return t


def resnext29(cardinality, group_width=64, classes=10):
  """Xie et al. 2017: conv 64, 3 x 3 bottlenecks out 256/512/1024."""
  t = Tally()
  t.conv(3, 3, 64)
  t.bn(64)
  cin = 64
  for stage, out in enumerate((256, 512, 1024)):
    inner = cardinality * group_width * 2**stage
    for b in range(3):
      t.conv(1, cin, inner)
      t.bn(inner)
      t.conv(3, inner, inner, groups=cardinality)
      t.bn(inner)
      t.conv(1, inner, out)
      t.bn(out)
      if cin != out or (b == 0 and stage > 0):
        t.conv(1, cin, out)
        t.bn(out)
      cin = out
  t.dense(1024, classes)
  return t


def net_2552(residual=True, classes=10):
  """conv3x3-64 + BN, basic units 2-5-5-2 of 64..512, all convs with bias."""
  t = Tally()
  t.conv(3, 3, 64, bias=True)
  t.bn(64)
  cin = 64
  for n, width in zip((2, 5, 5, 2), (64, 128, 256, 512)):
    for _ in range(n):
      t.conv(3, cin, width, bias=True)
      t.bn(width)
      t.conv(3, width, width, bias=True)
      t.bn(width)
      if residual and cin != width:
        t.conv(1, cin, width, bias=True)
        t.bn(width)
      cin = width
  t.dense(512, classes)
  return t


FORMULAS = {
  'resnet20': he2016_cifar(3),
  'resnet32': he2016_cifar(5),
  'resnet44': he2016_cifar(7),
  'resnet56': he2016_cifar(9),
  'resnet110': he2016_cifar(18),
  'plain20': he2016_cifar(3),  # option A shortcuts have no parameters.
  'plain32': he2016_cifar(5),
  'plain44': he2016_cifar(7),
  'plain56': he2016_cifar(9),
  'preact_resnet164': preact_bottleneck_cifar(164),
  'preact_resnet1001': preact_bottleneck_cifar(1001),
  'wrn16_8': wrn(16, 8),
  'wrn28_10': wrn(28, 10),
  'wrn40_4': wrn(40, 4),
  'resnext29_8x64d': resnext29(8),
  'resnext29_16x64d': resnext29(16),
  'resnet30_keras': net_2552(True),
  'plain30_keras': net_2552(False),
}

# The papers' rounded figures (millions, as printed).
PAPER_MILLIONS = {
  'resnet20': '0.27',
  'resnet32': '0.46',
  'resnet44': '0.66',
  'resnet56': '0.85',
  'resnet110': '1.7',
  'preact_resnet164': '1.7',
  'wrn16_8': '11.0',
  'wrn28_10': '36.5',
  'wrn40_4': '8.9',
  'resnext29_8x64d': '34.4',
  'resnext29_16x64d': '68.1',
}


@pytest.mark.parametrize('name', sorted(FORMULAS))
def test_small_image_counts_match_formulas(name):
  params, stats = model_stats.count_registered(name)
  assert params == FORMULAS[name].params
  assert stats == FORMULAS[name].bn_stats


def test_formula_values_pinned():
  # The formulas themselves, pinned so that a change to them is noticed.
  assert FORMULAS['resnet20'].params == 269_722
  assert FORMULAS['resnet20'].bn_stats == 2 * 688
  assert FORMULAS['preact_resnet164'].params == 1_703_258
  assert FORMULAS['preact_resnet1001'].params == 10_327_706
  assert FORMULAS['wrn28_10'].params == 36_479_194
  assert FORMULAS['resnext29_8x64d'].params == 34_426_698


@pytest.mark.parametrize('name', sorted(PAPER_MILLIONS))
def test_small_image_counts_near_paper(name):
  # Within 1% of the printed figure, or within its rounding.
  printed = PAPER_MILLIONS[name]
  decimals = len(printed.split('.')[1])
  tolerance = max(0.01 * float(printed), 0.5 * 10**-decimals)
  assert abs(FORMULAS[name].params / 1e6 - float(printed)) <= tolerance


def test_resnet1001_vs_paper():
  # He et al. 2016b print 10.2M; the formula (as common re-implementations)
  # gives 10.33M: 1.3% more, outside the rule above.
  assert 10.2e6 < FORMULAS['preact_resnet1001'].params < 10.4e6


def test_option_a_vs_b_shortcuts():
  a, a_stats = model_stats.count_registered('resnet20')
  b, b_stats = model_stats.count_registered('resnet20', shortcut_type='B')
  # Two projections (16->32 and 32->64) with their BN.
  assert b - a == conv(1, 16, 32) + bn(32) + conv(1, 32, 64) + bn(64) == 2752
  assert b_stats - a_stats == 2 * (32 + 64)
  assert b == he2016_cifar(3, shortcut='B').params == 272_474


def test_fashion_mnist_resnet20_native_28x28():
  model = models.build('resnet20', num_classes=10)
  params, _ = model_stats.count_params(model, (28, 28, 1))
  assert params == he2016_cifar(3, in_ch=1).params == 269_434
  assert model_stats.output_shape(model, (28, 28, 1)) == (2, 10)


# --------------------------------------------------------------------------
# Registry, shapes and parameter layout.

IMAGENET_NAMES = sorted({**TORCHVISION, **TIMM, **KERAS})
SMALL_NAMES = sorted({**FORMULAS, **TUTORIAL})


def test_registered_with_native_shapes():
  for name in IMAGENET_NAMES:
    spec = models.get_spec(name)
    assert (spec.input_shape, spec.num_classes) == ((224, 224, 3), 1000), name
  for name in SMALL_NAMES:
    spec = models.get_spec(name)
    assert (spec.input_shape, spec.num_classes) == ((32, 32, 3), 10), name


# One of each kind of stem / unit / head (the count tests above trace every
# model's init, forward pass included).
SHAPE_NAMES = [
  'resnet18',
  'resnet50',
  'resnext50_32x4d',
  'wide_resnet50_2',
  'seresnet50',
  'senet154',
  'preact_resnet18',
  'preact_resnet50',
  'resnet50v2',
  'resnet50_keras',
  'resnet20',
  'plain20',
  'resnet_uvadl',
  'preact_resnet_uvadl',
  'preact_resnet164',
  'wrn16_8',
  'resnext29_8x64d',
  'resnet30_keras',
  'plain30_keras',
]


@pytest.mark.parametrize('name', SHAPE_NAMES)
def test_output_shape(name):
  spec = models.get_spec(name)
  model = spec.factory(num_classes=7)
  assert model_stats.output_shape(model, spec.input_shape) == (2, 7)
  if spec.num_classes == 10 and name not in ('resnet30_keras', 'plain30_keras'):
    # Fully convolutional up to the global pooling: any size runs.
    assert model_stats.output_shape(model, (28, 28, 1)) == (2, 7)


def _kernel_shapes(name, **kwargs):
  spec = models.get_spec(name)
  variables = model_stats.abstract_variables(
    spec.factory(num_classes=spec.num_classes, **kwargs), spec.input_shape
  )
  flat = flax.traverse_util.flatten_dict(variables['params'], sep='/')
  return {k: v.shape for k, v in flat.items()}


def test_parameter_layout_torchvision_resnet50():
  s = _kernel_shapes('resnet50')
  assert s['conv1/conv/kernel'] == (7, 7, 3, 64)
  assert s['layer1_0/conv1/conv/kernel'] == (1, 1, 64, 64)
  assert s['layer1_0/downsample/conv/kernel'] == (1, 1, 64, 256)
  # v1.5: the stride-2 unit keeps its 1x1 convs unstrided; 3x3 is strided
  # (checked on shapes in test_stride_placement_v1_vs_v1_5).
  assert s['layer2_0/conv2/conv/kernel'] == (3, 3, 128, 128)
  assert s['layer4_2/conv3/bn/scale'] == (2048,)
  assert s['fc/kernel'] == (2048, 1000)
  assert 'layer1_1/downsample/conv/kernel' not in s


def test_parameter_layout_senet154():
  s = _kernel_shapes('senet154')
  assert s['conv1_0/conv/kernel'] == (3, 3, 3, 64)
  assert s['conv1_2/conv/kernel'] == (3, 3, 64, 128)
  assert s['layer1_0/conv1/conv/kernel'] == (1, 1, 128, 128)
  assert s['layer1_0/conv2/conv/kernel'] == (3, 3, 2, 256)  # 64 groups.
  assert s['layer1_0/downsample/conv/kernel'] == (1, 1, 128, 256)
  assert s['layer2_0/downsample/conv/kernel'] == (3, 3, 256, 512)
  assert s['layer2_0/se/reduce/kernel'] == (1, 1, 512, 32)
  assert s['layer2_0/se/expand/bias'] == (512,)


def test_parameter_layout_keras_v2():
  s = _kernel_shapes('resnet50v2')
  assert s['conv1/conv/bias'] == (64,)
  assert 'conv1/bn/scale' not in s
  assert s['layer1_0/downsample/conv/bias'] == (256,)  # conv_shortcut
  assert 'layer1_2/downsample/conv/kernel' not in s  # strided identity.
  assert s['layer1_2/conv3/bias'] == (256,)
  assert 'layer1_2/conv2/bias' not in s
  assert s['final_bn/scale'] == (2048,)


# --------------------------------------------------------------------------
# Shortcuts really there (or really gone).


def _zero_branch(params, block):
  """A copy of ``params`` with the residual branch's last layer zeroed."""
  params = jax.tree.map(jnp.array, params)  # new containers and arrays.
  if isinstance(block, (rb.BasicBlock, rb.BottleneckBlock)):
    last = 'conv2' if isinstance(block, rb.BasicBlock) else 'conv3'
    params[last]['bn']['scale'] = jnp.zeros_like(params[last]['bn']['scale'])
    params[last]['bn']['bias'] = jnp.zeros_like(params[last]['bn']['bias'])
  else:
    last = 'conv2' if isinstance(block, rb.PreActBasicBlock) else 'conv3'
    params[last] = jax.tree.map(jnp.zeros_like, params[last])
  return params


@pytest.mark.parametrize(
  'block_cls,features,post_act',
  [
    (rb.BasicBlock, 16, True),
    (rb.BottleneckBlock, 4, True),
    (rb.PreActBasicBlock, 16, False),
    (rb.PreActBottleneck, 4, False),
  ],
)
def test_zeroed_branch_gives_shortcut_or_nothing(block_cls, features, post_act):
  x = jax.random.normal(jax.random.key(0), (2, 6, 6, 16))
  residual = block_cls(features=features)
  plain = block_cls(features=features, shortcut=False)
  variables = jax.jit(residual.init)(key(1), x)
  # Same parameters: an identity shortcut has none.
  assert model_stats.tree_size(variables) == model_stats.tree_size(
    jax.eval_shape(plain.init, key(1), x)
  )
  zeroed = {**variables, 'params': _zero_branch(variables['params'], residual)}
  apply_res, apply_plain = jax.jit(residual.apply), jax.jit(plain.apply)
  expected = jax.nn.relu(x) if post_act else x
  np.testing.assert_allclose(apply_res(zeroed, x), expected, atol=1e-6)
  np.testing.assert_allclose(apply_plain(zeroed, x), 0.0, atol=1e-6)
  # With the branch intact the two differ; for pre-activation units (nothing
  # after the addition) residual minus plain is exactly the identity.
  diff = apply_res(variables, x) - apply_plain(variables, x)
  assert np.abs(np.asarray(diff)).max() > 1e-3
  if not post_act:
    np.testing.assert_allclose(diff, x, atol=1e-5)


def test_option_a_strided_shortcut_subsamples_and_pads():
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 8))
  block = rb.BasicBlock(features=16, strides=2, shortcut_type='A')
  variables = jax.jit(block.init)(key(1), x)
  assert 'downsample' not in variables['params']
  variables = {**variables, 'params': _zero_branch(variables['params'], block)}
  out = jax.jit(block.apply)(variables, x)
  assert out.shape == (2, 4, 4, 16)
  np.testing.assert_allclose(
    out[..., :8], jax.nn.relu(x[:, ::2, ::2]), atol=1e-6
  )
  np.testing.assert_allclose(out[..., 8:], 0.0)


def test_option_b_strided_shortcut_projects():
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 8))
  block = rb.BasicBlock(features=16, strides=2)
  variables = jax.jit(block.init)(key(1), x)
  kernel = variables['params']['downsample']['conv']['kernel']
  assert kernel.shape == (1, 1, 8, 16)
  variables = {**variables, 'params': _zero_branch(variables['params'], block)}
  out = jax.jit(block.apply)(variables, x)
  # BN at init in eval mode: y / sqrt(1 + eps).
  proj = jnp.einsum('nhwc,cd->nhwd', x[:, ::2, ::2], kernel[0, 0])
  np.testing.assert_allclose(
    out, jax.nn.relu(proj / np.sqrt(1 + 1e-5)), atol=1e-5
  )


def test_zero_init_residual_makes_units_identities():
  x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
  res = models.build('resnet20', num_classes=10, zero_init_residual=True)
  plain = models.build('plain20', num_classes=10, zero_init_residual=True)
  variables = jax.jit(res.init)(key(1), x)
  logits, inter = jax.jit(
    functools.partial(
      res.apply,
      capture_intermediates=lambda m, n: n == '__call__',
      mutable=['intermediates'],
    )
  )(variables, x)
  inter = inter['intermediates']
  stem = inter['conv1']['__call__'][0]
  # Stage 1 (no shape change): every unit passes its input through.
  np.testing.assert_allclose(inter['layer1_2']['__call__'][0], stem, atol=1e-6)
  assert np.abs(np.asarray(logits[0] - logits[1])).max() > 1e-4
  # The plain net has nothing to pass through: constant logits.
  logits = jax.jit(plain.apply)(variables, x)  # same parameters.
  np.testing.assert_allclose(logits[0], logits[1], atol=1e-6)


# --------------------------------------------------------------------------
# Stride placement: v1 (first 1x1) vs v1.5 (3x3).


def test_stride_placement_v1_vs_v1_5():
  x = jnp.ones((1, 8, 8, 16))
  shapes = {}
  for on_3x3 in (True, False):
    block = rb.BottleneckBlock(features=8, strides=2, stride_on_3x3=on_3x3)

    def run(x, block=block):
      v = block.init(jax.random.key(0), x)
      out, inter = block.apply(
        v,
        x,
        capture_intermediates=lambda m, n: n == '__call__',
        mutable=['intermediates'],
      )
      return v, out, inter['intermediates']

    v, out, inter = jax.eval_shape(run, x)
    shapes[on_3x3] = (
      model_stats.tree_size(v),
      out.shape,
      inter['conv1']['__call__'][0].shape,
    )
  assert (
    shapes[True][:2] == shapes[False][:2] == (shapes[True][0], (1, 4, 4, 32))
  )
  assert shapes[True][2] == (1, 8, 8, 8)  # v1.5: conv1 keeps the resolution.
  assert shapes[False][2] == (1, 4, 4, 8)  # v1: conv1 is strided.
  # A whole ResNet-50 with v1 units (as Keras' ResNet50, less its conv
  # biases) has the same count too.
  v1_params, _ = model_stats.count_registered(
    'resnet50',
    block_cls=functools.partial(rb.BottleneckBlock, stride_on_3x3=False),
  )
  assert v1_params == TORCHVISION['resnet50']


# --------------------------------------------------------------------------
# Forward + backward passes.


slow = pytest.mark.slow
SMALL_TRAIN = [
  pytest.param('resnet20', {}, (28, 28, 1), marks=slow),
  (
    'preact_resnet164',
    {'stage_sizes': (1, 1, 1), 'drop_path_rate': 0.2},
    (32, 32, 3),
  ),
  (
    'resnext29_8x64d',
    {'stage_sizes': (1, 1, 1), 'widths': (8, 16, 32)},
    (32, 32, 3),
  ),
  ('wrn16_8', {'block_dropout_rate': 0.3}, (32, 32, 3)),
  # Keras-style nets at one unit per stage (the 4x4 pool needs 32x32).
  ('resnet30_keras', {'stage_sizes': (1, 1, 1, 1)}, (32, 32, 3)),
  ('plain30_keras', {'stage_sizes': (1, 1, 1, 1)}, (32, 32, 3)),
  (
    'resnet18',
    {'small_input_stem': True, 'stage_sizes': (1, 1, 1, 1)},
    (28, 28, 1),
  ),
  pytest.param('resnet18', {'small_input_stem': True}, (28, 28, 1), marks=slow),
]


@pytest.mark.parametrize('name,kwargs,shape', SMALL_TRAIN)
def test_small_image_train_step(name, kwargs, shape):
  model = models.build(name, num_classes=10, **kwargs)
  model_checks.check_train_step(model, shape)


# ImageNet families at 64x64, most at reduced depth (one unit per stage).
IMAGENET_TRAIN = [
  # ResNet + ResNeXt + SE in one.
  ('seresnext50_32x4d', {'stage_sizes': (1, 1, 1, 1)}),
  # Keras pre-activation: stride in the last unit, strided identities.
  ('resnet50v2', {'stage_sizes': (2, 2, 1, 1)}),
  pytest.param(
    'resnext50_32x4d',
    {'stage_sizes': (1, 1, 1, 1), 'drop_path_rate': 0.2},
    marks=slow,
  ),
  pytest.param('senet154', {'stage_sizes': (1, 1, 1, 1)}, marks=slow),
  pytest.param('preact_resnet50', {'stage_sizes': (1, 1, 1, 1)}, marks=slow),
  pytest.param('resnet50_keras', {'stage_sizes': (1, 1, 1, 1)}, marks=slow),
]


@pytest.mark.parametrize('name,kwargs', IMAGENET_TRAIN)
def test_imagenet_family_train_step_64px(name, kwargs):
  model = models.build(name, num_classes=5, **kwargs)
  model_checks.check_train_step(model, (64, 64, 3), classes=5)
