"""Two pieces of the ShuffleNet authors' recipe: ``color_jitter``
(torchvision's ColorJitter) and ``precise_bn_steps`` (BatchNorm statistics
recomputed with the final weights)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnn_jax import config_validation
from cnn_jax.data import device_augment, pipeline
from cnn_jax.models import layers
from cnn_jax.training import precise_bn, sharding, train_step, trainer
from configs import base


def _jitter(image_u8, key, strength):
  x = jnp.asarray(image_u8, jnp.float32) / 255.0
  fn = jax.jit(device_augment.color_jitter, static_argnums=2)
  return np.round(np.asarray(fn(x, key, strength)) * 255.0)


def test_color_jitter_is_pils_enhance_in_the_drawn_order():
  from PIL import Image, ImageEnhance  # pylint: disable=g-import-not-at-top

  image = np.random.default_rng(0).integers(0, 256, (24, 24, 3), np.uint8)
  for seed in range(3):
    key = jax.random.key(seed)
    out = _jitter(image, key, 0.4)
    # The draws color_jitter makes from its key: an order, three factors.
    order_key, factor_key = jax.random.split(key)
    order = np.asarray(jax.random.permutation(order_key, 3))
    factors = np.asarray(jax.random.uniform(factor_key, (3,), None, 0.6, 1.4))
    pil = Image.fromarray(image)
    enhance = (
      ImageEnhance.Brightness,
      ImageEnhance.Contrast,
      ImageEnhance.Color,
    )
    for i in order:  # torchvision's ColorJitter on a PIL image
      pil = enhance[i](pil).enhance(float(factors[i]))
    diff = np.abs(out - np.asarray(pil, np.float32))
    # PIL's grayscale is rounded to integers: a level, at most, per op.
    assert diff.max() <= 2 and diff.mean() < 0.3, (seed, diff.max())
    assert np.abs(out - image).mean() > 3  # it did change the image


def test_color_jitter_strength_zero_and_grayscale_saturation():
  image = np.random.default_rng(1).integers(0, 256, (8, 8, 3), np.uint8)
  np.testing.assert_array_equal(_jitter(image, jax.random.key(0), 0.0), image)
  gray = image[..., :1]
  # A one-channel image has no saturation: only brightness and contrast.
  out = _jitter(gray, jax.random.key(2), 0.4)
  assert out.shape == gray.shape


def test_color_jitter_runs_in_the_train_transform_with_its_own_key():
  config = base.get_config()
  config.dataset, config.synthetic_shape = 'synthetic', (16, 16, 3)
  info = pipeline.get_info(config)
  images = np.random.default_rng(2).integers(0, 256, (4, 16, 16, 3), np.uint8)
  labels = jnp.zeros(4, jnp.int32)
  plain = device_augment.make_train_transform(config, info)
  config.color_jitter = 0.4
  assert config_validation.problems(config) == []
  jitter = jax.jit(device_augment.make_train_transform(config, info))
  key = jax.random.key(0)
  a, _ = jitter(images, labels, key)
  b, _ = jitter(images, labels, key)
  np.testing.assert_array_equal(a, b)  # a function of the key
  c, _ = plain(images, labels, key)
  assert not np.allclose(a, c)
  config.color_jitter = -0.1
  assert any('color_jitter' in p for p in config_validation.problems(config))


class _TwoBN(nn.Module):
  @nn.compact
  def __call__(self, x, train: bool = False):
    x = layers.ConvBNAct(8, 3)(x, train)
    return layers.global_avg_pool(layers.ConvBNAct(4, 3, 2, act=None)(x, train))


@pytest.fixture(scope='module')
def two_bn():
  model = _TwoBN()
  state = train_step.create_train_state(
    model, optax.sgd(0.1), (8, 8, 3), jax.random.key(0)
  )
  return model, state, sharding.make_mesh(None)


def _batch(seed):
  rng = np.random.default_rng(seed)
  return {
    'image': jnp.asarray(rng.normal(1.0, 2.0, (16, 8, 8, 3)), jnp.float32),
    'label': jnp.zeros(16, jnp.int32),
  }


def test_precise_bn_on_one_batch_makes_eval_mode_equal_training_mode(two_bn):
  model, state, mesh = two_bn
  batch = _batch(0)
  new = precise_bn.recalibrate(state, iter([batch]), 1, mesh)
  jax.tree.map(np.testing.assert_array_equal, new.params, state.params)
  train, _ = model.apply(
    {'params': state.params, 'batch_stats': state.batch_stats},
    batch['image'],
    train=True,
    mutable=['batch_stats'],
  )
  evaluated = model.apply(
    {'params': new.params, 'batch_stats': new.batch_stats},
    batch['image'],
    train=False,
  )
  # The fresh running statistics (mean 0, variance 1) gave another function.
  before = model.apply(
    {'params': state.params, 'batch_stats': state.batch_stats},
    batch['image'],
    train=False,
  )
  np.testing.assert_allclose(evaluated, train, rtol=1e-4, atol=1e-5)
  assert not np.allclose(before, train, rtol=1e-2)


def test_precise_bn_averages_the_batches_and_skips_models_without_bn(two_bn):
  _, state, mesh = two_bn
  one = [
    precise_bn.recalibrate(state, iter([_batch(s)]), 1, mesh).batch_stats
    for s in (0, 1)
  ]
  both = precise_bn.recalibrate(state, iter([_batch(0), _batch(1)]), 2, mesh)
  jax.tree.map(
    lambda a, b, c: np.testing.assert_allclose(c, (a + b) / 2, rtol=1e-6),
    *one,
    both.batch_stats,
  )
  no_bn = layers.ConvBNAct(4, 3, use_bn=False)
  plain = train_step.create_train_state(
    no_bn, optax.sgd(0.1), (8, 8, 3), jax.random.key(0)
  )
  assert precise_bn.recalibrate(plain, iter([]), 10, mesh) is plain


@pytest.mark.slow
def test_trainer_recomputes_the_statistics_after_the_last_step(tmp_path):
  """A short run with ``precise_bn_steps``: the same weights as without it,
  and the BatchNorm statistics of ``recalibrate`` on the run's stream."""
  from cnn_jax.training import checkpointing  # pylint: disable=g-import-not-at-top

  def config(**overrides):
    c = base.get_config()
    settings = dict(
      model='resnet20',
      dataset='synthetic',
      synthetic_shape=(16, 16, 3),
      synthetic_examples=600,
      validation_examples=100,
      input_pipeline='device',
      augment='flip',
      batch_size=50,
      eval_batch_size=100,
      num_train_steps=8,
      eval_every_epochs=None,
      log_every_steps=4,
    )
    for k, v in {**settings, **overrides}.items():
      setattr(c, k, v)
    return c

  plain_dir, precise_dir = str(tmp_path / 'plain'), str(tmp_path / 'precise')
  trainer.train_and_evaluate(config(), plain_dir)
  trainer.train_and_evaluate(config(precise_bn_steps=3), precise_dir)
  plain = checkpointing.load_variables(plain_dir)
  precise = checkpointing.load_variables(precise_dir)
  jax.tree.map(
    np.testing.assert_array_equal, plain['params'], precise['params']
  )
  run, state = trainer.setup(config(), plain_dir)
  expected = precise_bn.recalibrate(
    state,
    run.input.train_batches(8),
    3,
    run.mesh,
    batch_transform=run.input.batch_transform,
  )
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
    precise['batch_stats'],
    jax.device_get(expected.batch_stats),
  )
  assert not np.allclose(
    jax.tree.leaves(plain['batch_stats'])[0],
    jax.tree.leaves(precise['batch_stats'])[0],
  )
