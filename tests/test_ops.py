"""cnn_jax.ops: the folded convolution and the CPU tuning settings."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnn_jax import models
from cnn_jax.ops import conv
from cnn_jax.ops import cpu_tuning

NHWC = ('NHWC', 'HWIO', 'NHWC')


@pytest.fixture
def folded():
  was = conv.ENABLED
  conv.enable(True)
  yield
  conv.enable(was)


@pytest.mark.parametrize('c,o,k,hw,pad', [
    (16, 16, 3, (12, 10), 'SAME'),     # CIFAR ResNet 16-channel stage.
    (3, 16, 3, (9, 9), 'SAME'),        # RGB stem, odd width.
    (1, 6, 5, (16, 16), 'VALID'),      # LeNet C1: fold 4.
    (6, 16, 5, (10, 10), 'VALID'),     # LeNet C3.
    (4, 8, 3, (7, 11), ((2, 0), (1, 3))),  # asymmetric explicit padding.
])
def test_folded_conv_and_its_gradients_equal_lax(folded, c, o, k, hw, pad):
  kx, kw_, kg = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(kx, (3, *hw, c))
  w = jax.random.normal(kw_, (k, k, c, o))
  assert conv.plan(x, w, (1, 1), pad, dimension_numbers=NHWC) is not None

  def ours(x, w):
    return conv.conv_general_dilated(x, w, (1, 1), pad,
                                     dimension_numbers=NHWC)

  def ref(x, w):
    return lax.conv_general_dilated(x, w, (1, 1), pad, dimension_numbers=NHWC,
                                    precision=lax.Precision.HIGHEST)

  y, y_ref = jax.jit(ours)(x, w), ref(x, w)
  assert y.shape == y_ref.shape
  np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4)
  g = jax.random.normal(kg, y.shape)
  grads = jax.jit(jax.grad(lambda x, w: jnp.sum(ours(x, w) * g), (0, 1)))(x, w)
  grads_ref = jax.grad(lambda x, w: jnp.sum(ref(x, w) * g), (0, 1))(x, w)
  for a, b in zip(grads, grads_ref):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)


def test_layers_that_do_not_qualify_take_lax(folded):
  x = jnp.ones((2, 8, 8, 16))
  # Strided, grouped, many-channel and off-switch cases: no plan.
  assert conv.plan(x, jnp.ones((3, 3, 16, 16)), (2, 2), 'SAME',
                   dimension_numbers=NHWC) is None
  assert conv.plan(x, jnp.ones((3, 3, 1, 16)), (1, 1), 'SAME',
                   dimension_numbers=NHWC, feature_group_count=16) is None
  assert conv.plan(x, jnp.ones((3, 3, 16, 32)), (1, 1), 'SAME',
                   dimension_numbers=NHWC) is None
  assert conv.plan(x.astype(jnp.bfloat16),
                   jnp.ones((3, 3, 16, 16), jnp.bfloat16), (1, 1), 'SAME',
                   dimension_numbers=NHWC) is None
  conv.enable(False)
  assert conv.plan(x, jnp.ones((3, 3, 16, 16)), (1, 1), 'SAME',
                   dimension_numbers=NHWC) is None


def test_fold_factor_rule():
  assert conv.fold_factor(16, 16, 3) == 2
  assert conv.fold_factor(1, 6, 5) == 4  # 4*6 > 16 with the least waste.
  assert conv.fold_factor(32, 16, 3) is None  # YNNPACK takes it as is.
  assert conv.fold_factor(16, 16, 1) is None


def test_resnet20_train_step_is_unchanged_by_the_folded_path(folded):
  """Same parameters and (to rounding) the same loss and gradients."""
  model = models.build('resnet20', num_classes=10)
  x = jax.random.normal(jax.random.key(1), (4, 32, 32, 3))
  variables = model.init({'params': jax.random.key(0)}, x, train=False)

  def loss(params):
    logits, _ = model.apply({**variables, 'params': params}, x, train=True,
                            mutable=['batch_stats'])
    return jnp.mean(jax.nn.log_softmax(logits)[:, 0])

  with_fold = jax.jit(jax.value_and_grad(loss))(variables['params'])
  conv.enable(False)
  plain = jax.jit(jax.value_and_grad(loss))(variables['params'])
  np.testing.assert_allclose(with_fold[0], plain[0], rtol=1e-5)
  # Per tensor, relative to its norm. A wiring error is O(1). Measured: each
  # fold alone changes the gradients by 2e-6, all seven together by up to
  # 2.3e-3 in the first layers (see cnn_jax/ops/conv.py, "Accuracy").
  for a, b in zip(jax.tree.leaves(with_fold[1]), jax.tree.leaves(plain[1])):
    assert np.linalg.norm(a - b) <= 1e-2 * np.linalg.norm(b)


def test_configure_sets_flags_without_overriding_the_users():
  env = {'XLA_FLAGS': '--xla_cpu_experimental_ynn_fusion_type=eltwise'}
  flags = cpu_tuning.configure(host_devices=4, tuning='auto', environ=env)
  assert '--xla_cpu_experimental_ynn_fusion_type=eltwise' in flags
  assert '--xla_force_host_platform_device_count=4' in flags
  assert '--xla_cpu_multi_thread_eigen=false' in flags
  assert env['XLA_FLAGS'] == flags
  assert cpu_tuning.configure(tuning='none', environ={}) == ''
  fast = cpu_tuning.configure(tuning='fast', environ={})
  assert fast == (f'{cpu_tuning.YNN_FUSION_FLAG}='
                  f'{cpu_tuning.FAST_YNN_TYPES}')
  assert cpu_tuning.configure(tuning='flags', environ={}) == fast
  with pytest.raises(ValueError, match='auto, fast, flags or none'):
    cpu_tuning.configure(tuning='turbo', environ={})


def test_configure_after_the_backend_started_says_so():
  jax.devices()  # starts the backend in this test process.
  with pytest.raises(RuntimeError, match='before JAX starts'):
    cpu_tuning.configure(host_devices=3)
