"""Every config file in ``configs/`` loads, names a registered model and a
known dataset, says how to run it, and builds a model whose output fits the
dataset (traced with ``jax.eval_shape``: nothing is computed).

A config that takes an argument (``--config=configs/x.py:arg``) lists the
arguments to test in a module-level ``ARGUMENTS``.
"""

import glob
import importlib
import os

import jax.numpy as jnp
import pytest

from cnn_jax import config_validation, models
from cnn_jax.analysis import model_stats
from cnn_jax.data import datasets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOT_EXPERIMENTS = {'__init__', 'base', 'imagenet'}  # shared building blocks


def _cases():
  for path in sorted(glob.glob(os.path.join(ROOT, 'configs', '*.py'))):
    name = os.path.basename(path)[:-3]
    if name in NOT_EXPERIMENTS:
      continue
    module = importlib.import_module(f'configs.{name}')
    for arg in getattr(module, 'ARGUMENTS', [None]):
      yield pytest.param(name, arg, id=name if arg is None else f'{name}:{arg}')


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
  """A small folder of real images for configs of ``dataset='image_folder'``."""
  from examples import shapes_folder  # pylint: disable=g-import-not-at-top

  return shapes_folder.write(
    str(tmp_path_factory.mktemp('images')), {'train': 2}
  )


@pytest.mark.parametrize('name,arg', list(_cases()))
def test_config(name, arg, image_folder):
  module = importlib.import_module(f'configs.{name}')
  config_arg = f'configs/{name}.py' + ('' if arg is None else f':{arg}')
  assert f'--config=configs/{name}.py' in module.__doc__, (
    'the docstring opens with the command that runs the config'
  )
  config = module.get_config() if arg is None else module.get_config(arg)
  if config.dataset == 'image_folder':
    config.image_folder = image_folder
  assert config.model in models.known_models(), config_arg
  assert config_validation.problems(config) == [], config_arg
  shape, classes = datasets.model_input(config)
  model = models.build(
    config.model,
    num_classes=classes,
    dtype=jnp.dtype(config.dtype),
    **config.model_kwargs,
  )
  out = model_stats.output_shape(model, shape, train=True)
  if isinstance(out[0], tuple):  # training: (logits, [aux logits, ...])
    out, aux = out
    assert all(a == (2, classes) for a in aux)
  assert out == (2, classes), config_arg
