"""The GPU campaign (experiments/gpu) starts and runs every part, on a CPU.

The dry run is the whole campaign at toy size, with TensorFlow hidden as on
the GPU machine; the other tests check its budget arithmetic and report.
"""

import json
import os
import subprocess
import sys

import pytest

from experiments.gpu import campaign, parts
from tests import hidden_tensorflow
from tests.hidden_tensorflow import HIDE_TF

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_budget_takes_the_recipe_when_it_fits():
  b = parts.size_budget(
    seconds=100,
    steps_per_epoch=10,
    step_s=0.01,
    eval_s=0.1,
    recipe_epochs=180,
    fixed_s=20,
  )
  assert b['num_epochs'] == 180 and b['fits_recipe']
  assert b['predicted_s'] <= 100


def test_budget_takes_the_most_epochs_that_fit():
  b = parts.size_budget(
    seconds=100,
    steps_per_epoch=100,
    step_s=0.01,
    eval_s=1.0,
    recipe_epochs=180,
    fixed_s=20,
  )
  # 100 - 20 fixed - 3 final evals - 6 evals = 71 s at 1 s per epoch.
  assert b['num_epochs'] == 71 and not b['fits_recipe']
  assert b['eval_every_epochs'] == 12 and b['num_train_steps'] is None
  assert b['predicted_s'] <= 100


def test_budget_falls_back_to_steps():
  b = parts.size_budget(
    seconds=30,
    steps_per_epoch=1000,
    step_s=0.01,
    eval_s=1.0,
    recipe_epochs=180,
    fixed_s=20,
  )
  assert b['num_train_steps'] == 600 and b['num_epochs'] == 0.6


def test_summary_reads_partial_records():
  record = {
    'command': ['x'],
    'dry_run': False,
    'budget_s': 480,
    'started': 'now',
    'commit': 'abc',
    'elapsed_s': 10,
    'parts': {
      'env': {'status': 'ok', 'result': {'nvidia_smi': 'H200'}},
      'resnet50_ours': {
        'status': 'ok',
        'result': {
          'batches': {
            '256': {
              'train': {'images_per_s': 6000.0, 'mfu': 0.4, 'compile_s': 30.0},
              'eval': {'images_per_s': 20000.0, 'batch_size': 256},
            }
          }
        },
      },
      'resnet50_torch': {'status': 'stopped at its 130 s limit'},
      'seed:ResNet': {'status': 'failed (exit 1)'},
      'plain:PlainNet-2552': {
        'status': 'ok',
        'result': {
          'model': 'plain30_keras',
          'recipe_epochs': 15.0,
          'budget': {'num_epochs': 15.0},
          'result': {'test': {'accuracy': 0.9}},
        },
      },
      'xla:baseline': {
        'status': 'ok',
        'result': {'train': {'images_per_s': 100.0}},
      },
      'xla:--flag': {
        'status': 'ok',
        'result': {'train': {'images_per_s': 110.0}},
      },
    },
  }
  text = campaign.summary(record)
  assert '| 256 | 6,000 | 40.0% | 30.0 |' in text
  assert 'Eval step (batch 256): ours 20,000 img/s' in text
  assert 'stopped at its 130 s limit' in text
  assert '| ResNet (`?`) |' in text and 'failed (exit 1)' in text
  assert '| PlainNet-2552 (`plain30_keras`) | 15.00 / 15 | 90.00% |' in text
  assert '| `--flag` | 110 | +10.0% |' in text


def test_toy_idx_files_read_back(tmp_path):
  from cnn_jax.data import raw_files  # pylint: disable=g-import-not-at-top

  campaign.write_toy_idx_files(str(tmp_path), n_train=30, n_test=10)
  images, labels = raw_files.read_idx(str(tmp_path), 'test')
  assert images.shape == (10, 28, 28, 1) and labels.max() < 10


def test_run_sh_starts_the_campaign(tmp_path):
  env = dict(os.environ, PY=sys.executable, PYTHONPATH=HIDE_TF)
  proc = subprocess.run(
    [
      'bash',
      'experiments/gpu/run.sh',
      '--dry_run',
      '--parts=env',
      f'--out={tmp_path}',
    ],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=600,
    check=False,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  record = json.loads((tmp_path / 'campaign.json').read_text())
  env_part = record['parts']['env']
  assert env_part['status'] == 'ok', env_part
  assert env_part['result']['versions']['jax']
  assert env_part['result']['jax_backend'] == 'cpu'


@pytest.mark.slow
def test_dry_run_runs_every_part(tmp_path):
  """The whole campaign at toy size, TensorFlow hidden: every part runs."""
  env = hidden_tensorflow.environment()
  out = tmp_path / 'out'
  for run in (
    ['--parts=env,resnet50,seed_models,resnet_vs_plain'],
    ['--parts=xla_flags'],
  ):
    proc = subprocess.run(
      [
        sys.executable,
        '-m',
        'experiments.gpu.campaign',
        '--dry_run',
        f'--out={out}',
        *run,
      ],
      cwd=ROOT,
      env=env,
      capture_output=True,
      text=True,
      timeout=3000,
      check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((out / 'campaign.json').read_text())
    statuses = {k: v['status'] for k, v in record['parts'].items()}
    # Each run writes its own record and summary of the parts it ran.
    text = (out / 'summary.md').read_text()
    assert 'DRY RUN' in text
    if run == ['--parts=xla_flags']:
      assert '| `--xla_no_such_flag_here=1` |' in text
      assert statuses == {
        'env': 'ok',
        'xla:baseline': 'ok',
        'xla:baseline_end': 'ok',
        'xla:--xla_gpu_enable_latency_hiding_scheduler=true': 'ok',
        'xla:--xla_no_such_flag_here=1': statuses[
          'xla:--xla_no_such_flag_here=1'
        ],
      }
      assert statuses['xla:--xla_no_such_flag_here=1'].startswith('failed')
      continue
    assert set(statuses.values()) == {'ok'}, statuses
    p = record['parts']
    ours = p['resnet50_ours']['result']['batches']
    theirs = p['resnet50_torch']['result']['batches']
    assert set(ours) == set(theirs) == {'4', '2', '8'}
    assert ours['4']['eval']['images_per_s'] > 0
    assert p['resnet50_torch']['result']['eval']['images_per_s'] > 0
    assert theirs['4']['params'] == 61_706  # LeNet-5, the dry run's stand-in
    for label in campaign.SEED_MODELS:
      r = p[f'seed:{label}']['result']
      assert r['probe']['feed_images_per_s'] > 0
      assert r['budget']['num_epochs'] <= 1  # max_epochs of the dry run
      assert r['budget']['dtype'] == 'float32'  # the recipes' own
      assert r['result']['test']['num_examples'] == 150
      assert r['result']['validation']['num_examples'] == 100
    assert '| GoogleNet (`lenet5`) | 1.00 / 180 |' in text
    for label in campaign.RESNET_VS_PLAIN:
      r = p[f'plain:{label}']['result']
      assert r['recipe_epochs'] == campaign.RESNET_VS_PLAIN_EPOCHS
      assert r['budget']['dtype'] == campaign.RESNET_VS_PLAIN_DTYPE
      assert r['budget']['lr_boundaries'] == [
        7.5 * r['budget']['num_epochs'] / 15,
        11.25 * r['budget']['num_epochs'] / 15,
      ]
      steps = [s for s, _ in r['curves']['train_accuracy']]
      assert steps and steps == sorted(steps)
      assert r['curves']['validation_accuracy']
    assert '| ResNet-2552 (`lenet5`) | 1.00 / 15 |' in text
  assert sorted(os.listdir(out)) == [
    'campaign.json',
    'campaign.log',
    'summary.md',
  ]
