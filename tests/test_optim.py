"""Learning-rate schedules, optimizers and the weight-decay mask."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnn_jax.training import optim
from configs import base


def _config(**kw):
  c = base.get_config()
  for k, v in kw.items():
    setattr(c, k, v)
  return c


def test_multistep_schedule_drops_at_epoch_boundaries():
  c = _config(
    lr_schedule='multistep',
    learning_rate=0.1,
    lr_boundaries=(100, 150),
    lr_decay_factor=0.1,
  )
  f = optim.learning_rate_schedule(c, steps_per_epoch=10, total_steps=1800)
  assert float(f(999)) == pytest.approx(0.1)
  assert float(f(1000)) == pytest.approx(0.01)
  assert float(f(1499)) == pytest.approx(0.01)
  assert float(f(1500)) == pytest.approx(0.001)


def test_warmup_then_cosine_and_linear_scaling():
  c = _config(
    lr_schedule='cosine',
    learning_rate=0.1,
    warmup_epochs=5,
    lr_scaling_base_batch=256,
    batch_size=1024,
  )
  f = optim.learning_rate_schedule(c, steps_per_epoch=100, total_steps=9000)
  assert float(f(0)) == pytest.approx(0.0)
  assert float(f(250)) == pytest.approx(0.2)  # half of 0.4 during warmup
  assert float(f(500)) == pytest.approx(0.4)
  assert float(f(500 + 4250)) == pytest.approx(0.2, rel=1e-3)
  assert float(f(9000)) == pytest.approx(0.0, abs=1e-6)


def test_linear_schedule_reaches_zero_at_the_last_step():
  # The ShuffleNet authors' LambdaLR(1 - step / total_iters), here after a
  # warmup of 10 steps.
  c = _config(lr_schedule='linear', learning_rate=0.5, warmup_epochs=1)
  f = optim.learning_rate_schedule(c, steps_per_epoch=10, total_steps=110)
  assert float(f(10)) == pytest.approx(0.5)
  assert float(f(60)) == pytest.approx(0.25)
  assert float(f(109)) == pytest.approx(0.005)
  assert float(f(110)) == pytest.approx(0.0, abs=1e-7)


def test_warmup_can_start_from_a_fraction_of_the_lr():
  c = _config(lr_schedule='constant', learning_rate=0.5, warmup_epochs=5)
  c.warmup_start_factor = 0.01  # torchvision's --lr-warmup-decay
  f = optim.learning_rate_schedule(c, steps_per_epoch=100, total_steps=9000)
  assert float(f(0)) == pytest.approx(0.005)
  assert float(f(250)) == pytest.approx(0.005 + 0.5 * (0.5 - 0.005))
  assert float(f(500)) == pytest.approx(0.5)


def test_lr_per_epoch_is_torchvisions_epoch_stepped_schedule():
  # torchvision's RegNet recipe: LinearLR(start_factor=0.1, total_iters=5)
  # then CosineAnnealingLR(T_max=epochs - 5), both stepped once per epoch.
  c = _config(
    lr_schedule='cosine',
    learning_rate=0.8,
    warmup_epochs=5,
    warmup_start_factor=0.1,
    lr_per_epoch=True,
  )
  spe, epochs = 10, 100
  f = optim.learning_rate_schedule(c, spe, epochs * spe)
  for epoch in range(epochs):
    if epoch < 5:
      want = 0.8 * (0.1 + 0.9 * epoch / 5)
    else:
      want = 0.8 * (1 + np.cos(np.pi * (epoch - 5) / (epochs - 5))) / 2
    for step in (epoch * spe, epoch * spe + spe - 1):
      assert float(f(step)) == pytest.approx(want, rel=1e-5, abs=1e-7), step
  # Per step (the default) the lr moves within an epoch.
  c.lr_per_epoch = False
  g = optim.learning_rate_schedule(c, spe, epochs * spe)
  assert float(g(spe - 1)) > float(g(0))


def test_exponential_decay_staircase():
  c = _config(
    lr_schedule='exponential',
    learning_rate=0.016,
    lr_decay_factor=0.97,
    lr_decay_epochs=2.4,
  )
  f = optim.learning_rate_schedule(c, steps_per_epoch=10, total_steps=1000)
  assert float(f(23)) == pytest.approx(0.016)
  assert float(f(24)) == pytest.approx(0.016 * 0.97)


def test_unknown_schedule_and_optimizer():
  with pytest.raises(ValueError, match='constant, cosine, linear, multistep'):
    optim.learning_rate_schedule(_config(lr_schedule='poly'), 10, 100)
  with pytest.raises(ValueError, match='sgd, adam, adamw, rmsprop'):
    optim.make_optimizer(_config(optimizer='lamb'), lambda s: 0.1)


PARAMS = {
  'conv': {'kernel': jnp.ones((3, 3, 1, 2)), 'bias': jnp.ones(2)},
  'bn': {'scale': jnp.ones(2), 'bias': jnp.ones(2)},
}


@pytest.mark.parametrize('name', ['sgd', 'adam', 'adamw', 'rmsprop'])
def test_weight_decay_mask_spares_bn_and_biases(name):
  zero_grads = jax.tree.map(jnp.zeros_like, PARAMS)
  updates = {}
  for on_all in (True, False):
    c = _config(
      optimizer=name,
      weight_decay=0.1,
      momentum=0.0,
      weight_decay_on_bn_and_bias=on_all,
    )
    tx = optim.make_optimizer(c, optax.constant_schedule(0.1))
    updates[on_all], _ = tx.update(zero_grads, tx.init(PARAMS), PARAMS)
  # With zero gradients only weight decay moves the parameters.
  assert np.abs(updates[True]['conv']['kernel']).min() > 0
  assert np.abs(updates[False]['conv']['kernel']).min() > 0
  assert np.abs(updates[True]['bn']['scale']).min() > 0
  assert np.all(updates[False]['bn']['scale'] == 0)
  assert np.all(updates[False]['conv']['bias'] == 0)


@pytest.mark.parametrize('name', ['sgd', 'adamw'])
def test_norm_weight_decay_is_torchvisions(name):
  # torchvision's --norm-weight-decay: BatchNorm and LayerNorm parameters
  # decay by it, every other one (biases, ConvNeXt's layer scale) by
  # --weight-decay.
  params = {
    **PARAMS,
    'block': {
      'norm': {'scale': jnp.ones(2), 'bias': jnp.ones(2)},
      'pwconv1': {'kernel': jnp.ones((2, 2)), 'bias': jnp.ones(2)},
      'layer_scale': {'gamma': jnp.ones(2)},
    },
  }
  assert optim.norm_mask(params) == {
    'conv': {'kernel': False, 'bias': False},
    'bn': {'scale': True, 'bias': True},
    'block': {
      'norm': {'scale': True, 'bias': True},
      'pwconv1': {'kernel': False, 'bias': False},
      'layer_scale': {'gamma': False},
    },
  }
  c = _config(
    optimizer=name,
    momentum=0.0,
    weight_decay=0.1,
    norm_weight_decay=0.02,
    weight_decay_on_bn_and_bias=False,  # overridden
  )
  tx = optim.make_optimizer(c, optax.constant_schedule(0.1))
  zero_grads = jax.tree.map(jnp.zeros_like, params)
  updates, _ = tx.update(zero_grads, tx.init(params), params)
  # Zero gradients: the update is -lr * decay * p (SGD's L2, AdamW's
  # decoupled decay alike).
  want = jax.tree.map(
    lambda norm, p: -0.1 * (0.02 if norm else 0.1) * p,
    optim.norm_mask(params),
    params,
  )
  jax.tree.map(
    lambda u, w: np.testing.assert_allclose(u, w, rtol=1e-6), updates, want
  )


def test_gradient_clipping():
  c = _config(optimizer='sgd', momentum=0.0, grad_clip_norm=1.0)
  tx = optim.make_optimizer(c, optax.constant_schedule(1.0))
  grads = jax.tree.map(lambda p: 100 * jnp.ones_like(p), PARAMS)
  updates, _ = tx.update(grads, tx.init(PARAMS), PARAMS)
  assert float(optax.tree.norm(updates)) == pytest.approx(1.0, rel=1e-5)


def test_label_smoothing():
  from cnn_jax.training import train_step  # pylint: disable=g-import-not-at-top

  logits = jnp.array([[10.0, 0.0, 0.0]])
  hard = train_step.cross_entropy(logits, jnp.array([0]), 3, 0.0)
  smooth = train_step.cross_entropy(logits, jnp.array([0]), 3, 0.3)
  assert float(smooth[0]) > float(hard[0])
  # Smoothing 0.3 over 3 classes: targets (0.8, 0.1, 0.1).
  logp = jax.nn.log_softmax(logits)
  assert float(smooth[0]) == pytest.approx(
    -float(0.8 * logp[0, 0] + 0.1 * logp[0, 1] + 0.1 * logp[0, 2]), rel=1e-5
  )


@pytest.mark.parametrize('initial_scale', [0.0, 1.0])
def test_rmsprop_is_tensorflows_with_its_initial_mean_square(initial_scale):
  """TF 1's RMSPropOptimizer: ms = 0.9 ms + 0.1 g^2 from ms = 1, update
  lr * g / sqrt(ms + eps) (epsilon inside the root), momentum on that."""
  c = _config(
    optimizer='rmsprop',
    momentum=0.9,
    rmsprop_decay=0.9,
    rmsprop_eps=1e-3,
    rmsprop_initial_scale=initial_scale,
  )
  lr = 0.5
  tx = optim.make_optimizer(c, optax.constant_schedule(lr))
  params = {'w': jnp.zeros(3)}
  state = tx.init(params)
  ms, mom = np.full(3, initial_scale), np.zeros(3)
  for g in ([0.1, -2.0, 3.0], [0.5, 0.5, -1.0]):
    updates, state = tx.update({'w': jnp.asarray(g)}, state, params)
    ms = 0.9 * ms + 0.1 * np.square(g)
    mom = 0.9 * mom + lr * np.asarray(g) / np.sqrt(ms + 1e-3)
    np.testing.assert_allclose(updates['w'], -mom, rtol=1e-5)


def test_rmsprop_with_epsilon_outside_the_root_is_pytorchs():
  torch = pytest.importorskip('torch')
  c = _config(
    optimizer='rmsprop',
    momentum=0.9,
    rmsprop_decay=0.9,
    rmsprop_eps=0.0316,
    rmsprop_eps_in_sqrt=False,
  )
  tx = optim.make_optimizer(c, optax.constant_schedule(0.064))
  w = torch.zeros(3, requires_grad=True, dtype=torch.float64)
  ref = torch.optim.RMSprop([w], lr=0.064, alpha=0.9, eps=0.0316, momentum=0.9)
  params = {'w': jnp.zeros(3)}
  state = tx.init(params)
  for g in ([0.1, -2.0, 3.0], [0.5, 0.5, -1.0], [-0.2, 0.0, 4.0]):
    updates, state = tx.update({'w': jnp.asarray(g)}, state, params)
    params = optax.apply_updates(params, updates)
    w.grad = torch.tensor(g, dtype=torch.float64)
    ref.step()
    np.testing.assert_allclose(params['w'], w.detach().numpy(), rtol=1e-5)
