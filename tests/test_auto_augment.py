"""RandAugment, TrivialAugmentWide and AutoAugment in the tf.data path."""

import numpy as np
import pytest

from cnn_jax.data import augment, auto_augment, inputs
from configs import base

tf = pytest.importorskip('tensorflow')


def _image(h=32, w=32, c=3, seed=0, low=30, high=200):
  rng = np.random.default_rng(seed)
  # Not the full range, so that AutoContrast and Equalize have work.
  base_ = rng.integers(low, high, size=(h, w, c)).astype(np.float32)
  return tf.constant(base_ / 255.0)


# Each op at one magnitude, compared with torchvision (here and in
# tests/test_device_auto_augment.py).
TORCHVISION_CASES = [
  ('Posterize', 5),
  ('Solarize', 100.0),
  ('Equalize', 0.0),
  ('AutoContrast', 0.0),
  ('Brightness', 0.3),
  ('Color', -0.5),
  ('Contrast', 0.4),
  ('Sharpness', 0.6),
  ('Invert', 0.0),
  ('TranslateX', 5.0),
  ('TranslateY', -3.0),
  ('ShearX', -0.7),
  ('ShearY', 0.9),
  ('Rotate', 20.0),
]


@pytest.mark.parametrize('name', auto_augment.OPS[1:])
def test_each_op_changes_the_image(name):
  image = tf.round(_image() * 255.0)
  table = auto_augment.magnitudes('randaugment', 32, 32, 31)
  magnitude = table[name][15] if name in table else 0.0
  out = auto_augment.apply_op(image, name, magnitude)
  assert out.shape == image.shape and out.dtype == tf.float32
  assert not np.array_equal(out.numpy(), image.numpy()), name
  assert float(tf.reduce_min(out)) >= 0 and float(tf.reduce_max(out)) <= 255


def test_identity_and_zero_magnitudes_change_nothing():
  image = tf.round(_image() * 255.0)
  for name, m in (
    ('Identity', 0.0),
    ('ShearX', 0.0),
    ('Rotate', 0.0),
    ('Brightness', 0.0),
    ('Posterize', 8),
    ('Solarize', 256.0),
  ):
    out = auto_augment.apply_op(image, name, m).numpy()
    np.testing.assert_allclose(out, image.numpy(), atol=1e-3, err_msg=name)


def test_torchvision_magnitude_bins():
  ra = auto_augment.magnitudes('randaugment', 224, 224, 31)
  np.testing.assert_allclose(ra['ShearX'][9], 0.3 * 9 / 30, rtol=1e-6)
  np.testing.assert_allclose(ra['TranslateX'][30], 150 / 331 * 224, rtol=1e-6)
  assert list(ra['Posterize'][[0, 30]]) == [8, 4]
  ta = auto_augment.magnitudes('trivialaugment', 224, 224, 31)
  assert ta['Rotate'][30] == 135.0 and list(ta['Posterize'][[0, 30]]) == [8, 2]
  aa = auto_augment.magnitudes('autoaugment', 224, 224, 10)
  np.testing.assert_allclose(aa['Rotate'][9], 30.0)
  assert len(auto_augment.IMAGENET_POLICY) == 25


@pytest.mark.parametrize('policy', auto_augment.POLICIES)
def test_policies_are_deterministic_per_seed(policy):
  transform = augment.make_train_transform(
    ['flip'],
    size=None,
    padding=0,
    scale=(0.08, 1),
    ratio=(0.75, 1.33),
    auto_augment=policy,
    randaugment_num_ops=2,
    randaugment_magnitude=9,
  )
  image = _image()
  run = tf.function(transform)
  outs = [run(image, tf.constant([s, 7], tf.int64)).numpy() for s in range(12)]
  again = run(image, tf.constant([3, 7], tf.int64)).numpy()
  np.testing.assert_array_equal(outs[3], again)
  for out in outs:
    assert out.shape == (32, 32, 3) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
  flipped = image.numpy()[:, ::-1]
  changed = [
    not (
      np.allclose(o, image.numpy(), atol=1 / 255)
      or np.allclose(o, flipped, atol=1 / 255)
    )
    for o in outs
  ]
  assert sum(changed) >= 6, policy  # most draws change more than the flip
  assert len({o.tobytes() for o in outs}) >= 8


def test_off_is_the_old_transform():
  kw = dict(size=None, padding=4, scale=(0.08, 1), ratio=(0.75, 1.33))
  old = augment.make_train_transform(['crop_pad', 'flip'], **kw)
  new = augment.make_train_transform(
    ['crop_pad', 'flip'], auto_augment=None, **kw
  )
  image, seed = _image(), tf.constant([1, 2], tf.int64)
  np.testing.assert_array_equal(old(image, seed), new(image, seed))


def test_grayscale_images_work():
  transform = auto_augment.make_policy('trivialaugment', height=28, width=28)
  out = tf.function(transform)(_image(28, 28, 1), tf.constant([0, 1], tf.int64))
  assert out.shape == (28, 28, 1)


def test_auto_augment_runs_on_either_path():
  """tf.data when asked (or for what only it has); the device path has a JAX
  version (tests/test_device_auto_augment.py), so 'auto' keeps it there."""
  from cnn_jax import config_validation

  config = base.get_config()
  config.auto_augment = 'randaugment'
  assert inputs.choose(config) == 'device'
  assert not config_validation.problems(config)
  config.input_pipeline = 'tfdata'
  assert inputs.choose(config) == 'tfdata'
  assert not config_validation.problems(config)
  config.input_pipeline = 'device'
  assert not config_validation.problems(config)


def torchvision_op(name, magnitude):
  """(a uint8 HWC image, torchvision's uint8 ``_apply_op`` of it as float32
  HWC); skips without PyTorch."""
  from cnn_jax.conversion import torch_source

  try:  # after TensorFlow: see import_torch
    torch_source.import_torch()
  except ImportError:
    pytest.skip('no PyTorch')
  torch = pytest.importorskip('torch')
  tv = pytest.importorskip('torchvision.transforms.autoaugment')
  from torchvision.transforms import InterpolationMode

  image = np.random.default_rng(0).integers(30, 200, (32, 32, 3), np.uint8)
  reference = tv._apply_op(
    torch.from_numpy(image).permute(2, 0, 1).contiguous(),
    name,
    magnitude,
    interpolation=InterpolationMode.NEAREST,
    fill=None,
  )
  return image, reference.permute(1, 2, 0).numpy().astype(np.float32)


@pytest.mark.parametrize('name,magnitude', TORCHVISION_CASES)
def test_ops_match_torchvision(name, magnitude):
  image, reference = torchvision_op(name, magnitude)
  ours = auto_augment.apply_op(
    tf.constant(image.astype(np.float32)), name, magnitude
  ).numpy()
  # Equal up to the rounding of blends (torchvision rounds, we round after).
  assert np.abs(np.round(ours) - reference).max() <= 1.0


def test_tfdata_stream_with_a_policy_is_deterministic_and_resumes():
  from cnn_jax.data import pipeline

  config = base.get_config()
  config.dataset, config.synthetic_examples = 'synthetic', 256
  config.synthetic_shape, config.validation_examples = (16, 16, 3), 0
  config.batch_size, config.auto_augment = 32, 'trivialaugment'
  info = pipeline.get_info(config)

  def batches(start, n):
    ds = pipeline.train_dataset(config, info, start_step=start)
    it = pipeline.as_numpy(ds)
    return [next(it)['image'] for _ in range(n)]

  straight = batches(0, 10)
  again = batches(0, 10)
  resumed = batches(6, 4)  # across the end of epoch 1 (8 steps each)
  for a, b in zip(straight, again):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(straight[6:], resumed):
    np.testing.assert_array_equal(a, b)
  config.auto_augment = None
  plain = batches(0, 1)[0]
  assert not np.allclose(plain, straight[0])
