"""The training loop: build a run from the config, train, evaluate.

``train_and_evaluate(config, workdir)`` is the whole job. It resumes from the
workdir's latest checkpoint, evaluates on the validation split every
``eval_every_epochs``, keeps the best state by validation accuracy, saves on
SIGTERM/SIGINT and stops on a non-finite loss without overwriting the last
good checkpoint. At the end it scores the test split and writes
``<workdir>/results.json``.

Before any work the config is validated (``config_validation``: every
problem at once), the workdir is locked against a second run
(``workdir_lock``) and its config recorded (``run_record``); a damaged
checkpoint is set aside and the newest intact one used (``checkpointing``).

Every exit returns the same shape of result (:func:`result_of`): ``status``
('finished', 'interrupted' or 'evaluated'), ``step``, the model and dataset,
and one metrics dict per evaluated split.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging as pylogging
import math
import os
import signal
import time
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from cnn_jax import config_validation, errors, models
from cnn_jax.data import image_folder, inputs, pipeline
from cnn_jax.inference import records
from cnn_jax.training import (
  checkpointing,
  metric_writer,
  optim,
  precise_bn,
  run_record,
  sharding,
  train_step,
  workdir_lock,
)


class NonFiniteLossError(errors.UserError, FloatingPointError):
  """The training loss became NaN or infinite (the run diverged)."""


class _StopSignal:
  """Turns SIGTERM/SIGINT into a flag the loop checks between steps."""

  def __init__(self):
    self.received: Optional[int] = None
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGTERM, signal.SIGINT):
      self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    self.received = signum

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def build_model(config, num_classes: int):
  return models.build(
    config.model,
    num_classes=num_classes,
    dtype=jnp.dtype(config.dtype),
    conv_impl=config.conv_impl,
    **config.model_kwargs,
  )


def num_classes_for(config, info: pipeline.InputInfo) -> int:
  return (
    config.num_classes if config.num_classes is not None else info.num_classes
  )


def init_from_checkpoint(state, directory: str):
  """Copies params/batch_stats of matching shape from ``directory``.

  Leaves whose shape differs (a classifier head for another class count) keep
  their fresh initialization, so a converted ImageNet model fine-tunes on a
  10-class dataset with a new head.
  """
  loaded = checkpointing.load_variables(directory)
  kept, fresh = [], []

  def merge(new_tree, old_tree):
    flat_old = {
      jax.tree_util.keystr(p): v
      for p, v in jax.tree_util.tree_flatten_with_path(old_tree)[0]
    }

    def pick(path, new):
      name = jax.tree_util.keystr(path)
      old = flat_old.get(name)
      if old is not None and tuple(old.shape) == tuple(new.shape):
        kept.append(name)
        return jnp.asarray(old, new.dtype)
      fresh.append(name)
      return new

    return jax.tree_util.tree_map_with_path(pick, new_tree)

  params = merge(state.params, loaded['params'])
  batch_stats = merge(state.batch_stats, loaded['batch_stats'])
  logging.info(
    'init_from %s: %d tensors loaded, %d freshly initialized: %s',
    directory,
    len(kept),
    len(fresh),
    fresh[:10],
  )
  if not kept:
    raise checkpointing.CheckpointMismatchError(
      f'init_from={directory}: none of its tensors has the name and shape '
      "of one of this model's; init_from needs a checkpoint of the same "
      'architecture (the class count may differ).'
    )
  state = state.replace(
    params=params, batch_stats=batch_stats, opt_state=state.tx.init(params)
  )
  return train_step.with_fresh_ema(state) if state.has_ema else state


@dataclasses.dataclass
class Run:
  """Everything a training run is built from (see :func:`setup`)."""

  config: Any
  workdir: str
  info: pipeline.InputInfo
  mesh: jax.sharding.Mesh
  num_classes: int
  steps_per_epoch: int
  total_steps: int
  eval_every_steps: int
  checkpointer: checkpointing.Checkpointer
  train_fn: Callable
  eval_fn: Callable
  writer: Any
  restored_step: Optional[int]  # the checkpoint resumed from, if any.
  input: Any = None  # cnn_jax.data.inputs: DevicePipeline or TFDataPipeline.

  @property
  def eval_splits(self) -> list[str]:
    return [s for s in ('validation', 'test') if s in self.info.splits]


def setup(config, workdir: str):
  """Builds the run and its initial (or restored) train state."""
  config_validation.validate(
    config,
    devices=jax.device_count(),
    process_count=jax.process_count(),
    model_input=True,
  )
  info = pipeline.get_info(config)
  if config.dataset == image_folder.NAME and jax.process_index() == 0:
    image_folder.write_skipped(config, workdir)
  config_validation.validate_with_data(config, info)
  num_classes = num_classes_for(config, info)
  mesh = sharding.make_mesh(config.num_devices)
  sharding.check_batch_divides(config.batch_size, mesh, 'batch_size')
  sharding.check_batch_divides(config.eval_batch_size, mesh, 'eval_batch_size')
  steps_per_epoch = pipeline.steps_per_epoch(config, info, jax.process_count())
  total_steps = (
    config.num_train_steps
    if config.num_train_steps is not None
    else int(math.ceil(config.num_epochs * steps_per_epoch))
  )
  eval_every = (
    total_steps
    if config.eval_every_epochs is None
    else max(1, int(round(config.eval_every_epochs * steps_per_epoch)))
  )

  model = build_model(config, num_classes)
  schedule = optim.learning_rate_schedule(config, steps_per_epoch, total_steps)
  tx = optim.make_optimizer(config, schedule)
  state = train_step.create_train_state(
    model,
    tx,
    info.image_shape,
    jax.random.key(config.seed),
    ema=config.ema_decay is not None,
  )
  checkpointer = checkpointing.Checkpointer(workdir, config.keep_checkpoints)
  saved_config = run_record.read_config(workdir)
  resuming = bool(checkpointer.steps())
  if not resuming and config.init_from is not None:
    state = init_from_checkpoint(state, config.init_from)
    for mismatch in records.init_from_mismatches(
      config, config.init_from, info
    ):
      logging.warning('init_from: %s', mismatch)
  state = sharding.replicate(state, mesh)
  latest = None
  if resuming:  # the newest intact checkpoint (damaged ones are set aside)
    state, latest = checkpointer.restore_latest(state, saved_config)
    run_record.warn_about_changes(saved_config, config, workdir)
    logging.info('Resumed from %s at step %d.', workdir, latest)
  if not config.eval_only and jax.process_index() == 0:
    run_record.write_config(workdir, config)
  input_ = inputs.build(config, info, mesh)
  train_fn, eval_fn = train_step.compile_steps(
    config,
    mesh,
    state,
    num_classes,
    schedule,
    batch_transform=input_.batch_transform,
    total_steps=total_steps,
    steps_per_epoch=steps_per_epoch,
  )
  writer = metric_writer.create_writer(
    workdir, primary=jax.process_index() == 0
  )
  run = Run(
    config,
    workdir,
    info,
    mesh,
    num_classes,
    steps_per_epoch,
    total_steps,
    eval_every,
    checkpointer,
    train_fn,
    eval_fn,
    writer,
    latest,
    input_,
  )
  return run, state


def _merge(a, b):
  """Two metric collections merged in one dispatch (not one per array)."""
  return _merge_fn(type(a))(a, b)


@functools.cache
def _merge_fn(collection: type):
  """One jitted merge per metrics class, each with its own compile cache.

  A single jitted function shared by TrainMetrics and EvalMetrics is unsafe:
  jax 0.10's treedefs of two dataclass pytrees with the same number of fields
  compare equal (only their hashes differ), so on a hash collision the jit
  cache replays one class's trace for the other ('EvalMetrics' object has no
  attribute 'learning_rate', seen in CI).
  """
  return jax.jit(collection.merge)


def _wait(previous) -> None:
  """Blocks until ``previous`` (the step before the one just dispatched) is
  computed: at most two steps are in flight.

  Unbounded run-ahead fills XLA:CPU's per-device queue of in-flight
  computations (32) with work that waits on a collective whose launch on
  another device has not got a slot yet: with several host devices the
  all-reduce then waits forever (seen with 2 host devices, lenet5).
  """
  if previous is not None:
    jax.block_until_ready(previous)


def evaluate(run: Run, state, split: str) -> dict[str, float]:
  """Metrics over every example of ``split`` exactly once.

  With an EMA (``ema_decay``), those of the moving averages too, as
  ``ema_<metric>``.
  """
  result = _evaluate_weights(run, state, split)
  if state.has_ema:
    ema = _evaluate_weights(run, state.ema_state(), split)
    result.update(
      {f'ema_{k}': v for k, v in ema.items() if k != 'num_examples'}
    )
  return result


def best_weights(metrics: dict[str, float]) -> tuple[str, float]:
  """('raw' or 'ema', its accuracy): the better weights (raw on a tie)."""
  ema = metrics.get('ema_accuracy')
  if ema is not None and ema > metrics['accuracy']:
    return 'ema', ema
  return 'raw', metrics['accuracy']


def _evaluate_weights(run: Run, state, split: str) -> dict[str, float]:
  total = None
  for batch in run.input.eval_batches(split):
    m = run.eval_fn(state, batch)
    _wait(total)
    total = m if total is None else _merge(total, m)
  result = {k: float(v) for k, v in sharding.to_host(total.compute()).items()}
  result['num_examples'] = int(sharding.to_host(total.loss.count))
  if run.info.num_classes <= 5:
    result.pop('top5_accuracy')
  return result


def _format_eta(seconds: float) -> str:
  seconds = int(seconds)
  return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s'


class _MetricsWindow:
  """Training metrics accumulated on device between two log lines, and the
  training time they took."""

  def __init__(self):
    self.reset()

  def reset(self):
    self.metrics, self.steps = None, 0
    self.start, self.excluded = time.perf_counter(), 0.0

  @contextlib.contextmanager
  def not_training(self):
    """Time spent inside (an evaluation) is left out of the window's time,
    wherever it falls between two log lines."""
    start = time.perf_counter()
    try:
      yield
    finally:
      self.excluded += time.perf_counter() - start

  def training_seconds(self) -> float:
    return time.perf_counter() - self.start - self.excluded

  def add(self, metrics):
    _wait(self.metrics)
    self.metrics = (
      metrics if self.metrics is None else _merge(self.metrics, metrics)
    )
    self.steps += 1

  def values(self) -> dict[str, float]:
    """The window's averages (one device-to-host transfer)."""
    return {
      k: float(v) for k, v in sharding.to_host(self.metrics.compute()).items()
    }


def _check_finite(
  values: dict[str, float], run: Run, first: int, last: int
) -> None:
  if math.isfinite(values['loss']):
    return
  kept = run.checkpointer.latest_step()
  where = (
    f'The last good checkpoint (step {kept}) is kept in {run.workdir}.'
    if kept is not None
    else 'No checkpoint had been saved yet.'
  )
  raise NonFiniteLossError(
    f'The training loss became {values["loss"]} between steps {first} and '
    f'{last}. {where} Lower the learning rate, set '
    '--config.grad_clip_norm, or rerun with --config.debug=True to find the '
    'first non-finite value.'
  )


def _log_window(run: Run, window: _MetricsWindow, step: int) -> None:
  values = window.values()
  _check_finite(values, run, step - window.steps, step)
  values['steps_per_sec'] = window.steps / window.training_seconds()
  values['images_per_sec'] = values['steps_per_sec'] * run.config.batch_size
  run.writer.write_scalars(step, {f'train_{k}': v for k, v in values.items()})
  eta = (run.total_steps - step) / values['steps_per_sec']
  logging.info(
    'step %d/%d (epoch %.2f, %.1f%%) loss %.4f acc %.2f%% lr %.4g '
    '%.0f img/s ETA %s',
    step,
    run.total_steps,
    step / run.steps_per_epoch,
    100 * step / run.total_steps,
    values['loss'],
    100 * values['accuracy'],
    values['learning_rate'],
    values['images_per_sec'],
    _format_eta(eta),
  )
  window.reset()


def _check_window(run: Run, window: _MetricsWindow, step: int) -> None:
  """NonFiniteLossError if the metrics since the last log line are bad."""
  if window.metrics is not None:
    _check_finite(window.values(), run, step - window.steps, step)


def _save(run: Run, state, step: int, window: _MetricsWindow) -> None:
  """Saves ``state`` unless the metrics since the last log line are bad."""
  _check_window(run, window, step)
  run.checkpointer.save(state, step)


def train(run: Run, state) -> tuple[Any, int, Optional[int]]:
  """Trains from ``state`` to ``run.total_steps``.

  Returns ``(state, step, signal)``: ``signal`` is the SIGTERM/SIGINT that
  stopped the loop early (a checkpoint of ``step`` is saved), or None.
  """
  config = run.config
  step = int(sharding.to_host(state.step))
  batches = run.input.train_batches(step)
  window = _MetricsWindow()
  with _StopSignal() as stop, _debug_context(config):
    next_batch = next(batches)
    while step < run.total_steps:
      state, metrics = run.train_fn(state, next_batch)
      step += 1
      window.add(metrics)
      if step < run.total_steps:  # feed the next batch while this step runs
        next_batch = next(batches)

      if step % config.log_every_steps == 0 or step == run.total_steps:
        _log_window(run, window, step)
      if step == run.total_steps and config.get('precise_bn_steps', 0):
        # Before the final evaluation and checkpoint, which then use them.
        with window.not_training():
          state = _precise_batch_norm(run, state)
      if step % run.eval_every_steps == 0 or step == run.total_steps:
        _check_window(run, window, step)  # before best/ may keep the state
        with window.not_training():
          _evaluate_during_training(run, state, step)
          _save(run, state, step, window)
      elif step % config.checkpoint_every_steps == 0:
        _save(run, state, step, window)
      if stop.received is not None:
        _save(run, state, step, window)
        return state, step, stop.received
  _save(run, state, step, window)
  return state, step, None


def _precise_batch_norm(run: Run, state):
  """``state`` with BatchNorm statistics recomputed over the training
  stream's next ``precise_bn_steps`` batches (:mod:`precise_bn`)."""
  steps = run.config.precise_bn_steps
  logging.info('Recomputing the BatchNorm statistics over %d batches.', steps)
  return precise_bn.recalibrate(
    state,
    run.input.train_batches(run.total_steps),
    steps,
    run.mesh,
    batch_transform=run.input.batch_transform,
    dtype=jnp.dtype(run.config.dtype),
  )


def _evaluate_during_training(run: Run, state, step: int) -> None:
  split = run.eval_splits[0]
  metrics = evaluate(run, state, split)
  run.writer.write_scalars(
    step, {f'{split}_{k}': v for k, v in metrics.items()}
  )
  logging.info('step %d %s: %s', step, split, metrics)
  if split == 'validation':
    weights, accuracy = best_weights(metrics)
    run.checkpointer.save_if_best(state, step, accuracy, weights)


def result_of(
  run: Run, state, status: str, step: int, splits: tuple[str, ...] = ()
) -> dict[str, Any]:
  """The run's result: the same keys whichever way it ended."""
  device = run.mesh.devices.flat[0]
  result = {
    'status': status,
    'step': int(step),
    'model': run.config.model,
    'dataset': run.config.dataset,
    'steps_per_epoch': run.steps_per_epoch,
    'devices': {
      'platform': device.platform,
      'kind': device.device_kind,
      'count': int(run.mesh.devices.size),
      'processes': jax.process_count(),
    },
    'num_params': int(
      sum(np.prod(x.shape) for x in jax.tree.leaves(state.params))
    ),
  }
  for split in splits:
    result[split] = evaluate(run, state, split)
  return result


def _write_results(workdir: str, results: dict[str, Any]) -> None:
  if jax.process_index() == 0:
    with open(os.path.join(workdir, 'results.json'), 'w') as f:
      json.dump(results, f, indent=2, sort_keys=True)


class _QuietLibraries(pylogging.Filter):
  """Keeps Orbax's and TFDS's per-save / per-read INFO lines (and JAX's
  'Unable to initialize backend' ones) off the console.

  Their warnings and errors stay, as one line without a traceback or
  TensorStore's spec dump: a failed save is reported once, as a
  CheckpointSaveError.
  """

  _NOISY = ('/orbax/', '/tensorflow_datasets/', '/jax/_src/xla_bridge')

  def filter(self, record):
    if not any(n in record.pathname for n in self._NOISY):
      return True
    if record.levelno < pylogging.WARNING:
      return False
    message = record.getMessage().split(' [tensorstore_spec')[0]
    record.msg, record.args = (message.splitlines() or [''])[0][:400], ()
    record.exc_info, record.exc_text = None, None
    return True


def _setup_logging():
  pylogging.getLogger('absl').setLevel(pylogging.INFO)
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _QuietLibraries) for f in handler.filters):
    handler.addFilter(_QuietLibraries())


def _debug_context(config):
  """NaN checks and no implicit host<->device transfers (big_vision style).

  Every device-to-host transfer in the loop is explicit (``device_get``), so
  'disallow' catches an accidental per-step host synchronization such as
  ``float(loss)``. Implicit host-to-device transfers are logged, not refused:
  the NaN checker's op-by-op re-run of a failing step makes some itself.
  """
  stack = contextlib.ExitStack()
  if config.debug:
    stack.enter_context(jax.debug_nans(True))
    stack.enter_context(jax.transfer_guard_device_to_host('disallow'))
    stack.enter_context(jax.transfer_guard_host_to_device('log'))
  return stack


def train_and_evaluate(config, workdir: str) -> dict[str, Any]:
  """Trains ``config`` in ``workdir`` (resuming if possible); its result.

  Holds the workdir's lock (``workdir_lock``) while it runs.
  """
  workdir_lock.make_workdir(workdir)
  _setup_logging()
  with workdir_lock.hold_if_primary(workdir):
    return _train_and_evaluate(config, workdir)


def _train_and_evaluate(config, workdir: str) -> dict[str, Any]:
  run, state = setup(config, workdir)
  if jax.process_index() == 0:  # class names and inputs, for predict
    records.write_run_records(workdir, config, run.info, run.num_classes)
  try:
    if config.eval_only:
      if run.restored_step is None:
        raise checkpointing.NoIntactCheckpointError(
          f'eval_only: no checkpoint in {workdir}. Train first (the same '
          'command without --config.eval_only), or point --workdir at a '
          "run's workdir."
        )
      result = result_of(
        run, state, 'evaluated', run.restored_step, tuple(run.eval_splits)
      )
      logging.info('Evaluation of step %d: %s', run.restored_step, result)
      _write_results(workdir, result)
      return result

    if run.restored_step is None:
      run.writer.write_hparams(
        {
          k: v
          for k, v in config.to_dict().items()
          if isinstance(v, (int, float, str, bool))
        }
      )
    logging.info(
      '%s on %s: %d train / %d val examples, %d steps per epoch, '
      '%d steps, %d devices, %d processes; input: %s (read from '
      '%s).',
      config.model,
      run.info.dataset,
      run.info.num_examples('train'),
      run.info.num_examples('validation'),
      run.steps_per_epoch,
      run.total_steps,
      run.mesh.devices.size,
      jax.process_count(),
      run.input.name,
      run.input.source,
    )
    state, step, stopped_by = train(run, state)
    if stopped_by is not None:
      run.checkpointer.wait()
      logging.warning(
        'Stopped by signal %d at step %d; checkpoint saved. '
        'Run the same command to resume.',
        stopped_by,
        step,
      )
      return result_of(run, state, 'interrupted', step)

    run.checkpointer.wait()  # the final checkpoint is on disk before results
    result = result_of(run, state, 'finished', step, tuple(run.eval_splits))
    run.writer.write_scalars(
      step,
      {f'final_{s}_accuracy': result[s]['accuracy'] for s in run.eval_splits},
    )
    _write_results(workdir, result)
    logging.info(
      'Final (step %d): %s',
      step,
      ', '.join(
        f'{s} accuracy {100 * result[s]["accuracy"]:.2f}% '
        f'({result[s]["num_examples"]} examples)'
        for s in run.eval_splits
      ),
    )
    return result
  finally:
    run.writer.flush()
    run.checkpointer.wait()
    run.checkpointer.close()
