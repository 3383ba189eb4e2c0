"""The flagship command, end to end, on ImageNet-format tars.

``python -m cnn_jax.main --config=configs/resnet50_imagenet.py`` as a user
types it, with overrides for size and steps only: generated ILSVRC2012 tars
in the manual directory are prepared by TFDS's real imagenet2012 builder on
the first run (no flag), the run trains and evaluates; a second run is
killed (SIGKILL) after a checkpoint and the same command resumes it, ending
exactly where the uninterrupted run ended.
"""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from cnn_jax.training import checkpointing
from experiments.benchmarks import imagenet_like

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 10  # two epochs of 5 steps: (48 - 8 validation) / 8


def _command(workdir, data_dir, manual_dir):
  return [
    sys.executable,
    '-m',
    'cnn_jax.main',
    '--config=configs/resnet50_imagenet.py',
    f'--workdir={workdir}',
    f'--config.data_dir={data_dir}',
    f'--config.manual_dir={manual_dir}',
    '--config.image_size=64',
    '--config.batch_size=8',
    '--config.eval_batch_size=8',
    '--config.validation_examples=8',
    f'--config.num_train_steps={STEPS}',
    '--config.checkpoint_every_steps=4',
    '--config.log_every_steps=1',
  ]


def _results(workdir):
  with open(os.path.join(workdir, 'results.json')) as f:
    return json.load(f)


@pytest.mark.slow
def test_the_flagship_command_prepares_trains_is_killed_and_resumes(tmp_path):
  manual, data = str(tmp_path / 'manual'), str(tmp_path / 'tfds')
  imagenet_like.write_tars(manual, train=48, val=12, classes=4)
  env = dict(os.environ, PYTHONPATH=ROOT)

  straight_dir = str(tmp_path / 'straight')
  straight = subprocess.run(
    _command(straight_dir, data, manual),
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=900,
  )
  assert straight.returncode == 0, straight.stderr[-3000:]
  assert 'imagenet2012 is not prepared' in straight.stderr  # then prepared
  assert 'input: tfdata' in straight.stderr
  reference = _results(straight_dir)
  assert reference['step'] == STEPS and reference['model'] == 'resnet50'
  assert reference['validation']['num_examples'] == 8  # each exactly once
  assert reference['test']['num_examples'] == 12

  workdir = str(tmp_path / 'killed')
  cmd = _command(workdir, data, manual)
  proc = subprocess.Popen(
    cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
  )
  log = []
  deadline = time.time() + 900
  for line in proc.stderr:
    log.append(line)
    if f'step 5/{STEPS}' in line:  # step 4's checkpoint is being written
      break
    assert time.time() < deadline, ''.join(log[-20:])
  saved = os.path.join(workdir, 'checkpoints', '4')
  while not os.path.isdir(saved) and time.time() < deadline:
    time.sleep(0.1)
  proc.send_signal(signal.SIGKILL)
  proc.communicate(timeout=120)
  assert proc.returncode == -signal.SIGKILL
  assert not os.path.exists(os.path.join(workdir, 'results.json'))

  resumed = subprocess.run(
    cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
  )
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f'Resumed from {workdir} at step 4' in resumed.stderr
  results = _results(workdir)
  assert results['step'] == STEPS
  assert results['validation'] == reference['validation']
  assert results['test'] == reference['test']
  trees = [
    checkpointing.load_variables(os.path.join(d, 'checkpoints'))
    for d in (straight_dir, workdir)
  ]
  jax.tree.map(np.testing.assert_array_equal, *trees)
