"""Without TensorFlow: the synthetic benchmark and training on Fashion-MNIST.

Each command runs in a subprocess that sees only the GPU machine's packages
and the campaign's carried ones (``tests/gpu_machine_python.py``), so
``tensorflow`` and ``tensorflow_datasets`` are not installed. Fashion-MNIST is then read from its IDX ``.gz`` files.
"""

import json

import pytest

from cnn_jax.data import raw_files
from tests.gpu_machine_python import run as _run

FMNIST_FILES = raw_files.DEBIAN_DIRS['fashion_mnist'][1]


def test_tensorflow_is_hidden():
  proc = _run(
    [
      '-c',
      'import importlib.util as u; '
      'assert u.find_spec("tensorflow") is None; '
      'assert u.find_spec("tensorflow_datasets") is None; '
      'import tensorflow',
    ]
  )
  assert 'ModuleNotFoundError' in proc.stderr


def test_imports_do_not_need_tensorflow():
  proc = _run(
    [
      '-c',
      '; '.join(
        [
          'import sys',
          'import cnn_jax.training.trainer, cnn_jax.benchmark, cnn_jax.models',
          'import cnn_jax.data.device_pipeline, cnn_jax.data.pipeline',
          'import cnn_jax.analysis.scalars, cnn_jax.main',
          'from cnn_jax import models; models.import_all()',
          'print(sorted(m for m in sys.modules if m.startswith("tensorflow")))',
        ]
      ),
    ]
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.strip() == '[]'


def test_synthetic_benchmark_runs_without_tensorflow(tmp_path):
  out = tmp_path / 'bench.json'
  proc = _run(
    [
      '-m',
      'cnn_jax.benchmark',
      '--config=configs/lenet5_fashion_mnist.py',
      '--config.dataset=synthetic',
      '--config.batch_size=32',
      '--config.eval_batch_size=32',
      '--steps=3',
      '--warmup=1',
      '--input_batches=3',
      f'--json_out={out}',
    ]
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  r = json.loads(out.read_text())
  assert r['train']['images_per_s'] > 0 and r['eval']['images_per_s'] > 0
  assert r['input']['input_pipeline'] == 'device'
  assert r['input']['source'] == 'synthetic'


@pytest.mark.skipif(
  not raw_files.has_files('fashion_mnist', FMNIST_FILES),
  reason='Fashion-MNIST IDX files not installed',
)
def test_trains_20_steps_on_fashion_mnist_from_its_files(tmp_path):
  workdir = tmp_path / 'run'
  proc = _run(
    [
      '-m',
      'cnn_jax.main',
      '--config=configs/lenet5_fashion_mnist.py',
      f'--workdir={workdir}',
      '--config.num_train_steps=20',
      '--config.log_every_steps=10',
      '--config.augment=crop_pad,flip',
      '--config.crop_padding=2',
      # An empty TFDS dir: nothing prepared could be read by mistake.
      f'--config.data_dir={tmp_path / "tfds"}',
    ]
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'input: device (read from files)' in proc.stderr
  results = json.loads((workdir / 'results.json').read_text())
  assert results['step'] == 20
  assert results['test']['num_examples'] == 10_000
  assert results['validation']['num_examples'] == 5_000
  assert results['test']['accuracy'] > 0.3  # 10 classes: chance is 0.1
  from cnn_jax.analysis import scalars  # pylint: disable=g-import-not-at-top

  losses = scalars.read_scalars(str(workdir))['train_loss']
  assert [s for s, _ in losses] == [10, 20] and losses[1][1] < losses[0][1]


def test_tfdata_path_says_what_to_do_without_tensorflow(tmp_path):
  args = [
    '-m',
    'cnn_jax.main',
    '--config=configs/lenet5_fashion_mnist.py',
    f'--workdir={tmp_path}',
    '--config.num_train_steps=1',
    f'--config.data_dir={tmp_path / "tfds"}',
  ]
  proc = _run(args + ['--config.input_pipeline=tfdata'])
  assert proc.returncode != 0
  assert (
    'input_pipeline=tfdata needs TensorFlow and TensorFlow Datasets'
    in proc.stderr
  )
  proc = _run(args + ['--config.manual_dir=/nonexistent'])
  assert proc.returncode != 0
  assert (
    "Dataset 'fashion_mnist' was not found: TensorFlow Datasets is not "
    'installed here, and /nonexistent does not hold the four IDX files'
    in proc.stderr
  )
