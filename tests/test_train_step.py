"""The jit-compiled train and eval steps over a device mesh."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnn_jax.training import sharding, train_step
from configs import base
from tests.tiny_models import TinyBNNet


def _batch(n=16, seed=0, hw=8):
  rng = np.random.default_rng(seed)
  return {
    'image': rng.normal(size=(n, hw, hw, 3)).astype(np.float32),
    'label': rng.integers(0, 10, n).astype(np.int32),
  }


def _setup(config, model=None, lr=0.1):
  model = model or TinyBNNet()
  mesh = sharding.make_mesh(config.num_devices)
  state = train_step.create_train_state(
    model, optax.sgd(lr, 0.9), (8, 8, 3), jax.random.key(0)
  )
  state = jax.device_put(state, sharding.replicated(mesh))
  train, evaluate = train_step.compile_steps(
    config, mesh, state, 10, lambda s: lr
  )
  return mesh, state, train, evaluate


def test_loss_goes_down_and_batch_stats_update():
  config = base.get_config()
  mesh, state, train, _ = _setup(config)
  batch = sharding.global_batch(_batch(), mesh)
  stats0 = jax.tree.map(np.asarray, state.batch_stats)
  losses = []
  for _ in range(20):
    state, metrics = train(state, batch)
    losses.append(float(metrics.compute()['loss']))
  assert losses[-1] < 0.5 * losses[0]
  assert int(state.step) == 20
  changed = jax.tree.map(
    lambda a, b: not np.allclose(a, b),
    stats0,
    jax.tree.map(np.asarray, state.batch_stats),
  )
  assert all(jax.tree.leaves(changed))


def test_aux_logits_add_weighted_loss():
  config = base.get_config()
  batch = _batch()
  losses = {}
  for weight in (0.0, 0.3):
    config.aux_loss_weight = weight
    mesh, state, train, evaluate = _setup(config, TinyBNNet(aux_head=True))
    state, metrics = train(state, sharding.global_batch(batch, mesh))
    losses[weight] = float(metrics.compute()['loss'])
    # Evaluation ignores the auxiliary head.
    ev = evaluate(
      state, sharding.global_batch({**batch, 'mask': np.ones(16, bool)}, mesh)
    )
    assert np.isfinite(float(ev.compute()['loss']))
  # Both heads start near log(10); the aux term adds about 0.3 * log(10).
  assert losses[0.3] - losses[0.0] == pytest.approx(0.3 * np.log(10), rel=0.2)


class _ProgressProbe(nn.Module):
  """Logits that carry the ``progress`` the train step passes: class 0's
  logit is raised by 100 x progress."""

  @nn.compact
  def __call__(self, x, train: bool = False, progress=1.0):
    logits = nn.Dense(10)(x.mean(axis=(1, 2)))
    return logits + 100.0 * progress * jax.nn.one_hot(0, 10)


def test_progress_is_step_over_total_steps_for_models_that_take_it():
  config = base.get_config()
  batch = _batch()
  batch['label'] = np.zeros_like(batch['label'])  # all class 0
  model = _ProgressProbe()
  mesh = sharding.make_mesh(config.num_devices)
  state = train_step.create_train_state(
    model, optax.sgd(0.0), (8, 8, 3), jax.random.key(0)
  )
  state = jax.device_put(state, sharding.replicated(mesh))
  train, _ = train_step.compile_steps(
    config, mesh, state, 10, lambda s: 0.0, total_steps=400
  )
  global_batch = sharding.global_batch(batch, mesh)
  losses = {}
  for step in (0, 40, 400):
    fresh = jax.tree.map(jnp.copy, state.replace(step=jnp.asarray(step)))
    _, metrics = train(fresh, global_batch)  # (the step donates its state)
    losses[step] = float(metrics.compute()['loss'])
  # Progress 0: the Dense layer's own logits (about log(10)); 0.1: class 0
  # ahead by ~10, loss ~10 * e^-10; 1: by 100, loss ~0.
  assert losses[0] == pytest.approx(np.log(10), rel=0.2)
  assert 1e-5 < losses[40] < 1e-3
  assert losses[400] < 1e-30
  assert train_step.registry.takes_progress(model)


def test_eval_step_masks_padding():
  config = base.get_config()
  mesh, state, _, evaluate = _setup(config)
  batch = _batch()
  full = evaluate(
    state, sharding.global_batch({**batch, 'mask': np.ones(16, bool)}, mesh)
  ).compute()
  # The last 6 rows replaced by junk but masked out: same metrics as 10 rows.
  junk = {k: v.copy() for k, v in batch.items()}
  junk['image'][10:] = 1e3
  junk['mask'] = np.arange(16) < 10
  part = evaluate(state, sharding.global_batch(junk, mesh))
  ten = evaluate(
    state,
    sharding.global_batch(
      {
        k: np.concatenate([v[:10]] * 2)[:16]
        if k != 'mask'
        else np.arange(16) < 10
        for k, v in {**batch, 'mask': None}.items()
      },
      mesh,
    ),
  )
  assert int(part.loss.count) == 10
  np.testing.assert_allclose(
    float(part.compute()['loss']), float(ten.compute()['loss']), rtol=1e-5
  )
  assert float(full['accuracy']) >= 0


def test_bfloat16_compute_keeps_float32_params():
  config = base.get_config()
  config.dtype = 'bfloat16'
  model = TinyBNNet(dtype=jnp.bfloat16)
  mesh, state, train, _ = _setup(config, model)
  state, metrics = train(state, sharding.global_batch(_batch(), mesh))
  assert np.isfinite(float(metrics.compute()['loss']))
  assert {x.dtype for x in jax.tree.leaves(state.params)} == {
    np.dtype('float32')
  }


def test_ghost_batch_norm_uses_group_statistics():
  config = base.get_config()
  batch = _batch(seed=3)
  batch['image'][:8] += 3.0  # two halves with different statistics
  results = {}
  for group in (0, 8):
    config.bn_group_size = group
    mesh, state, train, _ = _setup(config)
    state, metrics = train(state, sharding.global_batch(batch, mesh))
    results[group] = (
      float(metrics.compute()['loss']),
      jax.tree.map(np.asarray, state.batch_stats),
    )
  assert results[0][0] != pytest.approx(results[8][0], rel=1e-4)
  # Running means: the mean of the groups' means equals the global mean.
  np.testing.assert_allclose(
    results[0][1]['ConvBNAct_0']['bn']['mean'],
    results[8][1]['ConvBNAct_0']['bn']['mean'],
    rtol=1e-4,
    atol=1e-6,
  )


@pytest.mark.host_devices(8, timeout=300)
def test_eight_devices_match_one_device():
  assert jax.device_count() == 8, jax.devices()
  rng = np.random.default_rng(0)
  batches = [
    {
      'image': rng.normal(size=(32, 8, 8, 3)).astype(np.float32),
      'label': rng.integers(0, 10, 32).astype(np.int32),
    }
    for _ in range(3)
  ]
  out = {}
  for n in (1, 8):
    config = base.get_config()
    config.num_devices = n
    mesh = sharding.make_mesh(n)
    state = train_step.create_train_state(
      TinyBNNet(), optax.sgd(0.1, 0.9), (8, 8, 3), jax.random.key(0)
    )
    state = jax.device_put(state, sharding.replicated(mesh))
    train, _ = train_step.compile_steps(config, mesh, state, 10, lambda s: 0.1)
    for b in batches:
      gb = sharding.global_batch(b, mesh)
      assert len(gb['image'].sharding.device_set) == n
      state, m = train(state, gb)
    out[n] = (
      float(m.compute()['loss']),
      jax.tree.map(np.asarray, (state.params, state.batch_stats)),
    )
  np.testing.assert_allclose(out[1][0], out[8][0], rtol=1e-5)
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
    out[1][1],
    out[8][1],
  )
  with pytest.raises(ValueError) as e:
    sharding.check_batch_divides(36, sharding.make_mesh(8), 'batch_size')
  assert (
    'does not divide over the 8 devices of the mesh; use a multiple '
    'of 8 (e.g. 40)'
  ) in str(e.value)


def test_batch_must_divide_over_devices():
  mesh = sharding.make_mesh()
  n = mesh.devices.size
  sharding.check_batch_divides(8 * n, mesh, 'batch_size')
  if n > 1:
    with pytest.raises(ValueError, match='does not divide'):
      sharding.check_batch_divides(8 * n + 1, mesh, 'batch_size')
  with pytest.raises(ValueError, match='devices are visible'):
    sharding.make_mesh(n + 1)
