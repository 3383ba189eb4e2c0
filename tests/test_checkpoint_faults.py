"""Faults around checkpoints, on real LeNet-5 training runs.

Damaged checkpoints (truncated files, flipped bytes, lost metadata) are set
aside and the newest intact one is used, for resuming, ``eval_only``,
``best/``, ``init_from`` and the converter's output; a resumed run then ends
exactly where an uninterrupted one does. A save onto a full disk keeps the
previous checkpoint; a workdir holding another model's checkpoint names the
first differing tensor; two runs cannot share a workdir; a resumed run warns
about result-changing config differences.

The runs use a constant learning rate, so that runs of different lengths
follow the same trajectory (a 40-step run's checkpoints are those of a
60-step run).
"""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from cnn_jax.training import checkpoint_integrity, checkpointing, trainer
from cnn_jax.training import workdir_lock
from configs import lenet5_fashion_mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Synthetic 28x28 images (a pure function of the example index): faults do
# not need real data, and evaluating 200 test images keeps each run short.
OVERRIDES = dict(
  dataset='synthetic',
  synthetic_shape=(28, 28, 1),
  synthetic_examples=3000,
  validation_examples=500,
  num_train_steps=40,
  batch_size=32,
  eval_every_epochs=None,
  log_every_steps=20,
  checkpoint_every_steps=20,
  eval_batch_size=250,
  shuffle_buffer=3000,
  lr_schedule='constant',
  keep_checkpoints=2,
)


def _config(**overrides):
  c = lenet5_fashion_mnist.get_config()
  for k, v in {**OVERRIDES, **overrides}.items():
    setattr(c, k, v)
  return c


def _cli_args(**overrides):
  return [
    f'--config.{k}={v}'.replace(' ', '')
    for k, v in {**OVERRIDES, **overrides}.items()
  ]


@pytest.fixture(scope='module')
def pristine(tmp_path_factory):
  """A 40-step run: checkpoints/20, checkpoints/40, best/40, config.json."""
  workdir = str(tmp_path_factory.mktemp('pristine'))
  trainer.train_and_evaluate(_config(), workdir)
  return workdir


@pytest.fixture(scope='module')
def reference_60(tmp_path_factory):
  """The uninterrupted 60-step run: its result and final parameters."""
  workdir = str(tmp_path_factory.mktemp('reference60'))
  result = trainer.train_and_evaluate(_config(num_train_steps=60), workdir)
  return result, _params(workdir, 60)


def _copy(pristine, tmp_path) -> str:
  workdir = str(tmp_path / 'run')
  shutil.copytree(pristine, workdir)
  os.remove(os.path.join(workdir, workdir_lock.LOCK_FILE))
  return workdir


def _params(workdir, step):
  """The params of ``checkpoints/<step>`` (the latest kept)."""
  c = checkpointing.Checkpointer(workdir)
  assert c.latest_step() == step
  c.close()
  return checkpointing.load_variables(os.path.join(workdir, 'checkpoints'))[
    'params'
  ]


def _data_files(step_dir):
  """The array data files of a step (TensorStore OCDBT's ``d/`` files),
  largest first."""
  files = [
    os.path.join(r, f)
    for r, _, fs in os.walk(step_dir)
    for f in fs
    if os.path.basename(r) == 'd'
  ]
  assert files, step_dir
  return sorted(files, key=os.path.getsize, reverse=True)


def _truncate(step_dir):
  """A partial copy: every array data file loses its second half."""
  for path in _data_files(step_dir):
    os.truncate(path, os.path.getsize(path) // 2)


def _flip_bytes(step_dir):
  """A disk error inside an array: no file is shorter, four bytes differ."""
  path = _data_files(step_dir)[0]
  with open(path, 'r+b') as f:
    f.seek(os.path.getsize(path) // 2)
    data = f.read(4)
    f.seek(os.path.getsize(path) // 2)
    f.write(bytes(b ^ 0xFF for b in data))


def _aside(directory, step):
  return [
    n
    for n in os.listdir(directory)
    if n.startswith(f'{step}{checkpoint_integrity.DAMAGED_MARK}')
  ]


def _same_tree(a, b):
  jax.tree.map(np.testing.assert_array_equal, a, b)


def test_truncated_latest_is_set_aside_and_the_run_ends_as_uninterrupted(
  pristine, reference_60, tmp_path, caplog
):
  workdir = _copy(pristine, tmp_path)
  ckpts = os.path.join(workdir, 'checkpoints')
  _truncate(os.path.join(ckpts, '40'))
  sizes = {
    p: os.path.getsize(p) for p in _data_files(os.path.join(ckpts, '40'))
  }
  with caplog.at_level(logging.WARNING):
    result = trainer.train_and_evaluate(_config(num_train_steps=60), workdir)
  aside = _aside(ckpts, 40)
  assert len(aside) == 1
  # Reported with its path, kept byte for byte under its new name.
  assert f'Checkpoint {ckpts}/40 is damaged' in caplog.text
  assert os.path.join(ckpts, aside[0]) in caplog.text
  kept = {
    p.replace(f'{ckpts}/40', f'{ckpts}/{aside[0]}'): s for p, s in sizes.items()
  }
  assert {p: os.path.getsize(p) for p in kept} == kept
  assert 'Resuming from step 20, the newest intact checkpoint' in caplog.text
  # Resumed from step 20, it ends exactly where the uninterrupted run ends.
  reference, reference_params = reference_60
  assert result['step'] == 60
  assert result['test'] == reference['test']
  assert result['validation'] == reference['validation']
  _same_tree(_params(workdir, 60), reference_params)


def test_flipped_bytes_are_caught_by_the_fingerprint_in_eval_only(
  pristine, tmp_path, caplog
):
  """Orbax restores flipped bytes without an error; the fingerprint does not
  match, so eval_only evaluates the previous checkpoint instead."""
  workdir = _copy(pristine, tmp_path)
  ckpts = os.path.join(workdir, 'checkpoints')
  _flip_bytes(os.path.join(ckpts, '40'))
  with caplog.at_level(logging.WARNING):
    result = trainer.train_and_evaluate(_config(eval_only=True), workdir)
  assert result['status'] == 'evaluated' and result['step'] == 20
  assert 'does not have the values that were saved' in caplog.text
  assert len(_aside(ckpts, 40)) == 1


def test_every_checkpoint_damaged_is_a_clear_error(pristine, tmp_path):
  workdir = _copy(pristine, tmp_path)
  ckpts = os.path.join(workdir, 'checkpoints')
  _truncate(os.path.join(ckpts, '40'))
  os.remove(os.path.join(ckpts, '20', 'default', '_METADATA'))
  with pytest.raises(
    checkpointing.NoIntactCheckpointError,
    match=r'Every checkpoint in .* is damaged and was set '
    r'aside: .*40\.damaged-.*; .*20\.damaged-.*tree metadata',
  ):
    trainer.train_and_evaluate(_config(num_train_steps=60), workdir)
  assert len(_aside(ckpts, 40)) == 1 and len(_aside(ckpts, 20)) == 1


def test_damaged_best_falls_back_for_init_from_and_is_set_aside(
  pristine, tmp_path, caplog
):
  workdir = _copy(pristine, tmp_path)
  best = os.path.join(workdir, 'best')
  _truncate(os.path.join(best, '40'))
  # init_from reads best/ first: damaged, so checkpoints/40 (same state).
  with caplog.at_level(logging.WARNING):
    loaded = checkpointing.load_variables(workdir)
  assert f'Skipping damaged checkpoint {best}/40' in caplog.text
  _same_tree(loaded['params'], _params(workdir, 40))
  assert os.path.isdir(os.path.join(best, '40'))  # a source: not renamed.
  # The run's own best/ with unreadable metadata is set aside at start.
  os.remove(os.path.join(best, '40', 'default', '_METADATA'))
  c = checkpointing.Checkpointer(workdir)
  assert c.best.all_steps() == [] and len(_aside(best, 40)) == 1
  c.close()


def test_init_from_a_damaged_converter_output(pristine, tmp_path):
  variables = checkpointing.load_variables(pristine)
  out = str(tmp_path / 'converted')
  checkpointing.write_variables(variables, out)  # read back and checked
  _same_tree(checkpointing.load_variables(out), variables)
  _truncate(os.path.join(out, '0'))
  with pytest.raises(
    checkpointing.NoIntactCheckpointError,
    match=f'Every checkpoint under {out} is damaged: {out}/0 ',
  ):
    trainer.train_and_evaluate(_config(init_from=out), str(tmp_path / 'ft'))
  with pytest.raises(
    checkpointing.NoIntactCheckpointError, match='No Orbax checkpoint under'
  ):
    checkpointing.load_variables(str(tmp_path))


@pytest.mark.parametrize(
  'change, tensor',
  [
    (dict(optimizer='adam'), 'opt_state/'),
    (dict(model='lenet5_1998'), 'params/'),
  ],
)
def test_resuming_with_another_model_or_optimizer_names_the_tensor(
  pristine, tmp_path, change, tensor
):
  workdir = _copy(pristine, tmp_path)
  with pytest.raises(checkpointing.CheckpointMismatchError) as e:
    trainer.train_and_evaluate(_config(num_train_steps=60, **change), workdir)
  message = str(e.value)
  assert message.startswith(
    f'{workdir} holds a checkpoint (step 40) of another model or optimizer '
    '(model=lenet5, optimizer=sgd, dataset=synthetic, per its '
    'config.json): '
  )
  assert tensor in message
  assert (
    f'use a new --workdir; to start from its weights, add '
    f'--config.init_from={workdir}' in message
  )
  assert not _aside(os.path.join(workdir, 'checkpoints'), 40)  # not damage


def test_config_is_recorded_and_result_changing_differences_warned(
  pristine, tmp_path, caplog
):
  with open(os.path.join(pristine, 'config.json')) as f:
    saved = json.load(f)
  assert saved['model'] == 'lenet5' and saved['num_train_steps'] == 40
  workdir = _copy(pristine, tmp_path)
  with caplog.at_level(logging.WARNING):
    result = trainer.train_and_evaluate(
      _config(
        eval_only=True,
        learning_rate=0.01,
        num_train_steps=60,
        log_every_steps=10,
        eval_batch_size=125,
      ),
      workdir,
    )
  assert result['step'] == 40
  warned = [
    r.getMessage()
    for r in caplog.records
    if r.getMessage().startswith('Resuming ')
  ]
  assert warned == [
    f'Resuming {workdir} with learning_rate=0.01; its checkpoints were '
    'trained with learning_rate=0.05.',
    f'Resuming {workdir} with num_train_steps=60; its checkpoints were '
    'trained with num_train_steps=40.',
  ]
  with open(os.path.join(workdir, 'config.json')) as f:
    assert json.load(f) == saved  # eval_only trains nothing: not recorded


def test_a_second_run_on_a_workdir_is_refused_until_the_first_exits(tmp_path):
  workdir = str(tmp_path / 'busy')
  holder = subprocess.Popen(
    [
      sys.executable,
      '-c',
      'import sys, time\n'
      'from cnn_jax.training import workdir_lock\n'
      f'with workdir_lock.hold({workdir!r}):\n'
      '  print("HOLDING", flush=True); time.sleep(600)\n',
    ],
    cwd=ROOT,
    env=dict(os.environ, PYTHONPATH=ROOT),
    stdout=subprocess.PIPE,
    text=True,
  )
  try:
    assert holder.stdout.readline().strip() == 'HOLDING'
    with pytest.raises(
      workdir_lock.WorkdirBusyError,
      match=f'{workdir} is in use by another run \\(pid '
      f'{holder.pid} on .*Wait for it to finish or stop it, '
      'or use another --workdir.',
    ):
      trainer.train_and_evaluate(_config(), workdir)
  finally:
    holder.send_signal(signal.SIGKILL)  # the OS releases its lock
    holder.wait()
  with workdir_lock.hold(workdir):
    pass


def test_unfinished_saves_are_removed_at_start(pristine, tmp_path):
  workdir = _copy(pristine, tmp_path)
  tmp = os.path.join(workdir, 'checkpoints', '60.orbax-checkpoint-tmp-17')
  os.makedirs(os.path.join(tmp, 'default'))
  c = checkpointing.Checkpointer(workdir)
  assert not os.path.exists(tmp) and c.steps() == [20, 40]
  c.close()


def test_non_finite_loss_before_any_checkpoint_says_so(tmp_path):
  with pytest.raises(trainer.NonFiniteLossError) as e:
    trainer.train_and_evaluate(
      _config(learning_rate=1e30, checkpoint_every_steps=1000), str(tmp_path)
    )
  assert 'No checkpoint had been saved yet.' in str(e.value)
  assert 'None' not in str(e.value)


def test_a_diverged_state_never_becomes_the_best(tmp_path):
  """The loss turns non-finite inside the first log window, before the first
  evaluation: that evaluation must not keep the state as best/."""
  with pytest.raises(trainer.NonFiniteLossError):
    trainer.train_and_evaluate(
      _config(
        learning_rate=1e30,
        log_every_steps=1000,
        checkpoint_every_steps=1000,
        eval_every_epochs=0.25,  # step 20
      ),
      str(tmp_path),
    )
  assert not [s for s in os.listdir(tmp_path / 'best') if s.isdigit()]


# --- A full disk during a save ------------------------------------------
# Runs argv[1:] with writes past argv[0] bytes failing with EFBIG (SIGXFSZ
# ignored, which exec keeps, as it keeps the limit).
_LIMITED = """
import os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
os.execv(sys.executable, [sys.executable] + sys.argv[2:])
"""


def _train_cli(workdir, *args, max_file_size=None):
  cmd = [
    '-m',
    'cnn_jax.main',
    '--config=configs/lenet5_fashion_mnist.py',
    f'--workdir={workdir}',
    '--config.cpu_tuning=none',
    *args,
  ]
  if max_file_size is not None:
    cmd = ['-c', _LIMITED, str(max_file_size), *cmd]
  return subprocess.run(
    [sys.executable, *cmd],
    cwd=ROOT,
    env=dict(os.environ, PYTHONPATH=ROOT),
    capture_output=True,
    text=True,
    timeout=600,
  )


def test_only_the_sibling_write_errors_of_a_failed_save_are_not_printed(
  caplog,
):
  """A full disk fails several files of one save; Orbax retrieves the first
  error and asyncio would print each other one with a traceback when its
  task is collected, after the run's message."""
  import asyncio  # pylint: disable=g-import-not-at-top
  import gc  # pylint: disable=g-import-not-at-top

  checkpoint_integrity.quiet_failed_io_echoes()

  async def fail(message):
    raise ValueError(message)

  async def leave_unretrieved():
    tasks = [
      asyncio.ensure_future(fail('RESOURCE_EXHAUSTED: Error writing "a/0"')),
      asyncio.ensure_future(fail('a bug elsewhere')),
    ]
    # asyncio reports a bare Future as 'Future exception was never
    # retrieved' (a Task as 'Task ...'); TensorStore's writes end up in both.
    futures = [asyncio.get_running_loop().create_future() for _ in range(2)]
    futures[0].set_exception(ValueError('OUT_OF_RANGE: Error writing "b/0"'))
    futures[1].set_exception(ValueError('another bug'))
    await asyncio.sleep(0.01)
    return [t.done() for t in tasks + futures]

  with caplog.at_level(logging.ERROR, logger='asyncio'):
    assert asyncio.run(leave_unretrieved()) == [True] * 4
    gc.collect()
  reported = [r.exc_info[1] for r in caplog.records if r.exc_info]
  assert sorted(str(e) for e in reported) == ['a bug elsewhere', 'another bug']


@pytest.mark.slow  # three training processes
def test_a_save_that_fails_for_file_size_keeps_the_previous_checkpoint(
  pristine, reference_60, tmp_path
):
  """RLIMIT_FSIZE makes every write past 64 KiB fail with EFBIG, as a full
  disk fails with ENOSPC; the 40-step checkpoint's data file is ~500 KB."""
  workdir = _copy(pristine, tmp_path)
  before = {
    p: os.path.getsize(p)
    for p in _data_files(os.path.join(workdir, 'checkpoints', '40'))
  }
  failed = _train_cli(
    workdir, *_cli_args(num_train_steps=60), max_file_size=64 * 1024
  )
  assert failed.returncode == 2, failed.stderr[-3000:]
  last = failed.stderr.strip().splitlines()[-1]
  assert last.startswith('Error: Saving the checkpoint of step 60 in ')
  assert 'The previous checkpoint (step 40' in last
  assert 'Traceback' not in failed.stderr
  assert {p: os.path.getsize(p) for p in before} == before
  c = checkpointing.Checkpointer(workdir)
  assert c.steps() == [20, 40]  # nothing deleted, nothing half-written
  c.close()
  # Space is back: the same command resumes from 40 and ends as if nothing
  # had happened.
  again = _train_cli(workdir, *_cli_args(num_train_steps=60))
  assert again.returncode == 0, again.stderr[-3000:]
  assert 'at step 40' in again.stderr
  reference, reference_params = reference_60
  with open(os.path.join(workdir, 'results.json')) as f:
    assert json.load(f)['test'] == reference['test']
  _same_tree(_params(workdir, 60), reference_params)


def _mount_tmpfs(path, size):
  os.makedirs(path, exist_ok=True)
  try:
    subprocess.run(
      ['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', path],
      check=True,
      capture_output=True,
      timeout=30,
    )
  except (OSError, subprocess.SubprocessError):
    pytest.skip(
      'cannot mount a tmpfs here (needs root); the RLIMIT_FSIZE '
      'test covers the failing save'
    )


@pytest.mark.slow  # two training runs
def test_a_full_disk_during_a_save_keeps_the_previous_checkpoint(
  pristine, reference_60, tmp_path
):
  """A real ENOSPC: the workdir on a 64 MB tmpfs that another file fills up
  to 128 KiB free, room for the run's small files but not a checkpoint."""
  disk = str(tmp_path / 'disk')
  _mount_tmpfs(disk, '64m')
  try:
    workdir = os.path.join(disk, 'run')
    shutil.copytree(pristine, workdir)
    os.remove(os.path.join(workdir, workdir_lock.LOCK_FILE))
    filler = os.path.join(disk, 'filler')
    with open(filler, 'wb') as f:
      try:
        while True:
          f.write(b'\0' * (1 << 16))
          f.flush()
      except OSError:
        pass
    os.truncate(filler, os.path.getsize(filler) - (128 << 10))
    with pytest.raises(
      checkpointing.CheckpointSaveError,
      match=r'\[Errno 28\] No space left on device\. The '
      r'previous checkpoint \(step 40',
    ):
      trainer.train_and_evaluate(_config(num_train_steps=60), workdir)
    os.remove(filler)  # space is back
    c = checkpointing.Checkpointer(workdir)
    assert c.steps() == [20, 40]
    c.close()
    result = trainer.train_and_evaluate(_config(num_train_steps=60), workdir)
    reference, reference_params = reference_60
    assert result['test'] == reference['test']
    _same_tree(_params(workdir, 60), reference_params)
  finally:
    # Lazily: the run's event file may still be open in this process.
    subprocess.run(['umount', '-l', disk], capture_output=True, timeout=30)
