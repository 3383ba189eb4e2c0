"""Training recipes: EMA, gradient accumulation, mixup / CutMix, random
erasing."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnn_jax import config_validation, models
from cnn_jax.data import batch_augment
from cnn_jax.training import checkpointing, sharding, train_step, trainer
from configs import base, lenet5_fashion_mnist
from tests.tiny_models import TinyBNNet


def _batch(n=16, seed=0, hw=8, channels=3):
  rng = np.random.default_rng(seed)
  return {
    'image': rng.normal(size=(n, hw, hw, channels)).astype(np.float32),
    'label': rng.integers(0, 10, n).astype(np.int32),
  }


def _compiled(config, model, input_shape, lr=0.1):
  mesh = sharding.make_mesh(config.num_devices)
  state = train_step.create_train_state(
    model,
    optax.sgd(lr, 0.9),
    input_shape,
    jax.random.key(0),
    ema=config.ema_decay is not None,
  )
  state = jax.device_put(state, sharding.replicated(mesh))
  train, evaluate = train_step.compile_steps(
    config, mesh, state, 10, lambda s: lr
  )
  return mesh, state, train, evaluate


def _host(tree):
  return jax.tree.map(lambda x: np.array(x, np.float64), tree)


def _hand_ema(warmup):
  config = base.get_config()
  config.ema_decay, config.ema_warmup = 0.8, warmup
  mesh, state, train, _ = _compiled(config, TinyBNNet(), (8, 8, 3))
  assert state.has_ema
  expected = _host({'p': state.params, 'b': state.batch_stats})
  jax.tree.map(
    np.testing.assert_array_equal,
    expected,
    _host({'p': state.ema_params, 'b': state.ema_batch_stats}),
  )
  decays = []
  for step in range(4):
    state, _ = train(state, sharding.global_batch(_batch(seed=step), mesh))
    d = min(0.8, (1 + step) / (10 + step)) if warmup else 0.8
    decays.append(d)
    new = _host({'p': state.params, 'b': state.batch_stats})
    expected = jax.tree.map(lambda e, w: d * e + (1 - d) * w, expected, new)
    jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
      _host({'p': state.ema_params, 'b': state.ema_batch_stats}),
      expected,
    )
  # The averages lag: they are neither the raw weights nor the initial ones.
  raw = jax.tree.leaves(_host(state.params))
  ema = jax.tree.leaves(_host(state.ema_params))
  assert any(not np.allclose(a, b) for a, b in zip(raw, ema))
  return decays


def test_ema_equals_a_hand_computed_average():
  assert _hand_ema(warmup=False) == [0.8] * 4


def test_ema_warmup_starts_with_small_decays():
  assert _hand_ema(warmup=True) == [0.1, 2 / 11, 3 / 12, 4 / 13]


def test_ema_every_n_steps_restarting_in_warmup_as_torchvision():
  # torchvision's --model-ema-steps 2 with 3 steps of lr warmup: updates at
  # steps 0, 2, 4, 6; the average is a copy of the weights at the updates
  # during the warmup (0, 2) and at the first after it (4).
  config = base.get_config()
  config.ema_decay, config.ema_every_steps = 0.8, 2
  config.ema_reset_in_warmup, config.warmup_epochs = True, 1.0
  mesh = sharding.make_mesh(config.num_devices)
  state = train_step.create_train_state(
    TinyBNNet(), optax.sgd(0.1, 0.9), (8, 8, 3), jax.random.key(0), ema=True
  )
  state = jax.device_put(state, sharding.replicated(mesh))
  train, _ = train_step.compile_steps(
    config, mesh, state, 10, lambda s: 0.1, steps_per_epoch=3
  )
  expected = _host({'p': state.params, 'b': state.batch_stats})
  for step in range(8):
    state, _ = train(state, sharding.global_batch(_batch(seed=step), mesh))
    d = {0: 0.0, 2: 0.0, 4: 0.0, 6: 0.8}.get(step, 1.0)
    new = _host({'p': state.params, 'b': state.batch_stats})
    expected = jax.tree.map(lambda e, w: d * e + (1 - d) * w, expected, new)
    jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
      _host({'p': state.ema_params, 'b': state.ema_batch_stats}),
      expected,
    )
  assert any(  # the last update averaged: not a copy of the weights.
    not np.allclose(a, b)
    for a, b in zip(
      jax.tree.leaves(_host(state.ema_params)),
      jax.tree.leaves(_host(state.params)),
    )
  )


def test_torchvision_ema_is_its_reference_scripts():
  from configs import imagenet  # pylint: disable=g-import-not-at-top

  c = imagenet.torchvision_v2(imagenet.get_config('resnet50'))
  # adjust = world_size * batch_size * model_ema_steps / epochs;
  # alpha = (1 - model_ema_decay) * adjust.
  assert c.ema_decay == pytest.approx(1 - 2e-5 * 1024 * 32 / 600)
  assert (c.ema_every_steps, c.ema_reset_in_warmup, c.ema_warmup) == (
    32,
    True,
    False,
  )
  assert config_validation.problems(c) == []


def test_ema_off_keeps_no_averages():
  config = base.get_config()
  mesh, state, train, _ = _compiled(config, TinyBNNet(), (8, 8, 3))
  state, _ = train(state, sharding.global_batch(_batch(), mesh))
  assert not state.has_ema and state.ema_batch_stats is None


def _one_step(grad_accum_steps, model, shape, n=32):
  config = base.get_config()
  config.grad_accum_steps = grad_accum_steps
  mesh, state, train, _ = _compiled(config, model, shape)
  batch = _batch(n=n, hw=shape[0], channels=shape[2])
  state, metrics = train(state, sharding.global_batch(batch, mesh))
  return state, metrics.compute()


def test_accumulation_equals_the_big_batch_without_batch_norm():
  model = models.build('lenet5', num_classes=10)
  big, big_metrics = _one_step(1, model, (28, 28, 1))
  for k in (2, 4):
    acc, acc_metrics = _one_step(k, model, (28, 28, 1))
    np.testing.assert_allclose(
      float(acc_metrics['loss']), float(big_metrics['loss']), rtol=1e-6
    )
    assert float(acc_metrics['accuracy']) == float(big_metrics['accuracy'])
    # SGD from the same start: the updated params (and momentum, the
    # gradient itself) equal the big batch's.
    jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
      _host(acc.params),
      _host(big.params),
    )
    jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
      _host(acc.opt_state),
      _host(big.opt_state),
    )
    assert int(acc.step) == int(big.step) == 1


def test_accumulation_uses_micro_batch_statistics_with_batch_norm():
  """With BatchNorm the running averages move once per micro-batch."""
  big, _ = _one_step(1, TinyBNNet(), (8, 8, 3))
  acc, _ = _one_step(4, TinyBNNet(), (8, 8, 3))
  b = jax.tree.leaves(_host(big.batch_stats))
  a = jax.tree.leaves(_host(acc.batch_stats))
  assert all(not np.allclose(x, y) for x, y in zip(a, b))


def test_accumulation_must_divide_the_batch():
  config = base.get_config()
  config.batch_size, config.grad_accum_steps = 64, 3
  problems = config_validation.problems(config)
  assert any('grad_accum_steps=3 does not divide' in p for p in problems)


def _short_run(**overrides):
  c = lenet5_fashion_mnist.get_config()
  settings = dict(
    input_pipeline='device',
    lr_schedule='constant',
    dataset='synthetic',
    synthetic_shape=(28, 28, 1),
    synthetic_examples=1_700,
    validation_examples=100,
    batch_size=64,
    eval_batch_size=100,
    eval_every_epochs=1.0,
    log_every_steps=50,
    checkpoint_every_steps=1000,
    ema_decay=0.9,
  )
  for k, v in {**settings, **overrides}.items():
    setattr(c, k, v)
  return c


def test_ema_run_resumes_exactly_and_keeps_the_better_weights(tmp_path):
  """60 steps in one go = 25 steps, stop, 35 more, with an EMA."""
  straight_dir = str(tmp_path / 'straight')
  straight = trainer.train_and_evaluate(
    _short_run(num_train_steps=60), straight_dir
  )
  for split in ('validation', 'test'):
    assert {'accuracy', 'ema_accuracy', 'ema_loss'} <= set(straight[split])
  resumed_dir = str(tmp_path / 'resumed')
  trainer.train_and_evaluate(_short_run(num_train_steps=25), resumed_dir)
  resumed = trainer.train_and_evaluate(
    _short_run(num_train_steps=60), resumed_dir
  )
  assert resumed['step'] == 60
  assert resumed['validation'] == straight['validation']
  assert resumed['test'] == straight['test']
  trees = []
  for d in (straight_dir, resumed_dir):
    checkpointer = checkpointing.Checkpointer(d)
    manager = checkpointer.latest
    step = manager.latest_step()
    trees.append(manager.restore(step))
    checkpointer.close()
  assert 'ema' in trees[0]
  jax.tree.map(np.testing.assert_array_equal, *trees)

  # best/ records which weights won; init_from / predict read those.
  checkpointer = checkpointing.Checkpointer(straight_dir)
  step = checkpointer.best.best_step()
  weights = checkpointing.saved_weights(checkpointer.best, step)
  tree = checkpointer.best.restore(step)
  checkpointer.close()
  assert weights in ('raw', 'ema')
  loaded = checkpointing.load_variables(straight_dir)
  kept = tree['ema'] if weights == 'ema' else tree
  jax.tree.map(np.testing.assert_array_equal, loaded['params'], kept['params'])


def test_best_weights_picks_the_better_of_raw_and_ema():
  assert trainer.best_weights({'accuracy': 0.5}) == ('raw', 0.5)
  assert trainer.best_weights({'accuracy': 0.5, 'ema_accuracy': 0.6}) == (
    'ema',
    0.6,
  )
  assert trainer.best_weights({'accuracy': 0.6, 'ema_accuracy': 0.6}) == (
    'raw',
    0.6,
  )


def test_a_best_checkpoint_of_ema_weights_is_read_as_those(tmp_path):
  from cnn_jax.inference import predictor

  model = TinyBNNet()
  state = train_step.create_train_state(
    model, optax.sgd(0.1), (8, 8, 3), jax.random.key(0), ema=True
  )
  state = state.replace(
    ema_params=jax.tree.map(lambda x: x + 1.0, state.params),
    ema_batch_stats=jax.tree.map(lambda x: x + 2.0, state.batch_stats),
  )
  checkpointer = checkpointing.Checkpointer(str(tmp_path))
  assert checkpointer.save_if_best(state, 3, 0.5, 'ema')
  checkpointer.wait()
  checkpointer.close()
  expected = {'params': state.ema_params, 'batch_stats': state.ema_batch_stats}
  loaded = checkpointing.load_variables(str(tmp_path))
  jax.tree.map(np.testing.assert_array_equal, loaded, _host(expected))
  restored = predictor.restore_variables(
    str(tmp_path / 'best'), 3, model, (8, 8, 3)
  )
  jax.tree.map(np.testing.assert_array_equal, restored, _host(expected))


# --- mixup / CutMix / random erasing ------------------------------------


def _images(n=8, h=32, w=32, seed=0):
  return jnp.asarray(
    np.random.default_rng(seed).normal(size=(n, h, w, 3)), jnp.float32
  )


def _mix(seeds, images, labels, **kw):
  """mix_batch for each seed, in one compiled call: lists of its outputs."""
  settings = dict(
    num_classes=10, mixup_alpha=None, cutmix_alpha=None, label_smoothing=0.0
  )
  settings.update(kw)
  keys = jax.vmap(jax.random.key)(jnp.asarray(seeds))
  outs = jax.jit(
    jax.vmap(lambda k: batch_augment.mix_batch(images, labels, k, **settings))
  )(keys)
  outs = [np.asarray(o) for o in outs]
  return [tuple(o[i] for o in outs) for i in range(len(seeds))]


def test_mixup_blends_the_batch_with_its_reverse_by_one_lam():
  images, labels = _images(), jnp.arange(8) % 10
  lams = []
  for out, targets, lam, cut in _mix(
    range(200), images, labels, mixup_alpha=0.2
  ):
    lam = float(lam)
    lams.append(lam)
    assert not bool(cut)
    np.testing.assert_allclose(
      out, lam * images + (1 - lam) * images[::-1], rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(np.sum(targets, -1), 1.0, rtol=1e-6)
    # Label mass: lam on the own class, 1 - lam on the partner's.
    own = np.asarray(targets)[np.arange(8), np.asarray(labels)]
    partner = np.asarray(targets)[np.arange(8), np.asarray(labels)[::-1]]
    np.testing.assert_allclose(own, lam, rtol=1e-5)
    np.testing.assert_allclose(partner, 1 - lam, rtol=1e-5)
  # Beta(0.2, 0.2): mean 1/2, variance 1 / (4 (2 alpha + 1)) = 0.1786.
  assert abs(np.mean(lams) - 0.5) < 0.08
  assert abs(np.var(lams) - 0.25 / 1.4) < 0.04
  assert len(set(lams)) > 150


def test_cutmix_pastes_a_box_whose_area_is_the_corrected_lam():
  images, labels = _images(), jnp.arange(8) % 10
  seen_partial = 0
  for out, targets, lam, cut in _mix(
    range(50), images, labels, cutmix_alpha=1.0
  ):
    assert bool(cut)
    from_partner = np.all(out == np.asarray(images)[::-1], axis=-1)
    own = np.all(out == np.asarray(images), axis=-1)
    assert np.all(from_partner | own)
    pasted = from_partner[0].mean()  # the same box in every example
    assert np.all(from_partner.mean(axis=(1, 2)) == pasted)
    np.testing.assert_allclose(float(lam), 1 - pasted, atol=1e-6)
    np.testing.assert_allclose(np.sum(targets, -1), 1.0, rtol=1e-6)
    seen_partial += 0 < pasted < 1
    if pasted > 0:  # a rectangle
      rows, cols = np.nonzero(from_partner[0])
      assert len(rows) == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
  assert seen_partial > 40


def test_label_smoothing_is_applied_before_mixing():
  images, labels = _images(), jnp.arange(8) % 10
  _, targets, lam, _ = _mix(
    [3], images, labels, mixup_alpha=1.0, label_smoothing=0.1
  )[0]
  lam = float(lam)
  t = np.asarray(targets)
  np.testing.assert_allclose(t.sum(-1), 1.0, rtol=1e-6)
  own = t[np.arange(8), np.asarray(labels)]
  np.testing.assert_allclose(own, lam * 0.91 + (1 - lam) * 0.01, rtol=1e-5)
  others = np.ones_like(t, bool)
  others[np.arange(8), np.asarray(labels)] = False
  others[np.arange(8), np.asarray(labels)[::-1]] = False
  np.testing.assert_allclose(t[others], 0.01, rtol=1e-5)


def test_mix_prob_zero_leaves_the_batch_and_one_hot_targets():
  images, labels = _images(), jnp.arange(8) % 10
  out, targets, lam, _ = _mix(
    [0],
    images,
    labels,
    mixup_alpha=1.0,
    cutmix_alpha=1.0,
    mix_prob=0.0,
  )[0]
  assert float(lam) == 1.0
  np.testing.assert_array_equal(out, images)
  np.testing.assert_array_equal(targets, jax.nn.one_hot(labels, 10))


def test_switch_prob_picks_cutmix_that_often():
  images, labels = _images(n=2, h=8, w=8), jnp.arange(2)
  cuts = [
    bool(cut)
    for _, _, _, cut in _mix(
      range(400),
      images,
      labels,
      mixup_alpha=1.0,
      cutmix_alpha=1.0,
      switch_prob=0.25,
    )
  ]
  assert abs(np.mean(cuts) - 0.25) < 0.07


def test_random_erasing_area_range_determinism_and_off():
  images = jnp.ones((64, 40, 40, 3), jnp.float32)
  key = jax.random.key(1)
  erase = jax.jit(lambda x, k: batch_augment.erase_batch(x, k, 1.0, 'const'))
  out = np.asarray(erase(images, key))
  np.testing.assert_array_equal(out, np.asarray(erase(images, key)))
  assert not np.array_equal(out, np.asarray(erase(images, jax.random.key(2))))
  zeros = np.all(out == 0, axis=-1)
  areas = zeros.mean(axis=(1, 2))
  erased = areas > 0
  assert erased.mean() > 0.9  # up to 10 tries for a box that fits
  # 2%..1/3 of the area, up to the rounding of the box's sides.
  assert areas[erased].min() >= 0.015 and areas[erased].max() <= 0.36
  for z in zeros[erased]:
    rows, cols = np.nonzero(z)
    assert len(rows) == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
  # Different boxes for different examples.
  assert len({a for a in areas}) > 10
  # Probability 0: identity; 'pixel' fills with noise, not zeros.
  np.testing.assert_array_equal(
    batch_augment.erase_batch(images, key, 0.0, 'pixel'), images
  )
  noisy = np.asarray(batch_augment.erase_batch(images, key, 1.0, 'pixel'))
  changed = noisy != 1.0
  assert 0 < changed.mean() < 0.4 and np.std(noisy[changed]) > 0.5


def test_recipe_transform_is_off_by_default_and_smoothing_moves_to_it():
  config = base.get_config()
  assert batch_augment.make_recipe_transform(config, 10) is None
  config.mixup_alpha, config.label_smoothing = 0.2, 0.1
  transform = batch_augment.make_recipe_transform(config, 10)
  images, labels = _images(), jnp.arange(8) % 10
  _, targets = transform(images, labels, jax.random.key(0))
  assert targets.shape == (8, 10)
  assert float(jnp.min(targets)) >= 0.01 - 1e-6


def test_mixup_cutmix_erasing_run_resumes_exactly(tmp_path):
  recipe = dict(
    ema_decay=None,
    mixup_alpha=0.2,
    cutmix_alpha=1.0,
    random_erasing=0.25,
    label_smoothing=0.1,
    grad_accum_steps=2,
    aug_repeats=3,
  )
  straight = trainer.train_and_evaluate(
    _short_run(num_train_steps=60, **recipe), str(tmp_path / 'a')
  )
  trainer.train_and_evaluate(
    _short_run(num_train_steps=25, **recipe), str(tmp_path / 'b')
  )
  resumed = trainer.train_and_evaluate(
    _short_run(num_train_steps=60, **recipe), str(tmp_path / 'b')
  )
  assert resumed['validation'] == straight['validation']
  assert resumed['test'] == straight['test']


def test_eval_image_size_evaluates_at_another_size():
  from cnn_jax.data import device_augment, inputs, pipeline

  config = base.get_config()
  config.dataset, config.synthetic_examples = 'synthetic', 64
  config.synthetic_shape, config.validation_examples = (40, 40, 3), 16
  config.image_size, config.eval_image_size = 24, 32
  config.eval_batch_size, config.batch_size = 12, 8
  info = pipeline.get_info(config)
  # The tf.data path: the host hands over the stored 40x40 images, the
  # train step's transforms resize them.
  feed = inputs.TFDataPipeline(config, info, sharding.make_mesh(1))
  shapes = {b['image'].shape for b in feed.eval_batches('validation')}
  assert shapes == {(12, 32, 32, 3)}  # padding rows too
  train = next(feed.train_batches(0))
  x, _ = feed.batch_transform(train['image'], train['label'], jax.random.key(0))
  assert x.shape[1:] == (24, 24, 3)
  images = jnp.zeros((2, 40, 40, 3), jnp.uint8)
  assert device_augment.make_eval_transform(config, info)(images).shape == (
    2,
    32,
    32,
    3,
  )


@pytest.mark.parametrize('input_pipeline', ['tfdata', 'device'])
def test_v2_recipe_run_resumes_exactly(tmp_path, input_pipeline):
  """The V2-style recipe on either input path: TrivialAugmentWide, random
  erasing, mixup / CutMix, EMA; 30 steps straight = 12, stop, 18 more."""
  if input_pipeline == 'tfdata':
    pytest.importorskip('tensorflow')
  recipe = dict(
    input_pipeline=input_pipeline,
    auto_augment='trivialaugment',
    random_erasing=0.25,
    mixup_alpha=0.2,
    cutmix_alpha=1.0,
    label_smoothing=0.1,
    ema_decay=0.9,
    ema_warmup=True,
    synthetic_examples=800,
    shuffle_buffer=1000,
    aug_repeats=2,
  )
  straight = trainer.train_and_evaluate(
    _short_run(num_train_steps=30, **recipe), str(tmp_path / 'a')
  )
  first = trainer.train_and_evaluate(
    _short_run(num_train_steps=12, **recipe), str(tmp_path / 'b')
  )
  assert first['step'] == 12 and first['steps_per_epoch'] == 10
  resumed = trainer.train_and_evaluate(
    _short_run(num_train_steps=30, **recipe), str(tmp_path / 'b')
  )
  assert resumed['validation'] == straight['validation']
  assert resumed['test'] == straight['test']
  assert 'ema_accuracy' in resumed['test']
