"""RandAugment, TrivialAugmentWide and AutoAugment in JAX, in the train step.

Each op is checked against torchvision's uint8 ``_apply_op`` on the same
image (every magnitude bin of the policies, both signs), the policies' draws
against torchvision's distributions (by recording what the op picker is
asked for), and the input path end to end: the policy runs after crop and
flip with a key of its own, ``auto`` keeps such runs on the devices, and a
run trains with TensorFlow hidden.
"""

import collections
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax import config_validation
from cnn_jax.data import (
  device_augment,
  device_auto_augment,
  device_pipeline,
  inputs,
  pipeline,
)
from cnn_jax.data.device_augment import AUTO_STREAM
from cnn_jax.training import sharding
from configs import base
from tests import gpu_machine_python
from tests.test_auto_augment import TORCHVISION_CASES, torchvision_op

auto_augment = device_auto_augment  # the tables: torchvision's policies
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RA_NAMES = auto_augment.OPS[:14]


def _config(**overrides):
  c = base.get_config()
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


def _image(h, w, c, seed, low=0, high=256):
  """A 0..255 float image (HWC)."""
  rng = np.random.default_rng(seed)
  return rng.integers(low, high, (h, w, c)).astype(np.float32)


def _magnitudes_of(name):
  """The op's magnitudes in the three policies' tables, with both signs."""
  values = {0.0}
  for policy, bins in (
    ('randaugment', 31),
    ('trivialaugment', 31),
    ('autoaugment', 10),
  ):
    table = auto_augment.magnitudes(policy, 20, 24, bins)
    values.update(float(m) for m in table.get(name, ()))
  if name in auto_augment.SIGNED:
    values.update([-m for m in values])
  return np.array(sorted(values), np.float32)


# --- The ops against torchvision's ------------------------------------------


def _ties(name, magnitude, h, w):
  """The output pixels of geometric op ``name`` whose source coordinate is a
  tie (x.5): rounded half away from zero here, half to even by
  torchvision's ``grid_sample``."""
  if name not in device_auto_augment.GEOMETRIC:
    return np.zeros((h, w), bool)
  a0, a1, a2, b0, b1, b2 = (
    float(c)
    for c in device_auto_augment._coefficients(
      name, jnp.float32(magnitude), h, w
    )
  )
  y, x = np.mgrid[:h, :w].astype(np.float64)
  near_half = lambda v: np.abs(np.abs(v - np.floor(v)) - 0.5) < 1e-3  # noqa: E731
  return near_half(a0 * x + a1 * y + a2) | near_half(b0 * x + b1 * y + b2)


# The largest difference from torchvision, in levels of 255: blends and
# AutoContrast's scaling round where torchvision truncates; Color's
# grayscale is truncated there too.
_LEVELS = {
  'Brightness': 1,
  'Contrast': 1,
  'Sharpness': 1,
  'AutoContrast': 1,
  'Color': 2,
}


@pytest.mark.parametrize('name', auto_augment.OPS)
def test_each_op_matches_torchvision_at_every_magnitude(name):
  """On 20x24 RGB and grayscale images, full range and mid range (which
  leaves AutoContrast work), at every magnitude: the geometric ops equal
  torchvision's but where a source coordinate is a tie, the blends within
  a level or two, the others equal. (Equalize needs more than 255 pixels a
  channel to do anything: PIL's step is pixels // 255.)"""
  ours = jax.jit(
    jax.vmap(
      lambda x, m: jnp.round(
        jnp.clip(device_auto_augment.apply_op(x, name, m), 0.0, 255.0)
      ),
      in_axes=(None, 0),
    )
  )
  magnitudes = _magnitudes_of(name)
  compared = changed = 0
  for c in (3, 1):
    for seed, (low, high) in enumerate(((0, 256), (30, 200))):
      image = _image(20, 24, c, seed, low, high)
      got = np.asarray(ours(image, magnitudes))
      for m, out in zip(magnitudes, got):
        m_tv = int(m) if name == 'Posterize' else float(m)
        _, ref = torchvision_op(name, m_tv, image.astype(np.uint8))
        diff = np.abs(out - ref).max(axis=-1)
        diff[_ties(name, m, 20, 24)] = 0
        assert diff.max() <= _LEVELS.get(name, 0), (name, m, c, diff.max())
        changed += not np.array_equal(out, image)
        compared += 1
  if name == 'Identity':
    assert changed == 0
  else:  # most magnitudes change the image (not a vacuous comparison)
    assert changed > compared // 4, (changed, compared)


def test_half_way_blends_and_coordinates_round_as_documented():
  """Where a fused multiply-add (XLA's default contraction) would land on the
  other integer: RandAugment's Sharpness at bin 3 (factor 1.09) of a 36
  whose smoothed value is 86, 1.09 * 36 - 0.09 * 86 = 31.5 in exact
  arithmetic: two roundings (PyTorch's separate kernels, ours) give 32, one
  rounding (either product fused) 31. And a 0.2 shear of row 2 reads column
  x + 0.5: rounded half away from zero (x + 1), as ``std::round``, not half
  to even."""
  x = np.full((5, 5, 1), 117.0, np.float32)
  x[1, 1, 0] = x[1, 2, 0] = 118.0
  x[2, 2, 0] = 36.0  # smoothed: (5 * 36 + 6 * 117 + 2 * 118) / 13 = 86
  m = auto_augment.magnitudes('randaugment', 5, 5, 31)['Sharpness'][3]
  f = np.float32(1.0) + m
  p = np.float32(f * np.float32(36.0))
  q = np.float32(np.float32(1.0 - f) * np.float32(86.0))
  fused = [  # fma(f, 36, q), fma(1 - f, 86, p)
    np.float32(np.float64(f) * 36.0 + np.float64(q)),
    np.float32(np.float64(np.float32(1.0 - f)) * 86.0 + np.float64(p)),
  ]
  assert np.round(p + q) == 32.0 and [np.round(v) for v in fused] == [31, 31]
  sharpened = jax.jit(
    lambda y: device_auto_augment.op_by_index(
      y, jnp.int32(RA_NAMES.index('Sharpness')), jnp.float32(m), RA_NAMES
    )
  )(x)
  assert float(sharpened[2, 2, 0]) == 32.0
  ramp = jnp.tile(jnp.arange(8.0)[None, :, None], (5, 1, 1))
  sheared = jax.jit(
    lambda y: device_auto_augment.apply_op(y, 'ShearX', jnp.float32(0.2))
  )(ramp)
  # Row 2: source x + 0.2 * 2 + 0.1 = x + 0.5 -> x + 1; past the edge: black.
  np.testing.assert_array_equal(sheared[2, :, 0], [1, 2, 3, 4, 5, 6, 7, 0])


@pytest.mark.parametrize('name,magnitude', TORCHVISION_CASES)
def test_ops_match_torchvision(name, magnitude):
  """Within 1 of torchvision's uint8 ``_apply_op`` (it truncates blends,
  we round them)."""
  image, reference = torchvision_op(name, magnitude)
  ours = jax.jit(lambda x: device_auto_augment.apply_op(x, name, magnitude))(
    image.astype(np.float32)
  )
  assert np.abs(np.round(np.asarray(ours)) - reference).max() <= 1.0


@pytest.mark.parametrize('names', [RA_NAMES, auto_augment.OPS])
def test_op_by_index_is_the_named_op(names):
  """The switch (geometric ops share one branch) picks the right op."""
  image = jnp.asarray(_image(10, 12, 3, 5))
  rng = np.random.default_rng(1)
  indices = np.arange(len(names), dtype=np.int32)
  mags = rng.uniform(-0.6, 0.6, len(names)).astype(np.float32)
  for i, n in enumerate(names):
    if n in ('TranslateX', 'TranslateY', 'Rotate'):
      mags[i] *= 10
    elif n == 'Posterize':
      mags[i] = 3
    elif n == 'Solarize':
      mags[i] = 120
  picked = jax.jit(
    jax.vmap(
      lambda i, m: device_auto_augment.op_by_index(image, i, m, names),
    )
  )(indices, mags)
  for i, n in enumerate(names):
    want = jnp.round(
      jnp.clip(device_auto_augment.apply_op(image, n, mags[i]), 0.0, 255.0)
    )
    np.testing.assert_array_equal(picked[i], want, err_msg=n)


# --- The policies' draws ----------------------------------------------------


def _draws(policy, n, **kw):
  """(ops, magnitudes, applied) of ``policy`` for ``n`` keys: [n, slots]."""
  names, sample = device_auto_augment.make_sampler(
    policy, height=8, width=8, **kw
  )
  keys = jax.random.split(jax.random.key(11), n)
  ops, mags, applied = jax.jit(jax.vmap(sample))(keys)
  return np.asarray(ops), np.asarray(mags), np.asarray(applied), names


def _within(count, n, p, sigmas=5.0):
  return abs(count - n * p) <= sigmas * np.sqrt(n * p * (1 - p)) + 1


def test_randaugment_draws_ops_uniformly_at_magnitude_m():
  n = 2800
  ops, mags, applied, names = _draws('randaugment', n, num_ops=2, magnitude=9)
  assert names == RA_NAMES and ops.shape == (n, 2) and applied.all()
  table = auto_augment.magnitudes('randaugment', 8, 8, 31)
  for slot in range(2):
    counts = collections.Counter(ops[:, slot])
    assert set(counts) == set(range(14))
    for i in range(14):
      assert _within(counts[i], n, 1 / 14), (slot, names[i], counts[i])
  assert np.mean(ops[:, 0] == ops[:, 1]) < 0.2  # the two slots are apart
  for i, name in enumerate(names):
    m = mags[ops == i]
    want = float(table[name][9]) if name in table else 0.0
    np.testing.assert_allclose(np.abs(m), want, rtol=1e-5, atol=1e-5)
    if name in auto_augment.SIGNED:
      assert _within(np.sum(m < 0), m.size, 0.5), name
    else:
      assert (m >= 0).all(), name


def test_trivialaugment_draws_one_op_at_a_uniform_bin():
  n = 3100
  ops, mags, applied, names = _draws('trivialaugment', n)
  assert names == RA_NAMES and ops.shape == (n, 1) and applied.all()
  ops, mags = ops[:, 0], mags[:, 0]
  counts = collections.Counter(ops)
  assert all(_within(counts[i], n, 1 / 14) for i in range(14)), counts
  table = auto_augment.magnitudes('trivialaugment', 8, 8, 31)
  assert table['Rotate'][30] == 135.0  # the wide ranges
  bins = collections.Counter()
  for i, name in enumerate(names):
    if name not in auto_augment.SIGNED:
      continue
    m = mags[ops == i]
    assert _within(np.sum(m < 0), np.sum(m != 0), 0.5), name
    level = np.abs(np.abs(m)[:, None] - table[name][None, :]).argmin(1)
    np.testing.assert_allclose(
      np.abs(m), table[name][level], rtol=1e-5, atol=1e-5
    )
    bins.update(level)
  total = sum(bins.values())
  assert set(bins) == set(range(31))
  assert all(_within(bins[b], total, 1 / 31) for b in range(31)), bins


def test_autoaugment_applies_its_sub_policies_with_their_probabilities():
  n = 5000
  ops, mags, applied, names = _draws('autoaugment', n)
  policy = auto_augment.IMAGENET_POLICY
  table = auto_augment.magnitudes('autoaugment', 8, 8, 10)
  assert len(policy) == 25 and 'Invert' in names and ops.shape == (n, 2)
  # Each sub-policy as (op, |magnitude|) x 2 -> the probabilities of the
  # list's entries that look so (some are listed twice; Equalize, Equalize
  # three times with different probabilities).
  expected = collections.defaultdict(list)
  for pair in policy:
    key = tuple(
      (name, round(0.0 if level is None else float(table[name][level]), 4))
      for name, _, level in pair
    )
    expected[key].append([p for _, p, _ in pair])
  drawn = collections.defaultdict(list)
  for o, m, a in zip(ops, mags, applied):
    key = tuple((names[i], round(abs(float(v)), 4)) for i, v in zip(o, m))
    drawn[key].append(a)
  assert set(drawn) == set(expected)  # all 25, nothing else
  for key, entries in expected.items():
    runs = np.array(drawn[key])
    assert _within(len(runs), n, len(entries) / 25), (key, len(runs))
    for slot, p in enumerate(np.mean(entries, axis=0)):
      assert _within(runs[:, slot].sum(), len(runs), p), (key, slot)
  rotations = mags[ops == names.index('Rotate')]
  assert _within(np.sum(rotations < 0), rotations.size, 0.5)


def test_policy_runs_the_sampled_ops_in_turn():
  """make_policy = the sampler's ops, applied one after another (apply_op,
  rounded), skipping those not applied."""
  image = _image(14, 10, 3, seed=8)
  for policy in auto_augment.POLICIES:
    names, sample = device_auto_augment.make_sampler(
      policy, height=14, width=10, num_ops=3
    )
    transform = jax.jit(
      device_auto_augment.make_policy(policy, height=14, width=10, num_ops=3)
    )
    for k in range(6):
      key = jax.random.key(100 + k)
      want = image
      for i, m, on in zip(*sample(key)):
        if on:
          want = device_auto_augment.apply_op(want, names[int(i)], m)
          want = np.round(np.clip(np.asarray(want), 0.0, 255.0))
      got = np.asarray(transform(jnp.asarray(image / 255.0), key)) * 255.0
      np.testing.assert_allclose(got, want, atol=1e-3, err_msg=policy)


# --- The policies on images -------------------------------------------------


@pytest.mark.parametrize('policy', auto_augment.POLICIES)
def test_policies_are_functions_of_the_key(policy):
  for shape in ((16, 16, 3), (12, 12, 1)):
    image = jnp.asarray(_image(*shape, seed=3, low=20, high=230) / 255.0)
    transform = jax.jit(
      jax.vmap(
        device_auto_augment.make_policy(
          policy, height=shape[0], width=shape[1]
        ),
        in_axes=(None, 0),
      )
    )
    keys = jax.random.split(jax.random.key(0), 48)
    out = np.asarray(transform(image, keys))
    again = np.asarray(transform(image, keys))
    np.testing.assert_array_equal(out, again)
    assert out.shape == (48, *shape) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(out * 255.0, np.round(out * 255.0), atol=1e-4)
    distinct = len({o.tobytes() for o in out})
    changed = np.mean([not np.allclose(o, image) for o in out])
    # Most keys change the image, in many different ways (AutoAugment:
    # some sub-policies apply nothing at all with probability up to 0.64).
    assert changed > (0.5 if policy == 'autoaugment' else 0.7), (policy, shape)
    assert distinct > (0.3 if policy == 'autoaugment' else 0.6) * 48, (
      policy,
      shape,
    )


def test_randaugment_at_magnitude_zero_only_autocontrasts_or_equalizes():
  """At bin 0 every op but AutoContrast and Equalize is the identity (no
  value is 255, Solarize's threshold; 20x20 pixels, so that Equalize's
  step, pixels // 255, is not 0)."""
  image = _image(20, 20, 3, seed=4, low=30, high=200)
  transform = jax.jit(
    jax.vmap(
      device_auto_augment.make_policy(
        'randaugment', height=20, width=20, num_ops=1, magnitude=0
      ),
      in_axes=(None, 0),
    )
  )
  n = 700
  out = np.asarray(
    transform(
      jnp.asarray(image / 255.0), jax.random.split(jax.random.key(1), n)
    )
  )
  out = np.round(out * 255.0)
  auto = np.asarray(device_auto_augment.apply_op(image, 'AutoContrast', 0.0))
  equal = np.asarray(device_auto_augment.apply_op(image, 'Equalize', 0.0))
  kinds = collections.Counter()
  for o in out:
    for kind, ref in (
      ('same', image),
      ('autocontrast', np.round(auto)),
      ('equalize', np.round(equal)),
    ):
      if np.array_equal(o, ref):
        kinds[kind] += 1
        break
    else:
      raise AssertionError('an output that is none of the three')
  assert _within(kinds['same'], n, 12 / 14), kinds
  assert _within(kinds['autocontrast'], n, 1 / 14), kinds
  assert _within(kinds['equalize'], n, 1 / 14), kinds


# --- The device input path --------------------------------------------------


def test_auto_augment_runs_on_the_device_path():
  config = _config(dataset='fashion_mnist', auto_augment='randaugment')
  assert inputs.device_path_problems(config) == []
  assert inputs.choose(config) == 'device'
  config.input_pipeline = 'device'
  assert inputs.choose(config) == 'device'
  assert not config_validation.problems(config)
  config.input_pipeline = 'tfdata'
  assert inputs.choose(config) == 'tfdata'
  # What the device path cannot do (a crop drawn where the host decodes),
  # it still says.
  config = _config(auto_augment='trivialaugment', augment='rrc', image_size=32)
  assert inputs.choose(config) == 'tfdata'


def test_policy_runs_after_crop_and_flip_with_a_key_of_its_own():
  """batch_transform = the policy, keyed fold_in(example key, AUTO_STREAM),
  on the crop_pad + flip output that the same key gives without it."""
  rng = np.random.default_rng(0)
  n = 24
  images = rng.integers(0, 256, (n, 12, 12, 1), dtype=np.uint8)
  labels = np.arange(n)
  info = pipeline.InputInfo('x', 10, (12, 12, 1), {}, (0.0,), (1.0,))
  common = dict(augment='crop_pad,flip', crop_padding=2)
  plain = jax.jit(device_augment.make_train_transform(_config(**common), info))
  policy = jax.jit(
    device_augment.make_train_transform(
      _config(**common, auto_augment='randaugment', randaugment_num_ops=2),
      info,
    )
  )
  key = jax.random.key(5)
  cropped, _ = plain(images, labels, key)
  out, out_labels = policy(images, labels, key)
  np.testing.assert_array_equal(out_labels, labels)
  keys = device_augment.example_keys(key, n)
  policy_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(
    keys, AUTO_STREAM
  )
  transform = device_auto_augment.make_policy(
    'randaugment', height=12, width=12, num_ops=2, magnitude=9
  )
  want = jax.jit(jax.vmap(transform))(cropped, policy_keys)
  np.testing.assert_array_equal(out, want)
  assert np.mean([not np.array_equal(a, b) for a, b in zip(out, cropped)]) > 0.6
  again, _ = policy(images, labels, key)
  np.testing.assert_array_equal(out, again)
  other, _ = policy(images, labels, jax.random.key(6))
  assert not np.array_equal(out, other)
  # Without crop or flip, the policy alone runs (and on RGB too).
  alone = jax.jit(
    device_augment.make_train_transform(
      _config(augment='', auto_augment='autoaugment', grayscale_to_rgb=True),
      pipeline.InputInfo('x', 10, (12, 12, 3), {}, (0.0,) * 3, (1.0,) * 3),
    )
  )
  out, _ = alone(images, labels, key)
  assert out.shape == (n, 12, 12, 3)
  changed = [not np.allclose(o, i / 255.0) for o, i in zip(out, images)]
  assert np.mean(changed) > 0.25


def test_fashion_mnist_device_pipeline_with_randaugment():
  config = _config(
    dataset='fashion_mnist',
    batch_size=128,
    augment='crop_pad,flip',
    crop_padding=2,
    auto_augment='randaugment',
  )
  assert inputs.choose(config) == 'device'
  info = pipeline.get_info(config)
  feed = device_pipeline.DevicePipeline(config, info, sharding.make_mesh(1))
  batch = feed.train_batch(3)
  transform = jax.jit(feed.batch_transform)
  key = jax.random.key(2)
  x, y = transform(batch['image'], batch['label'], key)
  x = np.asarray(x)
  assert x.shape == (128, 28, 28, 1) and np.isfinite(x).all()
  np.testing.assert_array_equal(y, batch['label'])
  np.testing.assert_array_equal(
    x, transform(batch['image'], batch['label'], key)[0]
  )
  values = x * np.asarray(info.std) + np.asarray(info.mean)  # back to [0, 1]
  assert values.min() > -1e-5 and values.max() < 1 + 1e-5
  np.testing.assert_allclose(values * 255, np.round(values * 255), atol=2e-3)
  config.auto_augment = None
  without = device_augment.make_train_transform(config, info)
  plain = np.asarray(jax.jit(without)(batch['image'], batch['label'], key)[0])
  changed = np.mean([not np.allclose(a, b) for a, b in zip(x, plain)])
  assert changed > 0.6  # 1 - (1/14 chance of identity ... per op)^2 and more


def test_importing_it_loads_no_tensorflow():
  proc = gpu_machine_python.run(
    [
      '-c',
      'import sys; import cnn_jax.data.device_auto_augment as d; '
      'import cnn_jax.data.device_augment; '
      'd.make_policy("autoaugment", height=8, width=8); '
      'print(sorted(m for m in sys.modules if m.startswith("tensorflow")))',
    ]
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.strip() == '[]'


def test_trains_with_randaugment_without_tensorflow(tmp_path):
  """The GPU machine's situation: no TensorFlow, ``auto`` input path."""
  workdir = tmp_path / 'run'
  proc = gpu_machine_python.run(
    [
      '-m',
      'cnn_jax.main',
      '--config=configs/lenet5_fashion_mnist.py',
      f'--workdir={workdir}',
      '--config.dataset=synthetic',
      '--config.synthetic_examples=400',
      '--config.validation_examples=64',
      '--config.batch_size=32',
      '--config.eval_batch_size=64',
      '--config.num_train_steps=6',
      '--config.log_every_steps=3',
      '--config.augment=crop_pad,flip',
      '--config.crop_padding=2',
      '--config.auto_augment=randaugment',
    ]
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'input: device' in proc.stderr
  results = json.loads((workdir / 'results.json').read_text())
  assert results['step'] == 6 and 'accuracy' in results['test']
