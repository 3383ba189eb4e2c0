"""Config validation: every problem at once, before any work; None fields."""

import glob
import importlib
import os

import pytest
from absl import flags
from ml_collections import config_flags

from cnn_jax import config_validation as cv
from cnn_jax.analysis import input_size
from cnn_jax import models
from cnn_jax.data import pipeline
from configs import base

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_NAMES = sorted(
  os.path.basename(p)[:-3]
  for p in glob.glob(os.path.join(ROOT, 'configs', '*.py'))
  if not os.path.basename(p).startswith('_')
  and os.path.basename(p) not in ('base.py', 'imagenet.py')
)


def _config(**overrides):
  c = base.get_config()
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


def test_the_schema_lists_exactly_the_fields_of_base():
  assert set(cv.FIELDS) == set(base.get_config().keys())
  for name, field in cv.FIELDS.items():
    assert field.meaning, name
    assert cv.check_field(name, base.get_config()[name]) is None, name


@pytest.mark.parametrize('name', CONFIG_NAMES)
def test_every_shipped_config_is_valid(name):
  config = importlib.import_module(f'configs.{name}').get_config()
  assert cv.problems(config) == []


@pytest.mark.slow  # about a minute: traces the models of small-image configs.
def test_every_shipped_config_fits_its_model():
  for name in CONFIG_NAMES:
    config = importlib.import_module(f'configs.{name}').get_config()
    assert cv.problems(config, model_input=True) == [], name


@pytest.mark.parametrize(
  'overrides, message',
  [
    (dict(batch_size=0), 'batch_size=0: must be an integer >= 1'),
    (dict(batch_size=-8), 'batch_size=-8: must be an integer >= 1'),
    (
      dict(dtype='float8'),
      "dtype='float8' is not one of: float32, bfloat16. Did you mean",
    ),
    (dict(model='lenet'), "Unknown model 'lenet'. Did you mean 'lenet5'"),
    (dict(dataset='fashion-mnist'), "Did you mean 'fashion_mnist'"),
    (dict(optimizer='adamw2'), "Did you mean 'adamw'"),
    (dict(learning_rate=float('nan')), 'learning_rate=nan: must be'),
    (dict(momentum=1.0), r'momentum=1.0: must be a number in \[0, 1\)'),
    (dict(eval_every_epochs=0.0), 'eval_every_epochs=0.0: must be a number'),
    (dict(seed=-1), 'seed=-1'),
    (dict(keep_checkpoints=0), 'keep_checkpoints=0'),
    (
      dict(rrc_scale=(0.5,)),
      r'rrc_scale=\(0.5,\): must be a tuple of length 2',
    ),
    (dict(rrc_scale=(0.9, 0.1)), r'rrc_scale=\(0.9, 0.1\): must be'),
    (
      dict(augment='crop_pad,flipp'),
      "unknown augmentation 'flipp'.*Did you mean 'flip'",
    ),
    (
      dict(augment='rrc'),
      'rrc resizes its crop to image_size; set --config.image_size',
    ),
    (dict(mean=(0.1, 0.2)), '2 values for 1-channel inputs'),
    (dict(std=(0.0,)), r'std=\(0.0,\): must be > 0'),
    (dict(bn_group_size=48), 'bn_group_size=48 does not divide batch_size=128'),
    (dict(nesterov=True, momentum=0.0), 'nesterov=True needs'),
    (dict(ema_every_steps=32), 'set ema_decay too'),
    (dict(norm_weight_decay=-1.0), 'norm_weight_decay=-1.0: must be'),
    (dict(warmup_epochs=10.0), 'warmup_epochs=10.0 is not shorter'),
    (
      dict(lr_schedule='multistep', lr_boundaries=(5.0, 3.0)),
      'must be increasing',
    ),
    (dict(synthetic_shape=(32, 32, 2)), r'synthetic_shape=\(32, 32, 2\)'),
  ],
)
def test_bad_values_are_named_with_what_to_do(overrides, message):
  with pytest.raises(cv.ConfigError, match=message):
    cv.validate(_config(**overrides))


def test_unset_fields_are_none_and_required_ones_must_be_set():
  c = base.get_config()
  for name in (
    'num_classes',
    'image_size',
    'num_train_steps',
    'num_devices',
    'data_dir',
    'manual_dir',
    'init_from',
  ):
    assert c[name] is None, name
  assert cv.problems(_config(eval_every_epochs=None)) == []
  with pytest.raises(cv.ConfigError, match='batch_size must be set'):
    cv.validate(_config(batch_size=None))


def test_every_problem_is_reported_at_once():
  config = _config(
    batch_size=0, dtype='float8', augment='flipp', label_smoothing=1.5
  )
  with config.unlocked():
    config.lr = 0.1  # a typo'd field a config file might add
  with pytest.raises(cv.ConfigError) as info:
    cv.validate(config)
  problems = info.value.problems
  assert len(problems) == 5, problems
  assert "unknown field 'lr'" in str(info.value)
  assert str(info.value).startswith('Bad config (5 problems):\n  - ')


def test_model_kwargs_the_model_does_not_take():
  config = _config(model='resnet20')
  with config.unlocked():
    config.model_kwargs.widht = 2
  with pytest.raises(
    cv.ConfigError, match='model_kwargs=.*widht.*resnet20 does not take them'
  ):
    cv.validate(config)


def test_batch_and_eval_batch_must_divide_over_devices_and_processes():
  config = _config(batch_size=100, eval_batch_size=512)
  assert cv.problems(config, devices=4) == []
  found = cv.problems(config, devices=8)
  assert found == [
    'batch_size=100 does not divide over the 8 devices; use a multiple of 8 '
    '(e.g. 104) or set --config.num_devices.'
  ]
  found = cv.problems(_config(batch_size=96, eval_batch_size=100), devices=8)
  assert 'eval_batch_size=100 does not divide over the 8 devices' in found[0]
  assert cv.problems(_config(num_devices=4, batch_size=100), devices=8) == []
  assert (
    'only 8 devices are visible'
    in cv.problems(_config(num_devices=16), devices=8)[0]
  )
  assert (
    'must use all 8 devices'
    in cv.problems(_config(num_devices=4), devices=8, process_count=2)[0]
  )


def test_image_size_below_the_models_smallest_input():
  """resnet20 downsamples twice: 3x3 is the smallest input that still has
  pixels for its last stride-2 convolution."""
  assert input_size.min_input_size('resnet20', 3) == 3
  problem = input_size.input_size_problem(models.build('resnet20'), (2, 2, 3))
  assert 'stride-2 convolution (ResNet/' in problem
  assert (
    input_size.input_size_problem(models.build('resnet20'), (3, 3, 3)) is None
  )
  config = _config(model='resnet20', dataset='cifar10', image_size=2)
  assert cv.problems(config) == []  # the model check traces: opt-in.
  with pytest.raises(
    cv.ConfigError,
    match=(
      'image_size 2 is too small for resnet20: its stride-2 convolution .* It '
      r'takes at least 3x3 \(its reference input is 32x32\); set '
      '--config.image_size=3 or more'
    ),
  ):
    cv.validate(config, model_input=True)
  assert (
    cv.problems(
      _config(model='resnet20', dataset='cifar10', image_size=3),
      model_input=True,
    )
    == []
  )


def test_checks_against_the_datasets_sizes_and_classes():
  info = pipeline.InputInfo(
    'fashion_mnist',
    10,
    (28, 28, 1),
    {
      'train': pipeline.Slice('train', 0, 100),
      'validation': pipeline.Slice('train', 100, 150),
    },
    (0.5,),
    (0.5,),
  )
  cv.validate_with_data(_config(batch_size=100), info)
  with pytest.raises(cv.ConfigError) as e:
    cv.validate_with_data(_config(batch_size=101, num_classes=5), info)
  assert e.value.problems == [
    'batch_size=101 is larger than the 100 training examples of '
    'fashion_mnist (after validation_examples=5000).',
    'num_classes=5 is fewer than the 10 classes of fashion_mnist: labels '
    ">= 5 would have no output. Leave it unset to use the dataset's.",
  ]


def _parse(*args):
  argv = [
    'prog',
    '--config='
    + os.path.join(ROOT, 'configs', 'resnet18_finetune_fashion_mnist.py'),
    *args,
  ]
  fv = flags.FlagValues()
  config_flags.DEFINE_config_file(
    'config', None, '', flag_values=fv, lock_config=True, sys_argv=argv
  )
  fv(argv)
  return fv.config


def test_none_and_values_from_the_command_line():
  c = _parse(
    '--config.image_size=None',
    '--config.num_classes=5',
    '--config.eval_every_epochs=None',
    '--config.data_dir=/data',
    '--config.num_train_steps=7',
  )
  assert (
    c.image_size,
    c.num_classes,
    c.eval_every_epochs,
    c.data_dir,
    c.num_train_steps,
  ) == (None, 5, None, '/data', 7)
  assert _parse('--config.eval_every_epochs=2').eval_every_epochs == 2.0
  assert _parse().image_size == 64
