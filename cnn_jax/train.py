"""The training loop: build everything from the config, train, evaluate.

``train_and_evaluate(config, workdir)`` is the whole job. It resumes from the
workdir's latest checkpoint, evaluates on the validation split every
``eval_every_epochs``, keeps the best state by validation accuracy, saves on
SIGTERM/SIGINT and stops on a non-finite loss without overwriting the last
good checkpoint. At the end it scores the test split and writes
``<workdir>/results.json``.
"""
from __future__ import annotations

import contextlib
import json
import logging as pylogging
import math
import os
import signal
import time
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from clu import metric_writers

from cnn_jax import checkpointing, models, optim, sharding, train_step
from cnn_jax.data import pipeline


class NonFiniteLossError(FloatingPointError):
  pass


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
  return models.build(config.model, num_classes=num_classes,
                      dtype=jnp.dtype(config.dtype),
                      conv_impl=config.get('conv_impl', 'auto'),
                      **config.model_kwargs)


def num_classes_for(config, info: pipeline.InputInfo) -> int:
  return config.num_classes if config.num_classes > 0 else info.num_classes


def init_from_checkpoint(state, directory: str):
  """Copies params/batch_stats of matching shape from ``directory``.

  Leaves whose shape differs (a classifier head for another class count) keep
  their fresh initialization, so a converted ImageNet model fine-tunes on a
  10-class dataset with a new head.
  """
  loaded = checkpointing.load_variables(directory)
  kept, fresh = [], []

  def pick(path, new, old):
    name = jax.tree_util.keystr(path)
    if old is not None and tuple(old.shape) == tuple(new.shape):
      kept.append(name)
      return jnp.asarray(old, new.dtype)
    fresh.append(name)
    return new

  def merge(new_tree, old_tree):
    flat_old = {jax.tree_util.keystr(p): v for p, v in
                jax.tree_util.tree_flatten_with_path(old_tree)[0]}
    return jax.tree_util.tree_map_with_path(
        lambda p, v: pick(p, v, flat_old.get(jax.tree_util.keystr(p))),
        new_tree)

  params = merge(state.params, loaded['params'])
  batch_stats = merge(state.batch_stats, loaded['batch_stats'])
  logging.info('init_from %s: %d tensors loaded, %d freshly initialized: %s',
               directory, len(kept), len(fresh), fresh[:10])
  if not kept:
    raise ValueError(f'No tensor in {directory} fits model {state.apply_fn}.')
  return state.replace(params=params, batch_stats=batch_stats,
                       opt_state=state.tx.init(params))


def evaluate(eval_fn, state, config, info, mesh, split: str) -> dict[str, float]:
  """Metrics over every example of ``split`` exactly once."""
  ds, _ = pipeline.eval_dataset(config, info, split,
                                process_index=jax.process_index(),
                                process_count=jax.process_count())
  total = None
  for batch in pipeline.as_numpy(ds):
    m = eval_fn(state, sharding.global_batch(batch, mesh))
    total = m if total is None else total.merge(m)
  result = {k: float(v) for k, v in sharding.to_host(total.compute()).items()}
  result['num_examples'] = int(sharding.to_host(total.loss.count))
  if info.num_classes <= 5:
    result.pop('top5_accuracy')
  return result


def _format_eta(seconds: float) -> str:
  seconds = int(seconds)
  return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s'


def _write_results(workdir: str, results: dict[str, Any]) -> None:
  if jax.process_index() == 0:
    with open(os.path.join(workdir, 'results.json'), 'w') as f:
      json.dump(results, f, indent=2, sort_keys=True)


class _QuietLibraries(pylogging.Filter):
  """Keeps Orbax's and TFDS's per-save / per-read INFO lines off the console."""
  _NOISY = ('/orbax/', '/tensorflow_datasets/')

  def filter(self, record):
    return record.levelno >= pylogging.WARNING or not any(
        n in record.pathname for n in self._NOISY)


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
  """Trains ``config`` in ``workdir`` (resuming if possible); final metrics."""
  os.makedirs(workdir, exist_ok=True)
  _setup_logging()
  pipeline.hide_gpus_from_tensorflow()
  info = pipeline.get_info(config)
  num_classes = num_classes_for(config, info)
  mesh = sharding.make_mesh(config.num_devices)
  sharding.check_batch_divides(config.batch_size, mesh, 'batch_size')
  sharding.check_batch_divides(config.eval_batch_size, mesh, 'eval_batch_size')
  nproc, pidx = jax.process_count(), jax.process_index()
  steps_per_epoch = pipeline.steps_per_epoch(config, info, nproc)
  total_steps = (config.num_train_steps if config.num_train_steps > 0 else
                 int(math.ceil(config.num_epochs * steps_per_epoch)))
  eval_every = max(1, int(round(config.eval_every_epochs * steps_per_epoch)))

  model = build_model(config, num_classes)
  schedule = optim.learning_rate_schedule(config, steps_per_epoch, total_steps)
  tx = optim.make_optimizer(config, schedule)
  state = train_step.create_train_state(model, tx, info.image_shape,
                                        jax.random.key(config.seed))
  checkpointer = checkpointing.Checkpointer(workdir, config.keep_checkpoints)
  latest = checkpointer.latest_step()
  if latest is None and config.init_from:
    state = init_from_checkpoint(state, config.init_from)
  state = sharding.replicate(state, mesh)
  if latest is not None:
    state = checkpointer.restore(state, latest)
    logging.info('Resumed from %s at step %d.', workdir, latest)
  train_fn, eval_fn = train_step.compile_steps(config, mesh, state,
                                               num_classes, schedule)
  writer = metric_writers.create_default_writer(
      workdir, just_logging=pidx > 0, asynchronous=True)
  eval_splits = ['validation', 'test'] if 'validation' in info.splits else [
      'test']

  if config.eval_only:
    if latest is None:
      raise FileNotFoundError(f'eval_only: no checkpoint in {workdir}.')
    results = {s: evaluate(eval_fn, state, config, info, mesh, s)
               for s in eval_splits}
    results['step'] = int(latest)
    logging.info('Evaluation of step %d: %s', latest, results)
    _write_results(workdir, results)
    return results

  if latest is None:
    writer.write_hparams({k: v for k, v in config.to_dict().items()
                          if isinstance(v, (int, float, str, bool))})
  start_step = int(sharding.to_host(state.step))
  logging.info('%s on %s: %d train / %d val examples, %d steps per epoch, '
               '%d steps, %d devices, %d processes.', config.model,
               info.dataset, info.num_examples('train'),
               info.num_examples('validation'), steps_per_epoch, total_steps,
               mesh.devices.size, nproc)
  batches = pipeline.as_numpy(pipeline.train_dataset(
      config, info, start_step=start_step, process_index=pidx,
      process_count=nproc))

  window, window_start, window_steps = None, time.perf_counter(), 0
  step = start_step
  last_val = None

  def check_finite(metrics) -> dict[str, float]:
    values = {k: float(v) for k, v in sharding.to_host(metrics.compute()).items()}
    if not math.isfinite(values['loss']):
      raise NonFiniteLossError(
          f'The training loss became {values["loss"]} between steps '
          f'{step - window_steps} and {step}. The last good checkpoint '
          f'(step {checkpointer.latest_step()}) is kept in {workdir}. Lower '
          'the learning rate, set --config.grad_clip_norm, or rerun with '
          '--config.debug=True to find the first non-finite value.')
    return values

  def save(step):
    if window is not None:
      check_finite(window)
    checkpointer.save(state, step)

  with _StopSignal() as stop, _debug_context(config):
    next_batch = sharding.global_batch(next(batches), mesh)
    while step < total_steps:
      batch = next_batch
      state, metrics = train_fn(state, batch)
      step += 1
      window = metrics if window is None else window.merge(metrics)
      window_steps += 1
      if step < total_steps:  # feed the next batch while this step runs
        next_batch = sharding.global_batch(next(batches), mesh)

      if step % config.log_every_steps == 0 or step == total_steps:
        values = check_finite(window)
        elapsed = time.perf_counter() - window_start
        values['steps_per_sec'] = window_steps / elapsed
        values['images_per_sec'] = values['steps_per_sec'] * config.batch_size
        writer.write_scalars(step, {f'train_{k}': v for k, v in values.items()})
        eta = (total_steps - step) / values['steps_per_sec']
        logging.info(
            'step %d/%d (epoch %.2f, %.1f%%) loss %.4f acc %.2f%% lr %.4g '
            '%.0f img/s ETA %s', step, total_steps, step / steps_per_epoch,
            100 * step / total_steps, values['loss'],
            100 * values['accuracy'], values['learning_rate'],
            values['images_per_sec'], _format_eta(eta))
        window, window_start, window_steps = None, time.perf_counter(), 0

      if step % eval_every == 0 or step == total_steps:
        split = eval_splits[0]
        last_val = evaluate(eval_fn, state, config, info, mesh, split)
        writer.write_scalars(step, {f'{split}_{k}': v
                                    for k, v in last_val.items()})
        logging.info('step %d %s: %s', step, split, last_val)
        save(step)
        if split == 'validation':
          checkpointer.save_if_best(state, step, last_val['accuracy'])
        window_start = time.perf_counter()
      elif step % config.checkpoint_every_steps == 0:
        save(step)

      if stop.received is not None:
        save(step)
        checkpointer.wait()
        logging.warning('Stopped by signal %d at step %d; checkpoint saved. '
                        'Run the same command to resume.', stop.received, step)
        writer.flush()
        return {'interrupted_at_step': step}

  save(step)
  results = {s: evaluate(eval_fn, state, config, info, mesh, s)
             for s in eval_splits}
  results.update(step=step, model=config.model, dataset=config.dataset,
                 num_params=int(sum(np.prod(x.shape) for x in
                                    jax.tree.leaves(state.params))))
  writer.write_scalars(step, {f'final_{s}_accuracy': results[s]['accuracy']
                              for s in eval_splits})
  writer.flush()
  checkpointer.wait()
  checkpointer.close()
  _write_results(workdir, results)
  logging.info('Final (step %d): %s', step, ', '.join(
      f'{s} accuracy {100 * results[s]["accuracy"]:.2f}% '
      f'({results[s]["num_examples"]} examples)' for s in eval_splits))
  return results
