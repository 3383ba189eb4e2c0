"""RandAugment, TrivialAugmentWide and AutoAugment: the tables, each op's
properties, and the policies in the train step of either input path.

(The ops against torchvision, op by op and draw by draw:
tests/test_device_auto_augment.py.)
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.data import device_augment, device_auto_augment, inputs, pipeline
from configs import base

aa = device_auto_augment


def _image(h=32, w=32, c=3, seed=0, low=30, high=200):
  rng = np.random.default_rng(seed)
  # Not the full range, so that AutoContrast and Equalize have work.
  return rng.integers(low, high, size=(h, w, c)).astype(np.float32) / 255.0


# Each op at one magnitude, compared with torchvision
# (tests/test_device_auto_augment.py).
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


@pytest.mark.parametrize('name', aa.OPS[1:])
def test_each_op_changes_the_image(name):
  image = jnp.round(jnp.asarray(_image()) * 255.0)
  table = aa.magnitudes('randaugment', 32, 32, 31)
  magnitude = table[name][15] if name in table else 0.0
  out = jax.jit(lambda x: aa.apply_op(x, name, magnitude))(image)
  assert out.shape == image.shape and out.dtype == jnp.float32
  assert not np.array_equal(np.asarray(out), np.asarray(image)), name
  assert float(jnp.min(out)) >= 0 and float(jnp.max(out)) <= 255


def test_identity_and_zero_magnitudes_change_nothing():
  image = jnp.round(jnp.asarray(_image()) * 255.0)
  for name, m in (
    ('Identity', 0.0),
    ('ShearX', 0.0),
    ('Rotate', 0.0),
    ('Brightness', 0.0),
    ('Posterize', 8),
    ('Solarize', 256.0),
  ):
    out = np.asarray(aa.apply_op(image, name, m))
    np.testing.assert_allclose(out, image, atol=1e-3, err_msg=name)


def test_torchvision_magnitude_bins():
  ra = aa.magnitudes('randaugment', 224, 224, 31)
  np.testing.assert_allclose(ra['ShearX'][9], 0.3 * 9 / 30, rtol=1e-6)
  np.testing.assert_allclose(ra['TranslateX'][30], 150 / 331 * 224, rtol=1e-6)
  assert list(ra['Posterize'][[0, 30]]) == [8, 4]
  ta = aa.magnitudes('trivialaugment', 224, 224, 31)
  assert ta['Rotate'][30] == 135.0 and list(ta['Posterize'][[0, 30]]) == [8, 2]
  aa_table = aa.magnitudes('autoaugment', 224, 224, 10)
  np.testing.assert_allclose(aa_table['Rotate'][9], 30.0)
  assert len(aa.IMAGENET_POLICY) == 25


def test_magnitude_bins_are_torchvisions_own():
  """Every bin of the three policies equals torchvision's
  ``_augmentation_space`` (skips without torchvision)."""
  from cnn_jax.conversion import torch_source

  try:
    torch_source.import_torch()
  except ImportError:
    pytest.skip('no PyTorch')
  tv = pytest.importorskip('torchvision.transforms.autoaugment')
  spaces = {
    'randaugment': tv.RandAugment()._augmentation_space(31, (180, 224)),
    'trivialaugment': tv.TrivialAugmentWide()._augmentation_space(31),
    'autoaugment': tv.AutoAugment()._augmentation_space(10, (180, 224)),
  }
  for policy, space in spaces.items():
    ours = aa.magnitudes(
      policy, 180, 224, 10 if policy == 'autoaugment' else 31
    )
    for name, (values, signed) in space.items():
      assert (name in aa.SIGNED) == signed, (policy, name)
      if name in ours:
        np.testing.assert_allclose(
          ours[name], values.numpy(), rtol=1e-6, err_msg=f'{policy} {name}'
        )
      else:
        assert not values.numel() or not values.any(), (policy, name)


def _transform(policy, augment='flip', size=32):
  config = base.get_config()
  config.augment, config.auto_augment = augment, policy
  info = pipeline.InputInfo(
    'x', 10, (size, size, 3), {}, (0.0,) * 3, (1.0,) * 3
  )
  return jax.jit(device_augment.make_train_transform(config, info))


@pytest.mark.parametrize('policy', aa.POLICIES)
def test_policies_are_deterministic_per_key(policy):
  transform = _transform(policy)
  image = _image()
  batch = np.repeat(np.round(image * 255).astype(np.uint8)[None], 12, axis=0)
  outs, _ = transform(batch, np.zeros(12), jax.random.key(7))
  again, _ = transform(batch, np.zeros(12), jax.random.key(7))
  np.testing.assert_array_equal(outs, again)
  outs = np.asarray(outs)
  for out in outs:
    assert out.shape == (32, 32, 3) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
  source = np.round(image * 255) / 255
  changed = [
    not (
      np.allclose(o, source, atol=1 / 255)
      or np.allclose(o, source[:, ::-1], atol=1 / 255)
    )
    for o in outs
  ]
  assert sum(changed) >= 6, policy  # most draws change more than the flip
  assert len({o.tobytes() for o in outs}) >= 8


def test_off_is_the_transform_without_a_policy():
  images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), np.uint8)
  key = jax.random.key(2)
  config = base.get_config()
  config.augment, config.crop_padding = 'crop_pad,flip', 4
  info = pipeline.InputInfo('x', 10, (32, 32, 3), {}, (0.0,) * 3, (1.0,) * 3)
  old = device_augment.make_train_transform(config, info)(images, None, key)[0]
  config.auto_augment = None
  new = device_augment.make_train_transform(config, info)(images, None, key)[0]
  np.testing.assert_array_equal(old, new)


def test_grayscale_images_work():
  transform = aa.make_policy('trivialaugment', height=28, width=28)
  out = jax.jit(transform)(jnp.asarray(_image(28, 28, 1)), jax.random.key(1))
  assert out.shape == (28, 28, 1)


def test_auto_augment_runs_on_either_path():
  """In the train step for both paths: 'auto' keeps a small dataset on the
  devices, tfdata runs it too."""
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


def torchvision_op(name, magnitude, image=None):
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

  if image is None:
    image = np.random.default_rng(0).integers(30, 200, (32, 32, 3), np.uint8)
  reference = tv._apply_op(
    torch.from_numpy(image).permute(2, 0, 1).contiguous(),
    name,
    magnitude,
    interpolation=InterpolationMode.NEAREST,
    fill=None,
  )
  return image, reference.permute(1, 2, 0).numpy().astype(np.float32)


def test_tfdata_stream_with_a_policy_is_deterministic_and_resumes():
  """The tf.data path's batches, augmented by its train-step transform with
  the step's key: the same straight and resumed, across an epoch's end."""
  from cnn_jax.training import sharding, train_step

  config = base.get_config()
  config.dataset, config.synthetic_examples = 'synthetic', 128
  config.synthetic_shape, config.validation_examples = (16, 16, 3), 0
  config.batch_size, config.auto_augment = 32, 'trivialaugment'
  config.input_pipeline = 'tfdata'
  info = pipeline.get_info(config)
  feed = inputs.build(config, info, sharding.make_mesh(1))
  transform = jax.jit(feed.batch_transform)
  run_key = jax.random.key_data(jax.random.key(config.seed))

  def batches(start, n):
    stream = feed.train_batches(start)
    out = []
    for step in range(start, start + n):
      b = next(stream)
      state = train_step.TrainState(
        step=step,
        apply_fn=None,
        params={},
        tx=None,
        opt_state=None,
        rng=run_key,
      )
      key = train_step.augment_key(state)
      out.append(np.asarray(transform(b['image'], b['label'], key)[0]))
    return out

  straight = batches(0, 6)
  again = batches(0, 6)
  resumed = batches(3, 3)  # across the end of epoch 1 (4 steps each)
  for a, b in zip(straight, again):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(straight[3:], resumed):
    np.testing.assert_array_equal(a, b)
  config.auto_augment = None
  plain = inputs.build(config, info, sharding.make_mesh(1))
  b = next(plain.train_batches(0))
  unaugmented = plain.batch_transform(b['image'], b['label'], None)[0]
  assert not np.allclose(unaugmented, straight[0])
