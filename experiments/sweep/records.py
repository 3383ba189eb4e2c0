"""A finished run's record: what its report needs, kept in the repository.

A run directory (``experiments/runs/<sweep>/<run>``: checkpoints, event
files, logs) stays on the machine that made it, and is lost with that
machine. When a run has finished, the sweep keeps a record of it in
``experiments/records/<sweep>/<run>.json``, small enough to commit: its
``results.json``, its attempts (``sweep_meta.json``: commands, commits,
machine, load, wall times), every scalar it logged (the curves) and its steps
per epoch. A report reads a run from its directory where that has finished,
and from its record otherwise; the runner skips a run that has a record. So a
sweep continues, and its pages are rewritten, on another machine.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from cnn_jax import errors
from experiments.sweep.spec import ROOT, Run, Sweep

RECORDS_DIR = os.path.join(ROOT, 'experiments', 'records')
# Each run directory's attempts, written by the runner.
META_FILE = 'sweep_meta.json'


def read_meta(workdir: str) -> dict[str, Any]:
  try:
    with open(os.path.join(workdir, META_FILE)) as f:
      return json.load(f)
  except (OSError, ValueError):
    return {}


def record_path(sweep: Sweep, run: Run, records_dir: str) -> str:
  return os.path.join(records_dir, sweep.name, run.name + '.json')


def _steps_per_epoch(workdir: str, results: dict[str, Any]) -> Optional[int]:
  """The trainer's steps per epoch: from results.json, else its training
  examples over its batch (``pipeline.steps_per_epoch`` on one process), read
  from a run in progress's ``dataset.json`` and ``config.json``."""
  if results.get('steps_per_epoch'):
    return results['steps_per_epoch']
  try:
    with open(os.path.join(workdir, 'dataset.json')) as f:
      train = json.load(f)['num_examples']['train']
    with open(os.path.join(workdir, 'config.json')) as f:
      batch = json.load(f)['batch_size']
  except (OSError, KeyError, ValueError):
    return None
  return train // batch or None


def read_workdir(workdir: str, read_curves: bool = True) -> dict[str, Any]:
  """A run directory as a record: ``results`` (None until it has finished),
  ``meta``, ``scalars`` (``{tag: [(step, value), ...]}``, empty unless
  ``read_curves``) and ``steps_per_epoch``."""
  results = None
  path = os.path.join(workdir, 'results.json')
  if os.path.exists(path):
    with open(path) as f:
      results = json.load(f)
  scalars = {}
  if read_curves and os.path.isdir(workdir):
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    from cnn_jax.analysis import scalars as scalars_lib  # pylint: disable=g-import-not-at-top

    scalars = scalars_lib.read_scalars(workdir)
  return {
    'results': results,
    'meta': read_meta(workdir),
    'scalars': scalars,
    'steps_per_epoch': _steps_per_epoch(workdir, results or {}),
  }


def keep(sweep: Sweep, run: Run, workdir: str, records_dir: str) -> str:
  """Writes the record of the finished run in ``workdir``; returns its path.

  One line of JSON, keys sorted, written atomically: rewriting an unchanged
  run changes no byte of it.
  """
  record = read_workdir(workdir)
  if record['results'] is None:
    raise ValueError(f'{workdir} has not finished: no results.json')
  path = record_path(sweep, run, records_dir)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(record, f, sort_keys=True, separators=(',', ':'))
    f.write('\n')
  os.replace(tmp, path)
  return path


def read(
  sweep: Sweep, run: Run, records_dir: Optional[str]
) -> Optional[dict[str, Any]]:
  """The run's record (as :func:`read_workdir` returns), or None."""
  if not records_dir:
    return None
  path = record_path(sweep, run, records_dir)
  try:
    with open(path) as f:
      record = json.load(f)
    record['scalars'] = {
      tag: [(int(step), float(value)) for step, value in values]
      for tag, values in record['scalars'].items()
    }
  except FileNotFoundError:
    return None
  except (ValueError, KeyError, TypeError) as e:
    raise errors.UserError(
      f'{path}: not a readable run record ({e}). Restore it '
      f'(git checkout -- {path}), or delete it to make the run again.'
    ) from e
  return record
