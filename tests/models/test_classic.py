"""Classic models: LeNet-5, AlexNet, VGG, GoogLeNet, Inception-v3.

Every model's count is checked against its reference in
``test_every_model.py``; counts with no library reference are derived here by
hand from the papers' tables.
"""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.analysis import model_stats
from cnn_jax.models import alexnet, build, get_spec, layers, lenet
from tests.models import model_checks
from tests.models.reference_counts import REFERENCE


def _conv(cin, cout, k, bias=True, groups=1):
  return (cin // groups) * cout * k * k + (cout if bias else 0)


def test_alexnet_2012_count_from_paper_table():
  """96-256-384-384-256 convs on 227 (6x6x256 into fc6), FC 4096-4096-1000."""
  convs = [
    (3, 96, 11, 1),
    (96, 256, 5, 2),
    (256, 384, 3, 1),
    (384, 384, 3, 2),
    (384, 256, 3, 2),
  ]
  fcs = 6 * 6 * 256 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000
  one_tower = sum(_conv(i, o, k) for i, o, k, _ in convs) + fcs
  two_towers = sum(_conv(i, o, k, groups=g) for i, o, k, g in convs) + fcs
  assert one_tower == 62_378_344
  assert two_towers == 60_965_224  # Caffe's bvlc_alexnet.
  assert model_stats.count_registered('alexnet_2012') == (one_tower, 0)
  assert model_stats.count_registered('alexnet_2012', two_tower=True) == (
    two_towers,
    0,
  )


def test_vgg_variants_from_paper_table():
  """A-LRN adds no parameters; C swaps three 3x3 convs of D for 1x1 ones."""
  assert model_stats.count_registered('vgg11_lrn') == (
    REFERENCE['vgg11'].value,
    0,
  )
  ones = [(256, 256), (512, 512), (512, 512)]
  saved = sum(_conv(i, o, 3) - _conv(i, o, 1) for i, o in ones)
  assert model_stats.count_registered('vgg16_c') == (
    REFERENCE['vgg16'].value - saved,
    0,
  )
  assert REFERENCE['vgg16'].value - saved == 133_638_952


# Szegedy et al. 2015, Table 1: in, #1x1, #3x3 reduce, #3x3, #5x5 reduce,
# #5x5, pool proj.
_GOOGLENET_TABLE = [
  (192, 64, 96, 128, 16, 32, 32),
  (256, 128, 128, 192, 32, 96, 64),
  (480, 192, 96, 208, 16, 48, 64),
  (512, 160, 112, 224, 24, 64, 64),
  (512, 128, 128, 256, 24, 64, 64),
  (512, 112, 144, 288, 32, 64, 64),
  (528, 256, 160, 320, 32, 128, 128),
  (832, 256, 160, 320, 32, 128, 128),
  (832, 384, 192, 384, 48, 128, 128),
]


def test_googlenet_2014_count_from_paper_table():
  main = _conv(3, 64, 7) + _conv(64, 64, 1) + _conv(64, 192, 3)
  for cin, c1, c3r, c3, c5r, c5, proj in _GOOGLENET_TABLE:
    main += (
      _conv(cin, c1, 1)
      + _conv(cin, c3r, 1)
      + _conv(c3r, c3, 3)
      + _conv(cin, c5r, 1)
      + _conv(c5r, c5, 5)
      + _conv(cin, proj, 1)
    )
  main += 1024 * 1000 + 1000
  aux = sum(
    _conv(cin, 128, 1) + 4 * 4 * 128 * 1024 + 1024 + 1024 * 1000 + 1000
    for cin in (512, 528)
  )
  assert model_stats.count_registered('googlenet_2014') == (main + aux, 0)
  assert model_stats.count_registered('googlenet_2014', aux_logits=False) == (
    main,
    0,
  )
  assert main == 6_998_552


def test_lenet5_1998_layer_counts():
  """C1 156 + S2 12 + C3 1,516 + S4 32 + C5 48,120 + F6 10,164 + RBF 840."""
  variables = model_stats.abstract_variables(build('lenet5_1998'), (28, 28, 1))
  sizes = {k: model_stats.tree_size(v) for k, v in variables['params'].items()}
  assert sizes == {
    'c1': 156,
    's2': 12,
    'c3': 1516,
    's4': 32,
    'c5': 48120,
    'f6': 10164,
    'rbf': 840,
  }


# --- Output shapes at the native input (eval_shape only) -------------------

NO_AUX = [
  'lenet5',
  'lenet5_1998',
  'alexnet',
  'alexnet_2012',
  'vgg11_lrn',
  'vgg16_c',
  'vgg19_bn',
  'googlenet',
  'googlenet_uvadl',
  'inception_v3',
  'inception_v3_keras',
]
WITH_AUX = {'googlenet_aux': 2, 'googlenet_2014': 2, 'inception_v3_aux': 1}


@pytest.mark.parametrize('name', NO_AUX + sorted(WITH_AUX))
def test_output_shapes(name):
  spec = get_spec(name)
  model = build(name, num_classes=spec.num_classes)
  logits = (2, spec.num_classes)
  assert model_stats.output_shape(model, spec.input_shape) == logits
  train_out = model_stats.output_shape(model, spec.input_shape, train=True)
  if name in WITH_AUX:
    # Training returns (logits, [aux logits, ...]); evaluation only logits.
    assert train_out == (logits, [logits] * WITH_AUX[name])
  else:
    assert train_out == logits


def test_lenet5_1998_fixed_prototypes():
  model = build('lenet5_1998', rbf_trainable=False)
  grads = model_checks.check_train_step(
    model, (28, 28, 1), allow_zero=('prototypes',)
  )
  assert not np.any(grads['rbf']['prototypes'])


def test_lenet5_1998_rbf_logits_are_negative_squared_distances():
  model = build('lenet5_1998')
  x = jax.random.normal(jax.random.key(0), (2, 28, 28, 1))
  variables = jax.jit(model.init)(jax.random.key(1), x)
  logits, state = jax.jit(
    functools.partial(
      model.apply, capture_intermediates=True, mutable=['intermediates']
    )
  )(variables, x)
  f6 = state['intermediates']['f6']['__call__'][0]
  f6 = lenet.lecun_tanh(f6)
  protos = variables['params']['rbf']['prototypes']
  assert set(np.unique(np.asarray(protos))) == {-1.0, 1.0}
  expected = -((f6[:, None, :] - protos[None]) ** 2).sum(-1)
  np.testing.assert_allclose(logits, expected, rtol=1e-5)


# --- Layers -----------------------------------------------------------------

# LeCun et al. 1998, Table I: rows are S2 maps, columns C3 maps, X = connected.
_TABLE_I = [
  'X...XXX..XXXX.XX',
  'XX...XXX..XXXX.X',
  'XXX...XXX..X.XXX',
  '.XXX..XXXX..X.XX',
  '..XXX..XXXX.XX.X',
  '...XXX..XXXX.XXX',
]


def test_c3_connection_table():
  expected = [
    tuple(r for r in range(6) if _TABLE_I[r][c] == 'X') for c in range(16)
  ]
  assert [tuple(sorted(t)) for t in lenet.C3_TABLE] == expected
  assert [len(t) for t in lenet.C3_TABLE] == [3] * 6 + [4] * 9 + [6]
  # Functionally: C3 map i depends on exactly the S2 maps of its column.
  conv = lenet.PartialConv(lenet.C3_TABLE)
  x = jax.random.normal(jax.random.key(0), (1, 10, 10, 6))
  params = jax.jit(conv.init)(jax.random.key(1), x)
  jac = jax.jit(jax.jacrev(lambda x: conv.apply(params, x).sum((0, 1, 2))))(x)
  assert jac.shape == (16, 1, 10, 10, 6)
  for i, inputs in enumerate(expected):
    touched = np.nonzero(np.abs(jac[i]).sum((0, 1, 2)))[0]
    assert tuple(int(c) for c in touched) == inputs, i


def _numpy_lrn(x, size, alpha, beta, k, alpha_over_size):
  out = np.empty_like(x)
  channels = x.shape[-1]
  a = alpha / size if alpha_over_size else alpha
  for c in range(channels):
    lo, hi = max(0, c - size // 2), min(channels, c + (size - 1) // 2 + 1)
    out[..., c] = x[..., c] / (k + a * (x[..., lo:hi] ** 2).sum(-1)) ** beta
  return out


@pytest.mark.parametrize(
  'size,alpha,beta,k,over',
  [
    (5, 1e-4, 0.75, 2.0, False),  # AlexNet paper.
    (5, 1e-2, 0.75, 1.0, True),  # PyTorch / Caffe form, a larger alpha.
    (4, 0.5, 0.5, 1.0, False),  # Even window: PyTorch puts the extra at front.
  ],
)
def test_local_response_norm(size, alpha, beta, k, over):
  x = np.random.default_rng(0).normal(0, 3, (2, 3, 3, 11)).astype(np.float32)
  lrn = layers.LocalResponseNorm(
    size=size, alpha=alpha, beta=beta, k=k, alpha_over_size=over
  )
  y = lrn.apply({}, jnp.asarray(x))
  np.testing.assert_allclose(
    y, _numpy_lrn(x, size, alpha, beta, k, over), rtol=1e-5, atol=1e-6
  )


@pytest.mark.parametrize(
  'in_size,out_size', [(14, 7), (13, 6), (5, 3), (2, 7), (1, 6), (10, 4)]
)
def test_adaptive_avg_pool_matches_torch_formula(in_size, out_size):
  x = np.random.default_rng(0).normal(size=(2, in_size, in_size + 1, 3))
  x = x.astype(np.float32)
  expected = np.empty((2, out_size, out_size, 3), np.float32)
  bounds = lambda i, n: (i * n // out_size, -(-(i + 1) * n // out_size))
  for i, j in itertools.product(range(out_size), repeat=2):
    (h0, h1), (w0, w1) = bounds(i, in_size), bounds(j, in_size + 1)
    expected[:, i, j] = x[:, h0:h1, w0:w1].mean((1, 2))
  np.testing.assert_allclose(
    alexnet.adaptive_avg_pool(jnp.asarray(x), out_size),
    expected,
    rtol=1e-5,
    atol=1e-6,
  )
