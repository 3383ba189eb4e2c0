"""End to end on real Fashion-MNIST: learning, determinism, kill and resume,
non-finite loss, eval-only and init_from."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from cnn_jax.analysis import scalars as scalars_lib
from cnn_jax.training import checkpointing, trainer
from configs import lenet5_fashion_mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A short run: 240 steps of 64, final evaluation on 2,000 val + 10,000 test.
OVERRIDES = dict(
  num_train_steps=240,
  batch_size=64,
  validation_examples=2000,
  eval_every_epochs=1000.0,
  log_every_steps=40,
  checkpoint_every_steps=40,
  eval_batch_size=1000,
  shuffle_buffer=10_000,
)


def _config(**overrides):
  c = lenet5_fashion_mnist.get_config()
  for k, v in {**OVERRIDES, **overrides}.items():
    setattr(c, k, v)
  return c


def _cli_overrides(**overrides):
  return [f'--config.{k}={v}' for k, v in {**OVERRIDES, **overrides}.items()]


@pytest.fixture(scope='module')
def reference_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('reference'))
  return workdir, trainer.train_and_evaluate(_config(), workdir)


def test_loss_goes_down_and_learns(reference_run):
  workdir, results = reference_run
  losses = [v for _, v in scalars_lib.read_scalars(workdir)['train_loss']]
  assert len(losses) == 6
  assert losses[-1] < 0.5 * losses[0]
  assert results['validation']['accuracy'] > 0.75
  assert results['test']['accuracy'] > 0.75
  assert results['test']['num_examples'] == 10_000
  assert results['validation']['num_examples'] == 2_000
  assert results['num_params'] == 61_706
  scalars = scalars_lib.read_scalars(workdir)
  for tag in (
    'train_accuracy',
    'train_learning_rate',
    'train_images_per_sec',
    'train_steps_per_sec',
    'validation_accuracy',
    'validation_top5_accuracy',
    'final_test_accuracy',
  ):
    assert tag in scalars, sorted(scalars)
  with open(os.path.join(workdir, 'results.json')) as f:
    assert json.load(f)['test'] == results['test']


def test_same_seed_same_metrics(reference_run, tmp_path):
  _, reference = reference_run
  again = trainer.train_and_evaluate(_config(), str(tmp_path))
  assert again['validation'] == reference['validation']
  assert again['test'] == reference['test']


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(reference_run, tmp_path):
  """SIGTERM to a real training process, then the same command resumes."""
  _, reference = reference_run
  workdir = str(tmp_path)
  # cpu_tuning=none: XLA's default flags, as in the in-process reference run
  # (this process's backend started without the tuning; its XLA flags change
  # float rounding in the 7th digit).
  cmd = [
    sys.executable,
    '-m',
    'cnn_jax.main',
    '--config=configs/lenet5_fashion_mnist.py',
    f'--workdir={workdir}',
    *_cli_overrides(),
    '--config.cpu_tuning=none',
  ]
  env = dict(os.environ, PYTHONPATH=ROOT)
  proc = subprocess.Popen(
    cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
  )
  log = []
  deadline = time.time() + 300
  for line in proc.stderr:
    log.append(line)
    if 'step 80/240' in line:  # mid-way: kill it
      proc.send_signal(signal.SIGTERM)
      break
    assert time.time() < deadline, ''.join(log[-20:])
  _, rest = proc.communicate(timeout=120)
  log.append(rest)
  assert proc.returncode == 0, ''.join(log[-30:])
  assert 'Stopped by signal 15' in rest
  stopped = checkpointing.Checkpointer(workdir).latest_step()
  assert 80 <= stopped < 240
  assert not os.path.exists(os.path.join(workdir, 'results.json'))

  resumed = subprocess.run(
    cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
  )
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f'Resumed from {workdir} at step {stopped}' in resumed.stderr
  with open(os.path.join(workdir, 'results.json')) as f:
    results = json.load(f)
  assert results['step'] == 240
  assert results['validation'] == reference['validation']
  assert results['test'] == reference['test']


def test_eval_only_restores_and_reports(reference_run, tmp_path):
  workdir, reference = reference_run
  results = trainer.train_and_evaluate(_config(eval_only=True), workdir)
  assert results['step'] == 240
  assert results['test'] == reference['test']
  with pytest.raises(FileNotFoundError, match='no checkpoint'):
    trainer.train_and_evaluate(_config(eval_only=True), str(tmp_path))


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  workdir = str(tmp_path)
  trainer.train_and_evaluate(_config(num_train_steps=40), workdir)
  with pytest.raises(
    trainer.NonFiniteLossError, match='last good checkpoint \\(step 40\\)'
  ):
    trainer.train_and_evaluate(
      _config(num_train_steps=120, learning_rate=1e30, lr_schedule='constant'),
      workdir,
    )
  checkpointer = checkpointing.Checkpointer(workdir)
  assert checkpointer.latest_step() == 40
  params = checkpointing.load_variables(workdir)['params']
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(params))


def test_init_from_replaces_a_mismatched_head(reference_run):
  workdir, _ = reference_run
  config = _config(num_classes=5, num_train_steps=1)
  model = trainer.build_model(config, 5)
  import optax  # pylint: disable=g-import-not-at-top
  from cnn_jax.training import train_step  # pylint: disable=g-import-not-at-top

  state = train_step.create_train_state(
    model, optax.sgd(0.1), (28, 28, 1), jax.random.key(1)
  )
  loaded = trainer.init_from_checkpoint(state, workdir)
  saved = checkpointing.load_variables(workdir)['params']
  np.testing.assert_array_equal(
    loaded.params['c1']['kernel'], saved['c1']['kernel']
  )
  assert loaded.params['output']['kernel'].shape == (84, 5)
  np.testing.assert_array_equal(
    loaded.params['output']['kernel'], state.params['output']['kernel']
  )


def test_unknown_model_lists_known_names(tmp_path):
  with pytest.raises(
    ValueError, match="Unknown model 'lenet7'. Did you mean 'lenet5'"
  ):
    trainer.train_and_evaluate(_config(model='lenet7'), str(tmp_path))


def test_debug_mode_catches_nans_and_runs_without_implicit_transfers(tmp_path):
  """debug=True: the loop has no implicit transfer, and NaNs raise at once."""
  results = trainer.train_and_evaluate(
    _config(debug=True, num_train_steps=40), str(tmp_path / 'ok')
  )
  assert results['step'] == 40
  with pytest.raises(FloatingPointError):
    trainer.train_and_evaluate(
      _config(
        debug=True,
        num_train_steps=40,
        learning_rate=1e30,
        lr_schedule='constant',
      ),
      str(tmp_path / 'nan'),
    )
  assert not jax.config.jax_debug_nans  # restored after the run


def test_trains_and_evaluates_on_two_host_devices_without_hanging(tmp_path):
  """The whole loop (device input, train steps, metrics, evaluation) on two
  XLA host devices with oneDNN convolutions, three times. Before the loop
  bounded its run-ahead, XLA:CPU's all-reduce waited forever here in most
  runs (the second device's step never got a slot in its queue)."""
  env = dict(os.environ)
  env.pop('XLA_FLAGS', None)
  for i in range(3):
    proc = subprocess.run(
      [
        sys.executable,
        '-m',
        'cnn_jax.main',
        '--config=configs/lenet5_fashion_mnist.py',
        f'--workdir={tmp_path / str(i)}',
        '--config.num_train_steps=5',
        '--config.host_devices=2',
        '--config.validation_examples=2000',
      ],
      cwd=ROOT,
      env=env,
      capture_output=True,
      text=True,
      timeout=300,
      check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(tmp_path / str(i) / 'results.json') as f:
      results = json.load(f)
    assert results['devices']['count'] == 2
    assert results['test']['num_examples'] == 10_000


def test_train_and_eval_metric_merges_never_share_a_compile_cache():
  # jax 0.10 treats the two collections' structures as equal (hashes
  # differ), so a shared jit cache could replay one class's trace for the
  # other on a hash collision: each class must get its own.
  from cnn_jax.training.train_step import EvalMetrics, TrainMetrics

  def outputs(extra, loss):
    return dict(loss=np.float32(loss), accuracy=np.float32(0.5), **extra)

  t = [
    TrainMetrics.single_from_model_output(**outputs({'learning_rate': lr}, x))
    for x, lr in ((1.0, 0.1), (3.0, 0.2))
  ]
  e = [
    EvalMetrics.single_from_model_output(**outputs({'top5_accuracy': 1.0}, x))
    for x in (2.0, 6.0)
  ]
  assert jax.tree_util.tree_structure(t[0]) == jax.tree_util.tree_structure(
    e[0]
  ), 'jax now tells the classes apart; the per-class cache can go'
  assert trainer._merge_fn(TrainMetrics) is not trainer._merge_fn(EvalMetrics)
  train = trainer._merge(*t).compute()
  evaluated = trainer._merge(*e).compute()
  assert set(train) == {'loss', 'accuracy', 'learning_rate'}
  assert set(evaluated) == {'loss', 'accuracy', 'top5_accuracy'}
  assert float(train['loss']) == 2.0 and train['learning_rate'] == np.float32(
    0.2
  )
  assert float(evaluated['loss']) == 4.0


def test_throughput_leaves_out_evaluations_inside_a_log_window(
  tmp_path, monkeypatch
):
  """Logs at steps 4, 8, 12 and validations at 6 and 12: the window of
  steps 5-8 holds an evaluation. A clock that moves 1 s per training step
  and 1,000 s per evaluation must give 1 step/s in every window."""
  import types  # pylint: disable=g-import-not-at-top

  clock = [0.0]
  monkeypatch.setattr(
    trainer, 'time', types.SimpleNamespace(perf_counter=lambda: clock[0])
  )
  add, evaluate = trainer._MetricsWindow.add, trainer._evaluate_during_training

  def step_takes_a_second(window, metrics):
    clock[0] += 1.0
    add(window, metrics)

  def evaluation_takes_long(*args):
    clock[0] += 1000.0
    evaluate(*args)

  monkeypatch.setattr(trainer._MetricsWindow, 'add', step_takes_a_second)
  monkeypatch.setattr(
    trainer, '_evaluate_during_training', evaluation_takes_long
  )
  config = _config(
    dataset='synthetic',
    synthetic_shape=(28, 28, 1),
    synthetic_examples=3000,
    validation_examples=500,  # 2,500 / 32 = 78 steps per epoch.
    batch_size=32,
    num_train_steps=12,
    eval_every_epochs=6 / 78,
    log_every_steps=4,
    checkpoint_every_steps=100,
    eval_batch_size=250,
    shuffle_buffer=3000,
  )
  trainer.train_and_evaluate(config, str(tmp_path))
  scalars = scalars_lib.read_scalars(str(tmp_path))
  assert [s for s, _ in scalars['validation_accuracy']] == [6, 12]
  assert scalars['train_steps_per_sec'] == [(4, 1.0), (8, 1.0), (12, 1.0)]
  assert scalars['train_images_per_sec'] == [(4, 32.0), (8, 32.0), (12, 32.0)]
