"""Orbax checkpoints: the latest few for resuming, plus the best by validation.

``<workdir>/checkpoints`` keeps the last ``keep`` states (saved every N steps,
at every evaluation and at the end); ``<workdir>/best`` keeps the one with the
highest validation accuracy. A run restarted with the same workdir resumes
from the latest automatically.
"""
from __future__ import annotations

import os
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp


def _to_tree(state) -> dict[str, Any]:
  """The parts of a TrainState worth saving."""
  return {'step': state.step, 'params': state.params,
          'batch_stats': state.batch_stats, 'opt_state': state.opt_state,
          'rng': state.rng}


def _from_tree(state, tree):
  return state.replace(step=tree['step'], params=tree['params'],
                       batch_stats=tree['batch_stats'],
                       opt_state=tree['opt_state'], rng=tree['rng'])


class Checkpointer:
  """Saves and restores train states under ``workdir``."""

  def __init__(self, workdir: str, keep: int = 2):
    workdir = os.path.abspath(workdir)
    self.latest = ocp.CheckpointManager(
        os.path.join(workdir, 'checkpoints'),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))
    self.best = ocp.CheckpointManager(
        os.path.join(workdir, 'best'),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=1, create=True, best_fn=lambda m: m['accuracy'],
            best_mode='max'))

  def latest_step(self) -> Optional[int]:
    return self.latest.latest_step()

  def save(self, state, step: int) -> None:
    if step in self.latest.all_steps():
      return
    self.latest.save(step, args=ocp.args.StandardSave(_to_tree(state)))

  def save_if_best(self, state, step: int, val_accuracy: float) -> bool:
    """Keeps ``state`` if its validation accuracy beats the best so far."""
    best = self.best.best_step()
    if best is not None and val_accuracy <= self.best.metrics(best)['accuracy']:
      return False
    self.best.save(step, args=ocp.args.StandardSave(_to_tree(state)),
                   metrics={'accuracy': float(val_accuracy)})
    return True

  def restore(self, state, step: Optional[int] = None, best: bool = False):
    """``state`` with the saved values of ``step`` (default: the latest).

    Arrays come back with the shardings of ``state``'s arrays.
    """
    manager = self.best if best else self.latest
    step = (manager.best_step() if best else manager.latest_step()) \
        if step is None else step
    if step is None:
      raise FileNotFoundError(f'No checkpoint in {manager.directory}.')
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_tree(state))
    tree = manager.restore(step, args=ocp.args.StandardRestore(abstract))
    return _from_tree(state, tree)

  def wait(self) -> None:
    self.latest.wait_until_finished()
    self.best.wait_until_finished()

  def close(self) -> None:
    self.latest.close()
    self.best.close()


def load_variables(directory: str) -> dict[str, Any]:
  """Reads ``{'params', 'batch_stats'}`` from a checkpoint (e.g. converted).

  ``directory`` is a workdir, its ``checkpoints``/``best`` dir, or one step.
  """
  directory = os.path.abspath(directory)
  for sub in ('best', 'checkpoints', ''):
    path = os.path.join(directory, sub)
    if not os.path.isdir(path):
      continue
    manager = ocp.CheckpointManager(path)
    step = manager.latest_step()
    if step is not None:
      tree = manager.restore(step, args=ocp.args.StandardRestore())
      manager.close()
      return {'params': tree['params'],
              'batch_stats': tree.get('batch_stats', {})}
    manager.close()
  raise FileNotFoundError(f'No Orbax checkpoint found under {directory}.')
