"""cnn_jax.ops.pool: max and average pooling in oneDNN on the CPU.

Every pass against Flax's pooling (``nn.max_pool``/``nn.avg_pool``, which
lower to XLA's ``reduce_window`` and its derivatives): forward, gradient,
forward-mode and second-order derivatives, under vmap and on 8 host devices
(a subprocess: the device count is fixed when JAX starts). Inputs are
random normals, so no window has a tie for its maximum and every output
depends on the input.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from cnn_jax import models
from cnn_jax.models import layers
from cnn_jax.ops import conv
from cnn_jax.ops import onednn
from cnn_jax.ops import pool

TARGETS = {name: target for name, (target, _) in onednn.POOL_TARGETS.items()}

needs_onednn = pytest.mark.skipif(
  not onednn.available(),
  reason='oneDNN library not built (bash setup.sh builds it)',
)

# (window, strides, padding): every kind of pooling the registered models use.
CASES = {
  'googlenet_branch_3x3_s1_pad1': ((3, 3), (1, 1), ((1, 1), (1, 1))),
  'resnet_stem_3x3_s2_pad1': ((3, 3), (2, 2), ((1, 1), (1, 1))),
  'inception_3x3_s2_valid': ((3, 3), (2, 2), 'VALID'),
  'lenet_densenet_2x2_s2': ((2, 2), (2, 2), 'VALID'),
  'nasnet_3x3_s2_same': ((3, 3), (2, 2), 'SAME'),
  'ceil_mode_3x3_s2_end_pad': ((3, 3), (2, 2), ((0, 1), (0, 1))),
  'aux_head_5x5_s3': ((5, 5), (3, 3), 'VALID'),
}
KINDS = ('max', 'avg', 'avg_exclude_pad')


def rel(a, b) -> float:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _ops(kind, window, strides, padding):
  """(ours, Flax's) for one pooling."""
  if kind == 'max':
    return (
      lambda x: pool.max_pool(x, window, strides, padding),
      lambda x: nn.max_pool(x, window, strides, padding),
    )
  include = kind == 'avg'
  return (
    lambda x: pool.avg_pool(x, window, strides, padding, include),
    lambda x: nn.avg_pool(
      x, window, strides, padding, count_include_pad=include
    ),
  )


def _value_and_grad(f):
  # sin: the cotangent differs per output element.
  return jax.value_and_grad(
    lambda x: jnp.sum(jnp.sin(f(x).astype(jnp.float32)))
  )


def _x(dtype=jnp.float32, shape=(3, 11, 13, 8)):
  return jax.random.normal(jax.random.key(0), shape).astype(dtype)


@needs_onednn
@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('case', sorted(CASES))
def test_forward_and_gradient_equal_flax_in_float32(case, kind):
  ours, ref = _ops(kind, *CASES[case])
  x = _x()
  y, y_ref = jax.jit(ours)(x), ref(x)
  (v, g), (v_ref, g_ref) = (
    jax.jit(_value_and_grad(ours))(x),
    _value_and_grad(ref)(x),
  )
  assert y.shape == y_ref.shape and y.dtype == jnp.float32
  if kind == 'max':  # a selection: exact.
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(g, g_ref)
  else:  # sums in another order.
    assert rel(y, y_ref) <= 1e-6 and rel(g, g_ref) <= 1e-6
  assert abs(float(v) - float(v_ref)) <= 1e-4 * abs(float(v_ref)) + 1e-5
  # The input matters: a changed input changes the output.
  assert not np.allclose(jax.jit(ours)(x + _x(shape=x.shape) ** 2), y)


@needs_onednn
@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize(
  'case', ['googlenet_branch_3x3_s1_pad1', 'nasnet_3x3_s2_same']
)
def test_bfloat16_stays_bfloat16_within_its_rounding(case, kind):
  ours, ref = _ops(kind, *CASES[case])
  x = _x(jnp.bfloat16)
  y, y_ref = jax.jit(ours)(x), ref(x)
  g, g_ref = (
    jax.jit(jax.grad(lambda x: jnp.sum(ours(x) * ours(x))))(x),
    jax.grad(lambda x: jnp.sum(ref(x) * ref(x)))(x),
  )
  assert y.dtype == g.dtype == jnp.bfloat16
  if kind == 'max':
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(g, g_ref)
  else:  # oneDNN averages in float32 and rounds once; XLA in bfloat16.
    assert rel(y, y_ref) <= 2.0**-7 and rel(g, g_ref) <= 2.0**-7


def _lowered(fn, *args) -> str:
  return jax.jit(fn).lower(*args).as_text()


@needs_onednn
def test_cpu_lowers_to_onednn_and_impl_xla_or_other_cases_to_flax():
  x = _x()
  for kind, used in (
    ('max', ('max_training', 'max_backward')),
    ('avg', ('forward', 'avg_backward')),
  ):
    ours, _ = _ops(kind, (3, 3), (2, 2), 'VALID')
    text = _lowered(_value_and_grad(ours), x)
    assert all(TARGETS[t] in text for t in used), kind
    assert 'reduce_window' not in text and 'select_and_scatter' not in text
    # Inference: the forward pass alone (max: no workspace).
    text = _lowered(ours, x)
    assert TARGETS['forward'] in text and TARGETS['max_training'] not in text
  # impl='xla' and what oneDNN does not take: Flax's reduce_window.
  xla = lambda x: pool.max_pool(x, (3, 3), (2, 2), impl='xla')
  others = [
    (xla, x),
    (lambda x: pool.max_pool(x, (3, 3), (1, 1), ((3, 3), (0, 0))), x),
    (lambda x: pool.max_pool(x, (3, 3), (1, 1)), x.astype(jnp.float16)),
    (lambda x: pool.avg_pool(x, (2,), (2,)), x[..., 0]),  # 1-D windows
    (lambda x: pool.max_pool(x, (16, 16), (1, 1)), _x(shape=(1, 16, 16, 2))),
  ]
  for f, a in others:
    text = _lowered(_value_and_grad(f), a)
    assert 'custom_call' not in text and 'reduce_window' in text
  with pytest.raises(ValueError, match='Unknown pooling impl'):
    pool.max_pool(x, (3, 3), (2, 2), impl='fast')


def test_other_platforms_lower_to_flax_pooling_only():
  """A GPU/TPU lowering is Flax's own pooling and derivatives: no custom call."""
  x = jax.ShapeDtypeStruct((2, 9, 9, 4), jnp.float32)

  def step(impl, kind):
    def f(x):
      if kind == 'max':
        p = lambda x: pool.max_pool(x, (3, 3), (2, 2), 'SAME', impl=impl)
      else:
        p = lambda x: pool.avg_pool(x, (3, 3), (2, 2), 'SAME', False, impl=impl)
      y, vjp = jax.vjp(p, x)
      return y, *vjp(y)

    return jax.jit(f)

  for kind in ('max', 'avg'):
    for platform in ('cuda', 'tpu'):
      ours = jax.export.export(step('auto', kind), platforms=[platform])(x)
      ref = jax.export.export(step('xla', kind), platforms=[platform])(x)
      text, ref_text = ours.mlir_module(), ref.mlir_module()
      assert 'custom_call' not in text
      # XLA's pooling, and for max pooling its gradient, as Flax's.
      ops = ['stablehlo.reduce_window']
      if kind == 'max':
        ops.append('stablehlo.select_and_scatter')
      for op in ops:
        assert op in text and op in ref_text, (kind, platform, op)


@needs_onednn
def test_eager_vmap_jvp_and_second_order_equal_flax():
  x = _x()
  xs = jax.random.normal(jax.random.key(1), (2, 3, 9, 9, 4))
  for kind in KINDS:
    ours, ref = _ops(kind, (3, 3), (2, 2), ((1, 1), (1, 1)))
    # Outside jit.
    assert rel(ours(x), ref(x)) <= 1e-6
    # vmap over groups of examples (ghost BatchNorm): folded into the batch.
    got = jax.jit(jax.vmap(_value_and_grad(ours)))(xs)
    want = jax.vmap(_value_and_grad(ref))(xs)
    for a, b in zip(got, want):
      assert rel(a, b) <= 1e-6, kind
    assert 'tensor<1x6x9x9x4xf32>' in _lowered(jax.vmap(ours), xs)
    # Forward mode, remat, and the derivative of the gradient (an HVP).
    t = jax.random.normal(jax.random.key(2), x.shape)
    assert (
      rel(jax.jvp(ours, (x,), (t,))[1], jax.jvp(ref, (x,), (t,))[1]) <= 1e-6
    )

    def loss(f):
      return lambda x: jnp.sum(jnp.tanh(f(x)) ** 2)

    got = jax.jit(jax.grad(jax.checkpoint(loss(ours))))(x)
    assert rel(got, jax.grad(loss(ref))(x)) <= 1e-6
    hvp = lambda f: jax.jvp(jax.grad(loss(f)), (x,), (t,))[1]
    assert rel(jax.jit(lambda x: hvp(ours))(x), hvp(ref)) <= 1e-5, kind


def test_layers_build_modules_that_inherit_conv_impl():
  x = _x(shape=(2, 8, 8, 3))

  class Net(nn.Module):
    @nn.compact
    def __call__(self, x):
      return layers.avg_pool(layers.max_pool(x, 3, 2, padding=1), 2, 2)

  # No variables: parameter trees and checkpoints are unchanged.
  assert Net().init(jax.random.key(0), x) == {}
  for impl, has_call in (('auto', onednn.available()), ('xla', False)):
    wrapped = conv.WithConvImpl(Net(), conv_impl=impl)
    text = _lowered(lambda x: wrapped.apply({}, x), x)
    assert ('custom_call' in text) == has_call, impl
    assert ('reduce_window' in text) != has_call, impl
  # Outside any module: the function alone.
  want = nn.max_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1)))
  np.testing.assert_array_equal(layers.max_pool(x, 3, 2, padding=1), want)


@needs_onednn
def test_googlenet_pools_in_onednn():
  """Every pooling of GoogLeNet (max pooling in each inception block) runs in
  oneDNN; its train step equals XLA's in test_ops."""
  images = jnp.ones((2, 32, 32, 3))
  model = models.build('googlenet_uvadl', num_classes=10)
  variables = model.init(jax.random.key(0), images[:1], train=False)
  text = _lowered(
    lambda v, x: model.apply(v, x, train=False), variables, images
  )
  assert TARGETS['forward'] in text and 'reduce_window' not in text


@needs_onednn
@pytest.mark.host_devices(8)
def test_eight_host_devices_keep_the_batch_sharded_and_equal_flax():
  assert len(jax.devices()) == 8
  mesh = Mesh(np.array(jax.devices()), ('data',))
  data = NamedSharding(mesh, P('data'))
  x = jax.device_put(jax.random.normal(jax.random.key(5), (16, 9, 9, 4)), data)
  for ours, ref in (
    (
      lambda x: pool.max_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1))),
      lambda x: nn.max_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1))),
    ),
    (
      lambda x: pool.avg_pool(x, (2, 2), (2, 2)),
      lambda x: nn.avg_pool(x, (2, 2), (2, 2)),
    ),
  ):
    loss = lambda f: lambda x: jnp.sum(jnp.sin(f(x)))  # noqa: E731
    f = jax.jit(jax.grad(loss(ours)), in_shardings=data, out_shardings=data)
    np.testing.assert_allclose(
      f(x), jax.grad(loss(ref))(x), rtol=1e-6, atol=1e-7
    )
    hlo = f.lower(x).compile().as_text()
    assert 'all-gather' not in hlo, hlo
    # One call per device, on its 2 examples.
    assert 'f32[1,2,9,9,4]{4,3,2,1,0} custom-call(' in hlo, hlo


@needs_onednn
def test_library_answers_pooling_queries():
  geometry = onednn.PoolGeometry(
    n=2, h=8, w=8, c=4, ho=4, wo=4, kh=2, kw=2, sh=2, sw=2,
    pt=0, pb=0, pl=0, pr=0,
  )  # fmt: skip
  impl, ws = onednn.pool_query(
    onednn.POOL_TRAINING, onednn.POOL_MAX, 'float32', geometry
  )
  assert impl and not impl.startswith('ref')
  assert ws == 2 * 4 * 4 * 4  # one byte per output element
  impl, ws = onednn.pool_query(
    onednn.POOL_FORWARD, onednn.POOL_AVG, 'float32', geometry
  )
  assert impl and ws == 0
