"""``python -m cnn_jax.main``: the default workdir and one console line per
metric (TensorBoard events still written)."""

import os
import subprocess
import sys

import pytest

from cnn_jax import main
from cnn_jax.analysis import scalars as scalars_lib
from examples import shapes_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize(
  'arg,expected',
  [
    ('configs/resnet50_imagenet.py', 'workdirs/resnet50_imagenet'),
    ('/abs/configs/x.py:variant=b3', 'workdirs/x_b3'),
    (
      'configs/efficientnet_b0_imagenet.py:b3',
      'workdirs/efficientnet_b0_imagenet_b3',
    ),
    ('configs/x.py:model=resnet18,size=224', 'workdirs/x_resnet18_224'),
    ('x.py:a b/c', 'workdirs/x_a_b_c'),
  ],
)
def test_default_workdir(arg, expected):
  assert main.default_workdir(arg) == expected


def test_runs_without_workdir_and_prints_each_metric_once(tmp_path):
  data = shapes_folder.write(str(tmp_path / 'shapes'), {'train': 6, 'test': 2})
  cmd = [
    sys.executable,
    '-m',
    'cnn_jax.main',
    f'--config={ROOT}/configs/image_folder.py',
    f'--config.image_folder={data}',
    '--config.model=lenet5',
    '--config.image_size=32',
    '--config.batch_size=4',
    '--config.eval_batch_size=4',
    '--config.num_train_steps=8',
    '--config.log_every_steps=4',
    '--config.eval_every_epochs=2',
    '--config.cpu_tuning=none',
  ]
  env = dict(os.environ, PYTHONPATH=ROOT)
  proc = subprocess.run(
    cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.splitlines()[0].startswith(
    'Workdir: workdirs/image_folder '
  )
  workdir = tmp_path / 'workdirs' / 'image_folder'
  assert (workdir / 'results.json').exists()
  assert (workdir / 'model.json').exists()
  log = proc.stderr.splitlines()
  for step in ('step 4/8', 'step 8/8 '):
    assert sum(step in line for line in log) == 1, [l for l in log if step in l]
  assert sum(' validation: {' in line for line in log) == 1
  # CLU's LoggingWriter printed 'train_loss=...' lines next to ours.
  assert not any('train_loss=' in line for line in log)
  scalars = scalars_lib.read_scalars(str(workdir))
  assert [s for s, _ in scalars['train_loss']] == [4, 8]
  assert 'validation_accuracy' in scalars
