"""User errors end every command with one message and exit status 2; bugs,
and user errors with --config.debug=True / --debug, keep their traceback.

Each case is a real subprocess; they run side by side.
"""

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = [
  sys.executable,
  '-m',
  'cnn_jax.main',
  '--config=configs/lenet5_fashion_mnist.py',
]


def _run_all(cases):
  """{name: (returncode, stderr, stdout)} of commands run side by side."""
  env = dict(os.environ, PYTHONPATH=ROOT)
  procs = {
    name: subprocess.Popen(
      cmd,
      cwd=ROOT,
      env=env,
      text=True,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
    )
    for name, cmd in cases.items()
  }
  out = {}
  for name, proc in procs.items():
    stdout, stderr = proc.communicate(timeout=600)
    out[name] = (proc.returncode, stderr, stdout)
  return out


@pytest.fixture(scope='module')
def results(tmp_path_factory):
  tmp = tmp_path_factory.mktemp('cli')
  sweep = tmp / 'typo_sweep.py'
  sweep.write_text(
    textwrap.dedent("""
      from experiments.sweep import Run
      NAME = 'typo'
      CONFIG = 'configs/lenet5_fashion_mnist.py'
      COMMON = dict(num_train_step=10)
      RUNS = [Run('a', {'batch_size': 0}), Run('b', {})]
  """)
  )
  wd = lambda name: f'--workdir={tmp / name}'  # noqa: E731
  return _run_all(
    {
      'batch_zero': MAIN + [wd('a'), '--config.batch_size=0'],
      'batch_zero_debug': MAIN
      + [wd('b'), '--config.batch_size=0', '--config.debug=True'],
      'unknown_field': MAIN + [wd('c'), '--config.batch_sizee=3'],
      'missing_config': [
        sys.executable,
        '-m',
        'cnn_jax.main',
        '--config=configs/nope.py',
        wd('g'),
      ],
      'unknown_model': MAIN + [wd('d'), '--config.model=lenet7'],
      'missing_dataset': MAIN
      + [
        wd('e'),
        '--config.dataset=cifar10',
        f'--config.data_dir={tmp / "no_data"}',
      ],
      'batch_vs_devices': MAIN + [wd('f'), '--config.host_devices=3'],
      'convert': [
        sys.executable,
        '-m',
        'cnn_jax.convert',
        '--source=torchvision',
        '--model=resnet_18',
        f'--out={tmp / "out"}',
      ],
      'summary': [sys.executable, '-m', 'cnn_jax.summary', '--model=resnet_18'],
      'summary_debug': [
        sys.executable,
        '-m',
        'cnn_jax.summary',
        '--model=resnet_18',
        '--debug',
      ],
      'benchmark': [
        sys.executable,
        '-m',
        'cnn_jax.benchmark',
        '--config=configs/lenet5_fashion_mnist.py',
        '--config.dtype=float8',
      ],
      'sweep': [
        sys.executable,
        '-m',
        'experiments.sweep',
        str(sweep),
        f'--runs_dir={tmp / "runs"}',
        f'--results_dir={tmp}',
      ],
      'sweep_missing': [
        sys.executable,
        '-m',
        'experiments.sweep',
        str(tmp / 'nope.py'),
      ],
      'bug': [
        sys.executable,
        '-c',
        textwrap.dedent("""
          from cnn_jax import errors
          def main(argv):
            raise RuntimeError('a bug')
          errors.run(main)
      """),
      ],
    }
  )


def _one_message(result, *expected):
  code, stderr, _ = result
  assert code == 2, stderr[-3000:]
  assert 'Traceback' not in stderr, stderr[-3000:]
  message = stderr[stderr.index('Error: ') :]  # nothing else after it
  for text in expected:
    assert text in message, message
  return message


@pytest.mark.parametrize(
  'case, expected',
  [
    (
      'batch_zero',
      ['Error: Bad config: batch_size=0: must be an integer >= 1'],
    ),
    (
      'unknown_field',
      [
        'Error: --config.batch_sizee=3: the config has no field '
        "'batch_sizee'. Did you mean --config.batch_size?"
      ],
    ),
    ('missing_config', ['Error: --config=configs/nope.py: no such file']),
    ('unknown_model', ["Unknown model 'lenet7'. Did you mean 'lenet5'?"]),
    (
      'missing_dataset',
      ["Error: Dataset 'cifar10' is not prepared in", 'tfds build cifar10'],
    ),
    (
      'batch_vs_devices',
      [
        'batch_size=128 does not divide over the 3 devices',
        'eval_batch_size=512 does not divide over the 3',
      ],
    ),
    ('convert', ["Unknown model 'resnet_18'. Did you mean 'resnet18'?"]),
    ('summary', ["Unknown model 'resnet_18'. Did you mean 'resnet18'?"]),
    ('benchmark', ["dtype='float8' is not one of: float32, bfloat16."]),
    (
      'sweep',
      [
        "typo_sweep.py: 3 problem(s) in its runs' configs, nothing was "
        "run:\n  - a: the config has no field 'num_train_step'. Did you "
        "mean 'num_train_steps'?\n  - a: batch_size=0: must be an "
        'integer >= 1',
        "\n  - b: the config has no field 'num_train_step'.",
      ],
    ),
    ('sweep_missing', ['No sweep file ', 'experiments/sweeps/']),
  ],
)
def test_user_errors_are_one_message(results, case, expected):
  message = _one_message(results[case], *expected)
  if case not in ('batch_vs_devices', 'sweep'):
    assert message.count('\n') == 1, message  # a single line


def test_debug_shows_the_traceback(results):
  for case in ('batch_zero_debug', 'summary_debug'):
    code, stderr, _ = results[case]
    assert code != 0
    assert 'Traceback' in stderr, stderr[-3000:]
    assert 'Error' in stderr.strip().splitlines()[-1]


def test_bugs_keep_their_traceback(results):
  code, stderr, _ = results['bug']
  assert code == 1
  assert 'Traceback' in stderr and 'RuntimeError: a bug' in stderr
