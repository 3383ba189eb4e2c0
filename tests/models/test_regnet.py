"""Tests of RegNet as a design space (cnn_jax/models/regnet.py).

Every registered RegNet's count is checked in ``test_every_model.py`` and its
logits against torchvision's in ``test_equivalence.py``. Here: the generator
(design parameters -> stages) against torchvision's
``BlockParams.from_init_params`` on the named points and on random ones;
that the named models are only table entries of one module; points of the
space built through ``model_kwargs`` (counts read off torchvision's
``RegNet(BlockParams.from_init_params(...), num_classes=10)``); the
small-image variant; MACs against torchvision's published ``_ops``; and a
few training steps on real Fashion-MNIST.
"""

import functools
import math
import os
import random

import jax
import numpy as np
import pytest

from cnn_jax import models
from cnn_jax.analysis import layer_table, model_stats
from cnn_jax.models import regnet
from tests.models import reference_counts

ROOT = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)

# (width, units, group width) per stage: torchvision 0.29.1's BlockParams.
STAGES = {
  'regnet_x_400mf': [(32, 1, 16), (64, 2, 16), (160, 7, 16), (400, 12, 16)],
  'regnet_x_800mf': [(64, 1, 16), (128, 3, 16), (288, 7, 16), (672, 5, 16)],
  'regnet_x_1_6gf': [(72, 2, 24), (168, 4, 24), (408, 10, 24), (912, 2, 24)],
  'regnet_x_3_2gf': [(96, 2, 48), (192, 6, 48), (432, 15, 48), (1008, 2, 48)],
  'regnet_x_8gf': [(80, 2, 80), (240, 5, 120), (720, 15, 120), (1920, 1, 120)],
  'regnet_x_16gf': [
    (256, 2, 128),
    (512, 6, 128),
    (896, 13, 128),
    (2048, 1, 128),
  ],
  'regnet_x_32gf': [
    (336, 2, 168),
    (672, 7, 168),
    (1344, 13, 168),
    (2520, 1, 168),
  ],
  'regnet_y_400mf': [(48, 1, 8), (104, 3, 8), (208, 6, 8), (440, 6, 8)],
  'regnet_y_800mf': [(64, 1, 16), (144, 3, 16), (320, 8, 16), (784, 2, 16)],
  'regnet_y_1_6gf': [(48, 2, 24), (120, 6, 24), (336, 17, 24), (888, 2, 24)],
  'regnet_y_3_2gf': [(72, 2, 24), (216, 5, 24), (576, 13, 24), (1512, 1, 24)],
  'regnet_y_8gf': [(224, 2, 56), (448, 4, 56), (896, 10, 56), (2016, 1, 56)],
  'regnet_y_16gf': [
    (224, 2, 112),
    (448, 4, 112),
    (1232, 11, 112),
    (3024, 1, 112),
  ],
  'regnet_y_32gf': [
    (232, 2, 232),
    (696, 5, 232),
    (1392, 12, 232),
    (3712, 1, 232),
  ],
  'regnet_y_128gf': [
    (528, 2, 264),
    (1056, 7, 264),
    (2904, 17, 264),
    (7392, 1, 264),
  ],
}


def _point(name):
  v = regnet.VARIANTS[name]
  return (v['depth'], v['w_0'], v['w_a'], v['w_m'], v['group_width'])


@pytest.mark.parametrize('name', sorted(STAGES))
def test_named_points_give_torchvisions_stages(name):
  assert regnet.stage_params(*_point(name)) == STAGES[name]


def _exact_tie(depth, w_0, w_a, w_m):
  """A unit whose log-width lies exactly halfway between two quantization
  steps (e.g. w_m = 2.25 = 1.5 ** 2 and a unit of width 1.5 w_0): there the
  last bit of torchvision's float32 log decides the half (stage_params's
  docstring)."""
  for j in range(depth):
    s = math.log((w_0 + w_a * j) / w_0) / math.log(w_m)
    if abs(s - math.floor(s) - 0.5) < 1e-6:
      return True
  return False


def test_random_points_give_torchvisions_stages():
  from cnn_jax.conversion import torch_source  # pylint: disable=g-import-not-at-top

  try:
    torch_source.import_torch()
  except ImportError:
    pass
  block_params = pytest.importorskip('torchvision.models.regnet').BlockParams
  rng = random.Random(0)
  checked = 0
  while checked < 300:
    depth, w_0 = rng.randint(1, 40), 8 * rng.randint(1, 60)
    w_a = round(rng.uniform(0, 200), rng.choice([0, 1, 2]))
    w_m = round(rng.uniform(1.05, 3.5), rng.choice([1, 2]))
    g = rng.choice([1, 8, 16, 24, 48, 56, 112, 232])
    b = rng.choice([1.0, 0.25, 0.5, 2.0, 4.0])
    if _exact_tie(depth, w_0, w_a, w_m):
      continue
    ref = block_params.from_init_params(
      depth=depth,
      w_0=w_0,
      w_a=w_a,
      w_m=w_m,
      group_width=g,
      bottleneck_multiplier=b,
    )
    want = list(zip(ref.widths, ref.depths, ref.group_widths))
    got = regnet.stage_params(depth, w_0, w_a, w_m, g, b)
    assert got == want, (depth, w_0, w_a, w_m, g, b)
    checked += 1


def test_named_models_are_entries_of_one_table():
  names = [n for n in models.known_models() if n.startswith('regnet_')]
  assert len(names) == 17
  for name in names:
    factory = models.get_spec(name).factory
    assert isinstance(factory, functools.partial)
    assert factory.func is regnet.RegNet, name
    base = name.removesuffix('_cifar')
    small = {'small_input_stem': True, 'num_classes': 10}
    extra = small if name.endswith('_cifar') else {}
    assert factory.keywords == {**regnet.VARIANTS[base], **extra}, name
  assert regnet.VARIANTS['regnet_y_400mf']['se_ratio'] == 0.25
  assert 'se_ratio' not in regnet.VARIANTS['regnet_x_400mf']


# Points of the space that torchvision registers no model for, counted by
# torchvision's RegNet(BlockParams.from_init_params(**point), num_classes=10).
OWN_POINTS = [
  # A shallower RegNetY-400MF.
  (dict(depth=10, w_a=20.0), 'regnet_y_400mf', 737_712),
  # RegNetX-200MF (the paper's / pycls's), from the X-400MF entry.
  (
    dict(depth=13, w_0=24, w_a=36.44, w_m=2.49, group_width=8),
    'regnet_x_400mf',
    2_319_482,
  ),
  # Bottleneck 0.5: the first stage's inner width (16) caps the group width.
  (
    dict(
      depth=12,
      w_0=32,
      w_a=30.0,
      w_m=2.5,
      group_width=24,
      bottleneck_multiplier=0.5,
    ),
    'regnet_y_400mf',
    1_161_178,
  ),
]


@pytest.mark.parametrize('point,name,count', OWN_POINTS)
def test_model_kwargs_build_other_points_of_the_space(point, name, count):
  # Unset keywords (a config's placeholders) keep the named model's values.
  unset = {k: None for k in regnet.VARIANTS[name] if k not in point}
  model = models.build(name, num_classes=10, **point, **unset)
  params, _ = model_stats.count_params(model, (32, 32, 3))
  assert params == count


def test_design_parameters_are_command_line_overrides():
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  from cnn_jax import config_validation  # pylint: disable=g-import-not-at-top

  argv = [
    'main',
    f'--config={os.path.join(ROOT, "configs", "regnet_fashion_mnist.py")}',
    '--config.model_kwargs.depth=10',
    '--config.model_kwargs.w_a=20.0',
  ]
  fv = flags.FlagValues()
  config_flags.DEFINE_config_file(
    'config', None, 'config', flag_values=fv, sys_argv=argv
  )
  fv(argv)
  c = fv.config
  assert config_validation.problems(c) == []
  model = models.build(c.model, num_classes=10, **c.model_kwargs)
  params, _ = model_stats.count_params(model, (28, 28, 1))
  # The first point of OWN_POINTS, with a 1-channel stem.
  assert params == OWN_POINTS[0][2] - 2 * 9 * 32
  c.model_kwargs.w_m = 0.5
  (problem,) = config_validation.problems(c)
  assert 'Not a RegNet design point' in problem and "'w_m': 0.5" in problem


def test_impossible_points_fail_when_built():
  with pytest.raises(ValueError, match='Not a RegNet design point'):
    models.build('regnet_x_400mf', w_m=1.0)
  with pytest.raises(ValueError, match='multiple of 8'):
    models.build('regnet_y_400mf', w_0=20)


def test_small_image_variant_keeps_the_resolution_in_the_stem():
  s = layer_table.summarize(
    models.build('regnet_y_400mf_cifar'),
    (28, 28, 1),
    compute_flops=False,
  )
  shapes = {layer.path: layer.output for layer in s.layers}
  assert shapes[('stem',)] == (1, 28, 28, 32)
  assert shapes[('block1_0',)] == (1, 14, 14, 48)
  assert shapes[('block4_5',)] == (1, 2, 2, 440)
  assert s.output == (1, 10)
  # The 1-channel stem has 2 x 3 x 3 x 32 weights fewer than the registered
  # 3-channel model's (torchvision's regnet_y_400mf(num_classes=10)).
  registered = reference_counts.REFERENCE['regnet_y_400mf_cifar'].value
  assert s.params == registered - 2 * 9 * 32


# torchvision's published "_ops" (GMACs of one image at the weights' input
# size; the IMAGENET1K_V1 / SWAG weights' metadata): conv + dense MACs, the
# convention of our summary's MAC count.
PUBLISHED_GMACS = {
  ('regnet_x_400mf', 224): 0.414,
  ('regnet_x_800mf', 224): 0.800,
  ('regnet_x_1_6gf', 224): 1.603,
  ('regnet_x_3_2gf', 224): 3.177,
  ('regnet_x_8gf', 224): 7.995,
  ('regnet_x_16gf', 224): 15.941,
  ('regnet_x_32gf', 224): 31.736,
  ('regnet_y_400mf', 224): 0.402,
  ('regnet_y_800mf', 224): 0.834,
  ('regnet_y_1_6gf', 224): 1.612,
  ('regnet_y_3_2gf', 224): 3.176,
  ('regnet_y_8gf', 224): 8.473,
  ('regnet_y_16gf', 224): 15.912,
  ('regnet_y_32gf', 224): 32.280,
  ('regnet_y_128gf', 224): 127.518,
  ('regnet_y_16gf', 384): 46.735,  # SWAG end-to-end weights at 384
  ('regnet_y_32gf', 384): 94.826,
  ('regnet_y_128gf', 384): 374.570,
}


@pytest.mark.parametrize(
  'name,size',
  [
    pytest.param(
      *key,
      id=f'{key[0]}-{key[1]}',
      marks=() if key == ('regnet_y_400mf', 224) else pytest.mark.slow,
    )
    for key in PUBLISHED_GMACS
  ],
)
def test_macs_match_torchvisions_published_ops(name, size):
  s = layer_table.summarize(models.build(name), (size, size, 3), name=name)
  published = PUBLISHED_GMACS[(name, size)] * 1e9
  # The issue asks for 2%; the count agrees to the published 3 decimals.
  assert s.macs == pytest.approx(published, rel=2e-3)


@pytest.mark.slow
def test_small_variant_trains_on_fashion_mnist():
  """40 AdamW steps of 32 real Fashion-MNIST images through the project's
  train step: the loss falls from about log(10).

  (SGD at the few-step scale is no test: with momentum 0.9 and lr >= 0.01
  RegNetY's loss first rises, in torchvision's model as in ours.)
  """
  from cnn_jax.data import raw_files  # pylint: disable=g-import-not-at-top
  from cnn_jax.training import optim, sharding, train_step, trainer  # pylint: disable=g-import-not-at-top
  from configs import regnet_fashion_mnist  # pylint: disable=g-import-not-at-top

  directory = raw_files.DEBIAN_DIRS['fashion_mnist'][1]
  if not raw_files.has_files('fashion_mnist', directory):
    pytest.skip(f'Fashion-MNIST is not in {directory} (bash setup.sh)')
  steps, batch = 40, 32
  images, labels = raw_files.read_split('fashion_mnist', directory, 'train')
  images = (images[: steps * batch] / 255.0 - 0.2860) / 0.3530
  labels = labels[: steps * batch].astype(np.int32)
  c = regnet_fashion_mnist.get_config()
  c.batch_size = batch
  c.optimizer = 'adamw'
  c.learning_rate = 1e-3
  c.weight_decay = 0.0
  c.lr_schedule = 'constant'
  c.warmup_epochs = 0.0
  model = trainer.build_model(c, 10)
  schedule = optim.learning_rate_schedule(c, steps, steps)
  mesh = sharding.make_mesh(c.num_devices)
  state = train_step.create_train_state(
    model, optim.make_optimizer(c, schedule), (28, 28, 1), jax.random.key(0)
  )
  state = jax.device_put(state, sharding.replicated(mesh))
  train, _ = train_step.compile_steps(c, mesh, state, 10, schedule)
  losses = []
  for i in range(steps):
    part = slice(i * batch, (i + 1) * batch)
    b = {'image': images[part].astype(np.float32), 'label': labels[part]}
    state, metrics = train(state, sharding.global_batch(b, mesh))
    losses.append(float(metrics.compute()['loss']))
  first, last = np.mean(losses[:5]), np.mean(losses[-5:])
  print(f'loss: first 5 steps {first:.3f}, last 5 {last:.3f}')
  assert np.all(np.isfinite(losses))
  assert abs(losses[0] - np.log(10)) < 0.3
  assert last < 0.7 * first, losses
