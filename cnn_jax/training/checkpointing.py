"""Orbax checkpoints: the latest few for resuming, plus the best by validation.

``<workdir>/checkpoints`` keeps the last ``keep`` states (saved every N steps,
at every evaluation and at the end); ``<workdir>/best`` keeps the one with the
highest validation accuracy. A run restarted with the same workdir resumes
from the latest intact one automatically.

Nothing is lost to a fault after a checkpoint is committed:

* Orbax writes a save into a temporary directory and renames it on commit;
  older checkpoints are deleted here, not by Orbax, and only once the new
  one has committed (Orbax 0.12 deletes them even when the new save failed),
  so a full disk or a crash mid-save leaves the previous ones intact. A failed
  save stops the run with :class:`CheckpointSaveError`.
* Each save records a fingerprint of every tensor (``checkpoint_integrity``);
  a restore that does not reproduce it, or fails, or a step whose metadata is
  unreadable, is *damaged*: it is renamed ``<step>.damaged-<time>`` (kept,
  reported with its path) and the next-newest intact checkpoint is used. With
  none intact, :class:`NoIntactCheckpointError` says so.
* A checkpoint of another model or optimizer is not damaged: restoring it
  stops with :class:`CheckpointMismatchError`, which names the first tensor
  that differs (``checkpoint_compat``).
"""

from __future__ import annotations

import os
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp
from absl import logging

from cnn_jax import errors
from cnn_jax.training import checkpoint_compat
from cnn_jax.training import checkpoint_integrity as integrity


class CheckpointSaveError(errors.UserError, OSError):
  """A save did not complete (disk full, I/O error); older ones are intact."""


class CheckpointMismatchError(errors.UserError, ValueError):
  """The checkpoint holds another model's or optimizer's state."""


class NoIntactCheckpointError(errors.UserError, FileNotFoundError):
  """No checkpoint where one was expected, or every one is damaged."""


class _Damaged(Exception):
  """A step that cannot be restored as saved (the message says why)."""


def _to_tree(state) -> dict[str, Any]:
  """The parts of a TrainState worth saving (``ema``: only if it has one)."""
  tree = {
    'step': state.step,
    'params': state.params,
    'batch_stats': state.batch_stats,
    'opt_state': state.opt_state,
    'rng': state.rng,
  }
  if getattr(state, 'ema_params', None) is not None:
    tree['ema'] = {
      'params': state.ema_params,
      'batch_stats': state.ema_batch_stats,
    }
  return tree


def _from_tree(state, tree):
  state = state.replace(
    step=tree['step'],
    params=tree['params'],
    batch_stats=tree['batch_stats'],
    opt_state=tree['opt_state'],
    rng=tree['rng'],
  )
  if 'ema' in tree:
    state = state.replace(
      ema_params=tree['ema']['params'],
      ema_batch_stats=tree['ema']['batch_stats'],
    )
  return state


# Which weights of a best/ checkpoint won: 'raw' (params / batch_stats) or
# 'ema' (the moving averages, under 'ema'); recorded in its metadata.
WEIGHTS = ('raw', 'ema')


def kept_weights(tree: dict[str, Any], weights: Optional[str]) -> dict:
  """``{'params', 'batch_stats'}`` of ``tree``: the EMA ones if ``weights``
  is 'ema' (and the tree has them), else the raw ones."""
  source = tree['ema'] if weights == 'ema' and 'ema' in tree else tree
  return {
    'params': source['params'],
    'batch_stats': source.get('batch_stats', {}),
  }


def saved_weights(manager, step: int) -> str:
  """'ema' or 'raw': which weights ``step`` of ``manager`` kept."""
  try:
    custom = manager.metadata(step).custom_metadata or {}
  except Exception:  # pylint: disable=broad-except
    return 'raw'
  return custom.get('weights', 'raw')


def _step_dir(manager: ocp.CheckpointManager, step: int) -> str:
  return os.path.join(str(manager.directory), str(step))


def _saved_fingerprint(manager, step: int) -> Optional[dict[str, int]]:
  try:
    custom = manager.metadata(step).custom_metadata or {}
  except Exception:  # pylint: disable=broad-except
    return None  # unreadable _CHECKPOINT_METADATA: the data may be fine.
  return custom.get('fingerprint')


def _restore_verified(manager, step: int, args) -> Any:
  """Restores ``step`` and checks its fingerprint; raises _Damaged."""
  path = _step_dir(manager, step)
  problem = integrity.quick_problem(path)
  if problem:
    raise _Damaged(problem)
  try:
    tree = manager.restore(step, args=args)
  except Exception as e:  # pylint: disable=broad-except
    integrity.quiet_failed_io_echoes()
    raise _Damaged(f'reading it failed ({integrity.short_reason(e)})') from e
  saved = _saved_fingerprint(manager, step)
  if saved:
    wrong = integrity.first_mismatch(saved, integrity.fingerprint(tree))
    if wrong:
      raise _Damaged(
        f'tensor {wrong} does not have the values that were '
        'saved (its checksum differs)'
      )
  return tree


def _open(directory: str, options) -> ocp.CheckpointManager:
  # The handler is named so that a fresh manager can read a step's tree
  # metadata before any save or restore (else item_metadata is empty).
  return ocp.CheckpointManager(
    directory, options=options, item_handlers=ocp.StandardCheckpointHandler()
  )


def _is_primary() -> bool:
  return jax.process_index() == 0


class Checkpointer:
  """Saves and restores train states under ``workdir``."""

  def __init__(self, workdir: str, keep: int = 2):
    workdir = os.path.abspath(workdir)
    self.workdir = workdir
    self.keep = keep
    integrity.quiet_failed_io_echoes()
    # Deletion of old steps is ours (see the module docstring): no
    # max_to_keep for Orbax.
    self.latest = self._manager(os.path.join(workdir, 'checkpoints'))
    self.best = self._manager(os.path.join(workdir, 'best'), best=True)
    self._pending: dict[str, int] = {}  # 'latest'/'best' -> step being saved.
    self._drop_damaged_best()

  @staticmethod
  def _manager(directory: str, best: bool = False) -> ocp.CheckpointManager:
    if _is_primary():
      for path in integrity.remove_unfinished_saves(directory):
        logging.warning('Removed %s, a save that never completed.', path)
    options = ocp.CheckpointManagerOptions(create=True)
    if best:
      options = ocp.CheckpointManagerOptions(
        create=True, best_fn=lambda m: m['accuracy'], best_mode='max'
      )
    return _open(directory, options)

  def steps(self) -> list[int]:
    """The committed steps of ``checkpoints/``, oldest first."""
    return list(self.latest.all_steps())

  def latest_step(self) -> Optional[int]:
    return self.latest.latest_step()

  # --- Saving -----------------------------------------------------------
  def save(self, state, step: int) -> None:
    """Starts saving ``state`` as ``step`` (asynchronously).

    Raises CheckpointSaveError if the previous save failed.
    """
    self._finish('latest')
    if step in self.latest.all_steps():
      return
    tree = _to_tree(state)
    self.latest.save(
      step,
      args=ocp.args.StandardSave(tree),
      custom_metadata={'fingerprint': integrity.fingerprint(tree)},
    )
    self._pending['latest'] = step

  def save_if_best(
    self, state, step: int, val_accuracy: float, weights: str = 'raw'
  ) -> bool:
    """Keeps ``state`` if its validation accuracy beats the best so far.

    ``weights``: which of its weights reached ``val_accuracy``, 'raw' or
    'ema' (the better of the two, with an EMA); recorded, so that init_from,
    predict and eval read those (:func:`kept_weights`).
    """
    if weights not in WEIGHTS:
      raise ValueError(f'weights={weights!r}: one of {WEIGHTS}.')
    self._finish('best')
    best = self._best_accuracy()
    if best is not None and val_accuracy <= best:
      return False
    tree = _to_tree(state)
    self.best.save(
      step,
      args=ocp.args.StandardSave(tree),
      metrics={'accuracy': float(val_accuracy)},
      custom_metadata={
        'fingerprint': integrity.fingerprint(tree),
        'weights': weights,
      },
    )
    self._pending['best'] = step
    return True

  def _best_accuracy(self) -> Optional[float]:
    """The best validation accuracy saved; a step whose metrics cannot be read
    is set aside."""
    while True:
      step = self.best.best_step()
      if step is None:
        return None
      try:
        return float(self.best.metrics(step)['accuracy'])
      except Exception as e:  # pylint: disable=broad-except
        self._set_aside(
          self.best,
          step,
          f'its metrics are unreadable ({integrity.short_reason(e)})',
        )

  def _finish(self, which: str) -> None:
    """Waits for the pending save of ``which``; prunes once it committed."""
    manager = self.latest if which == 'latest' else self.best
    step = self._pending.pop(which, None)
    if step is None:
      return
    try:
      manager.wait_until_finished()
      problem = integrity.quick_problem(_step_dir(manager, step))
    except Exception as e:  # pylint: disable=broad-except
      integrity.quiet_failed_io_echoes()
      problem = integrity.short_reason(e)
    if problem:
      manager.reload()
      kept = [s for s in manager.all_steps() if s != step]
      previous = (
        f'The previous checkpoint (step {kept[-1]}, in '
        f'{_step_dir(manager, kept[-1])}) is intact: free space or '
        'fix the error, then run the same command to resume from '
        'it.'
        if kept
        else 'No earlier checkpoint exists in it: free space or fix the '
        'error, then run the same command to start again.'
      )
      raise CheckpointSaveError(
        f'Saving the checkpoint of step {step} in {manager.directory} '
        f'failed: {problem}. {previous}'
      )
    self._prune(manager, which)  # every process: Orbax's delete syncs them.

  def _prune(self, manager, which: str) -> None:
    steps = manager.all_steps()
    if which == 'best':
      best = manager.best_step()
      old = [s for s in steps if s != best]
    else:
      old = list(steps)[: -self.keep] if self.keep > 0 else []
    for s in old:
      manager.delete(s)

  def wait(self) -> None:
    """Blocks until pending saves commit; CheckpointSaveError if one failed."""
    failed = []
    for which in ('latest', 'best'):
      try:
        self._finish(which)
      except CheckpointSaveError as e:
        failed.append(e)
    if failed:
      raise failed[0]

  def close(self) -> None:
    for manager in (self.latest, self.best):
      try:
        manager.close()
      except Exception:  # pylint: disable=broad-except
        pass  # a failed save, already reported by wait().

  # --- Restoring --------------------------------------------------------
  def _set_aside(self, manager, step: int, reason: str) -> Optional[str]:
    path = _step_dir(manager, step)
    aside = None
    if _is_primary() and os.path.isdir(path):
      aside = integrity.set_aside(path)
      logging.warning(
        'Checkpoint %s is damaged: %s. Set aside as %s (not deleted).',
        path,
        reason,
        aside,
      )
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top

      multihost_utils.sync_global_devices(f'set_aside {path}')
    manager.reload()
    return aside

  def _drop_damaged_best(self) -> None:
    for step in list(self.best.all_steps()):
      problem = integrity.quick_problem(_step_dir(self.best, step))
      if problem:
        self._set_aside(self.best, step, problem)

  def _check_fits(
    self, manager, step: int, state, saved_config: Optional[dict]
  ) -> None:
    """Raises CheckpointMismatchError if ``step`` holds another state shape."""
    problem = integrity.quick_problem(_step_dir(manager, step))
    if problem:
      raise _Damaged(problem)
    try:
      meta = manager.item_metadata(step)
    except Exception as e:  # pylint: disable=broad-except
      raise _Damaged(
        f'its tree metadata is unreadable ({integrity.short_reason(e)})'
      ) from e
    meta = getattr(meta, 'tree', meta)
    if meta is None:  # nothing to compare: the restore decides.
      return
    saved = checkpoint_compat.tensor_table(meta, metadata=True)
    wanted = checkpoint_compat.tensor_table(_to_tree(state))
    difference = checkpoint_compat.first_difference(saved, wanted)
    if difference:
      raise CheckpointMismatchError(
        f'{self.workdir} holds a checkpoint (step {step}) of another model '
        f'or optimizer{checkpoint_compat.describe_saved_config(saved_config)}'
        f': {difference}. To train this config, use a new --workdir; to '
        f'start from its weights, add --config.init_from={self.workdir} '
        'with a new --workdir.'
      )

  def restore_latest(
    self, state, saved_config: Optional[dict] = None, best: bool = False
  ) -> tuple[Any, Optional[int]]:
    """``(state restored from the newest intact checkpoint, its step)``.

    Damaged checkpoints on the way are set aside and reported. Returns
    ``(state, None)`` if there is no checkpoint at all; raises
    NoIntactCheckpointError if there are some but none is intact, and
    CheckpointMismatchError if the newest holds another model or optimizer
    (``saved_config``, the workdir's recorded config, goes into that message).
    Arrays come back with the shardings of ``state``'s arrays.
    """
    manager = self.best if best else self.latest
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_tree(state))
    damaged = []
    for step in sorted(manager.all_steps(), reverse=True):
      try:
        self._check_fits(manager, step, state, saved_config)
        tree = _restore_verified(
          manager, step, ocp.args.StandardRestore(abstract)
        )
      except _Damaged as e:
        aside = self._set_aside(manager, step, str(e))
        damaged.append(f'{aside or _step_dir(manager, step)} ({e})')
        continue
      if damaged:
        logging.warning(
          'Resuming from step %d, the newest intact checkpoint.', step
        )
      return _from_tree(state, tree), step
    if damaged:
      raise NoIntactCheckpointError(
        f'Every checkpoint in {manager.directory} is damaged and was set '
        f'aside: {"; ".join(damaged)}. Run the same command again to start '
        'over from step 0, or restore a copy of the workdir.'
      )
    return state, None

  def restore(self, state, step: Optional[int] = None, best: bool = False):
    """``state`` with the saved values of ``step`` (default: the newest intact
    one, of ``best/`` if ``best``).

    Arrays come back with the shardings of ``state``'s arrays. An explicit
    ``step`` that is damaged raises NoIntactCheckpointError (nothing is set
    aside).
    """
    manager = self.best if best else self.latest
    if step is None:
      restored, step = self.restore_latest(state, best=best)
      if step is None:
        raise NoIntactCheckpointError(f'No checkpoint in {manager.directory}.')
      return restored
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_tree(state))
    try:
      tree = _restore_verified(
        manager, step, ocp.args.StandardRestore(abstract)
      )
    except _Damaged as e:
      raise NoIntactCheckpointError(
        f'Checkpoint {_step_dir(manager, step)} is damaged: {e}.'
      ) from e
    return _from_tree(state, tree)


def write_variables(variables: dict[str, Any], directory: str) -> str:
  """Writes ``{'params', 'batch_stats'}`` as step 0 of an Orbax checkpoint
  directory with a fingerprint, and reads it back to check it.

  This is what ``cnn_jax.convert`` writes and ``init_from`` reads.
  """
  directory = os.path.abspath(directory)
  tree = {
    'params': variables['params'],
    'batch_stats': variables.get('batch_stats', {}),
  }
  manager = _open(directory, ocp.CheckpointManagerOptions(create=True))
  try:
    manager.save(
      0,
      args=ocp.args.StandardSave(tree),
      custom_metadata={'fingerprint': integrity.fingerprint(tree)},
    )
    manager.wait_until_finished()
    _restore_verified(manager, 0, ocp.args.StandardRestore())
  except _Damaged as e:
    raise CheckpointSaveError(
      f'The checkpoint written to {_step_dir(manager, 0)} does not read back'
      f' as written: {e}. Check the disk, then convert again into an empty '
      'directory.'
    ) from e
  except OSError as e:
    raise CheckpointSaveError(
      f'Writing the checkpoint to {directory} failed: '
      f'{integrity.short_reason(e)}.'
    ) from e
  finally:
    try:
      manager.close()
    except Exception:  # pylint: disable=broad-except
      pass
  return directory


def load_variables(directory: str) -> dict[str, Any]:
  """Reads ``{'params', 'batch_stats'}`` from the newest intact checkpoint
  (of a best/ checkpoint: the weights it kept, raw or EMA).

  ``directory`` is a workdir (its ``best/`` is preferred, then
  ``checkpoints/``) or a checkpoint directory such as ``cnn_jax.convert``'s
  ``--out``. A damaged checkpoint is reported and skipped (not set aside:
  the directory may belong to another run).
  """
  directory = os.path.abspath(directory)
  if not os.path.isdir(directory):
    raise NoIntactCheckpointError(
      f'{directory} does not exist: init_from takes a workdir, its '
      "checkpoints/ or best/ directory, or cnn_jax.convert's --out."
    )
  damaged = []
  for sub in ('best', 'checkpoints', ''):
    path = os.path.join(directory, sub)
    if not os.path.isdir(path):
      continue
    manager = _open(path, ocp.CheckpointManagerOptions(read_only=True))
    try:
      for step in sorted(manager.all_steps(), reverse=True):
        try:
          tree = _restore_verified(manager, step, ocp.args.StandardRestore())
        except _Damaged as e:
          damaged.append(f'{_step_dir(manager, step)} ({e})')
          logging.warning(
            'Skipping damaged checkpoint %s: %s', _step_dir(manager, step), e
          )
          continue
        return kept_weights(tree, saved_weights(manager, step))
    finally:
      manager.close()
  if damaged:
    raise NoIntactCheckpointError(
      f'Every checkpoint under {directory} is damaged: '
      f'{"; ".join(damaged)}. Use another copy (or convert again).'
    )
  raise NoIntactCheckpointError(
    f'No Orbax checkpoint under {directory}: init_from takes a workdir, its '
    "checkpoints/ or best/ directory, or cnn_jax.convert's --out."
  )
