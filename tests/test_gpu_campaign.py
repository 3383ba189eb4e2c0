"""The GPU campaign (experiments/gpu) starts and runs every part, on a CPU.

The dry run is the whole campaign at toy size, started by run.sh in an
interpreter that has only the GPU machine's packages (its published list,
experiments/gpu/machine_packages.txt) and the wheels fetch.sh carries; the
other tests check the carry, the exit status, the budget arithmetic and the
report.
"""

import json
import os
import re
import subprocess
import sys
import zipfile

import pytest

from experiments.gpu import campaign, parts
from tests import gpu_machine_python

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
      'env': {
        'status': 'ok',
        'result': {'nvidia_smi': 'H200', 'jax_devices': ['gpu:NVIDIA H200']},
      },
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
  assert text.splitlines()[2] == (
    '**2 of 7 parts failed**: `resnet50_torch` (stopped at its 130 s '
    'limit), `seed:ResNet` (failed (exit 1))'
  )
  assert '## ? train step on gpu:NVIDIA H200' in text
  assert (
    'Best: 6,000 img/s at batch 256; target >= 8,000 img/s on this GPU: '
    'MISSED; >= 1.2x PyTorch: n/a.'
  ) in text
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


@pytest.fixture(scope='module')
def carry(tmp_path_factory):
  """What fetch.sh carries (wheels from PyPI), for this interpreter."""
  out = tmp_path_factory.mktemp('carry') / 'carry'
  env = dict(
    os.environ,
    PY=sys.executable,
    CARRY=str(out),
    FOR_PYTHON='%d.%d' % sys.version_info[:2],
  )
  proc = subprocess.run(
    ['bash', 'experiments/gpu/fetch.sh'],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=600,
    check=False,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  return out


def run_sh(args, carry, tmp_path, timeout=600, **env):
  """``run.sh ARGS`` as on the GPU machine: its packages, ``carry``'s wheels
  installed as run.sh installs them; (process, the imports it hid)."""
  hidden = tmp_path / 'hidden_imports.log'
  env = gpu_machine_python.environment(
    carried=False,
    PY=sys.executable,
    CARRY=str(carry),
    CNN_JAX_HIDDEN_LOG=str(hidden),
    **env,
  )
  env['PYTHONPATH'] = gpu_machine_python.SITECUSTOMIZE  # run.sh adds the rest
  proc = subprocess.run(
    ['bash', 'experiments/gpu/run.sh', *args],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=timeout,
    check=False,
  )
  return proc, (hidden.read_text() if hidden.exists() else '')


def test_run_sh_starts_the_campaign(carry, tmp_path):
  out = tmp_path / 'out'
  proc, hidden = run_sh(
    ['--dry_run', '--parts=env', f'--out={out}'], carry, tmp_path
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  record = json.loads((out / 'campaign.json').read_text())
  env_part = record['parts']['env']
  assert env_part['status'] == 'ok', env_part
  versions = env_part['result']['versions']
  assert versions['jax'] and versions['clu'] == '0.0.12'  # the carried one
  assert versions['tensorflow'] is None  # not on the GPU machine
  assert env_part['result']['jax_backend'] == 'cpu'


def test_run_sh_without_the_carry_says_how_to_fetch(tmp_path):
  proc, _ = run_sh(['--dry_run'], tmp_path / 'no_carry', tmp_path)
  assert proc.returncode == 2
  assert "run 'bash experiments/gpu/fetch.sh'" in proc.stderr


def test_a_failed_part_fails_the_run_and_heads_the_summary(carry, tmp_path):
  out = tmp_path / 'out'
  proc, _ = run_sh(
    ['--dry_run', '--parts=env', f'--out={out}'],
    carry,
    tmp_path,
    XLA_FLAGS='--xla_no_such_flag_for_this_test=1',  # JAX aborts at start
  )
  assert proc.returncode == 1, proc.stderr[-3000:]
  assert 'FAILED: env' in proc.stdout
  summary = (out / 'summary.md').read_text().splitlines()
  assert summary[2].startswith('**1 of 1 parts failed**: `env` (failed')
  assert '### `env`: the last lines of its output' in summary
  assert any('xla_no_such_flag_for_this_test' in line for line in summary)
  # A rerun into the same folder starts a fresh log.
  run_sh(['--dry_run', '--parts=env', f'--out={out}'], carry, tmp_path)
  assert (out / 'campaign.log').read_text().count('===== env') == 1


def test_a_distribution_the_machine_lacks_is_named(tmp_path):
  """Issue 30's case: a machine without wrapt, a carry without it."""
  machine = [
    n for n in gpu_machine_python.listed('machine_packages.txt') if n != 'wrapt'
  ]
  listing = tmp_path / 'machine.txt'
  listing.write_text('\n'.join(machine) + '\n')
  hidden = tmp_path / 'hidden.log'
  proc = gpu_machine_python.run(
    ['-c', 'import clu.metrics'],
    carried=False,
    CNN_JAX_CARRIED='ml-collections,clu',
    CNN_JAX_MACHINE_PACKAGES=str(listing),
    CNN_JAX_HIDDEN_LOG=str(hidden),
  )
  assert "ModuleNotFoundError: No module named 'wrapt'" in proc.stderr
  assert hidden.read_text().split() == ['wrapt', 'wrapt']


def test_carried_wheels_need_only_the_machine_and_each_other(carry):
  """Each carried wheel's requirements (Python 3.12, no extras) are on the
  machine's list or carried too, at the pins of requirements.txt."""
  from packaging.markers import default_environment  # pylint: disable=g-import-not-at-top
  from packaging.requirements import Requirement  # pylint: disable=g-import-not-at-top

  norm = lambda n: re.sub(r'[-_.]+', '-', n).lower()  # noqa: E731
  there = {norm(n) for n in gpu_machine_python.listed('machine_packages.txt')}
  carried = {norm(n) for n in gpu_machine_python.listed('carried_packages.txt')}
  environment = {**default_environment(), 'python_version': '3.12'}
  wheels = sorted((carry / 'wheels').glob('*.whl'))
  assert {norm(w.name.split('-')[0]) for w in wheels} == carried
  missing = {}
  for wheel in wheels:
    with zipfile.ZipFile(wheel) as z:
      meta = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))
      text = z.read(meta).decode()
    for line in text.splitlines():
      if not line.startswith('Requires-Dist:'):
        continue
      req = Requirement(line.split(':', 1)[1].strip())
      if req.marker and not req.marker.evaluate({**environment, 'extra': ''}):
        continue
      if norm(req.name) not in there | carried:
        missing.setdefault(wheel.name, []).append(req.name)
  assert not missing, missing


@pytest.mark.slow
def test_dry_run_runs_every_part(carry, tmp_path):
  """The whole campaign at toy size through run.sh, as on the GPU machine
  (its packages, the carry installed as there): every part runs."""
  out = tmp_path / 'out'
  for run in (
    ['--parts=env,resnet50,seed_models,resnet_vs_plain'],
    ['--parts=xla_flags'],
  ):
    proc, hidden = run_sh(
      ['--dry_run', f'--out={out}', *run], carry, tmp_path, timeout=3000
    )
    # What the GPU machine would lack, if a part failed for it:
    assert proc.returncode == 0, (hidden, proc.stdout[-3000:])
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
        'xla:--xla_no_such_flag_here=1': campaign.REJECTED,
      }
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
    campaign.PROFILE_FILE,
    'summary.md',
  ]
  with zipfile.ZipFile(out / campaign.PROFILE_FILE) as z:
    names = z.namelist()
  assert any(n.endswith('.xplane.pb') for n in names), names
  assert any(n.endswith('.trace.json.gz') for n in names), names
