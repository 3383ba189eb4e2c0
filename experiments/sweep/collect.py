"""Reading a sweep's runs back: results, TensorBoard curves, attempts."""

from __future__ import annotations

import dataclasses
import os
import re
import statistics
from typing import Any, Optional

from experiments.sweep import records
from experiments.sweep.spec import Run, Sweep, effective_config, workdir_of


@dataclasses.dataclass
class RunResult:
  run: Run
  workdir: str
  results: Optional[dict[str, Any]]
  meta: dict[str, Any]
  scalars: dict[str, list[tuple[int, float]]]
  steps_per_epoch: Optional[int]
  config: Any = None

  @property
  def done(self) -> bool:
    return self.results is not None

  def metric(self, key: str) -> Optional[float]:
    r = self.results
    if r is None:
      return None
    split = {'val': 'validation', 'test': 'test'}
    # val_acc, test_err, ...; val_ema_acc: the moving average's (ema_decay).
    m = re.fullmatch(r'(val|test)_(ema_)?(acc|err|loss|top5)', key)
    if m:
      s = r.get(split[m.group(1)])
      ema = m.group(2) or ''
      if not s or f'{ema}loss' not in s:
        return None
      if m.group(3) == 'acc':
        return 100 * s[f'{ema}accuracy']
      if m.group(3) == 'err':
        return 100 * (1 - s[f'{ema}accuracy'])
      if m.group(3) == 'top5':
        top5 = s.get(f'{ema}top5_accuracy')
        return None if top5 is None else 100 * top5
      return s[f'{ema}loss']
    if key == 'params':
      return r.get('num_params')
    if key == 'steps':
      return r.get('step')
    if key == 'epochs':
      return r['step'] / self.steps_per_epoch if self.steps_per_epoch else None
    if key == 'img_s':
      return images_per_sec(self)
    if key == 'wall':
      return (
        sum(a.get('wall_s', 0) for a in self.meta.get('attempts', [])) or None
      )
    if key == 'train_acc':
      v = self.scalars.get('train_accuracy')
      return 100 * v[-1][1] if v else None
    if key == 'train_loss':
      v = self.scalars.get('train_loss')
      return v[-1][1] if v else None
    return None

  def label(self, key: str) -> Any:
    if key in self.run.labels:
      return self.run.labels[key]
    if self.config is not None and key in self.config:
      return self.config[key]
    return None


def images_per_sec(r: RunResult) -> Optional[float]:
  """Median training img/s over the log windows that include no compile.

  The first window after each (re)start includes the jit compilation and is
  left out; if nothing else is left, None.
  """
  values = r.scalars.get('train_images_per_sec', [])
  if not values:
    return None
  starts = [
    a.get('resumed_from_step') or 0 for a in r.meta.get('attempts', [])
  ] or [0]
  skip = set()
  for s in starts:
    after = [step for step, _ in values if step > s]
    if after:
      skip.add(min(after))
  kept = [v for step, v in values if step not in skip]
  return statistics.median(kept) if kept else None


# A group's timing is its fastest run's, not a mean: other work on the machine
# only ever slows a run down, so the fastest run is the closest measure of the
# machine (as timeit's best of N).
FASTEST = {'img_s': max, 'wall': min}


def summarize(
  key: str, values: list[Optional[float]]
) -> tuple[Optional[float], Optional[float]]:
  """A group's ``key`` over its runs' ``values``: (mean, sample std).

  The std is None for one run and for the timings of FASTEST, which give the
  fastest run's value; (None, None) where no run has the metric.
  """
  values = [v for v in values if v is not None]
  if not values:
    return None, None
  if key in FASTEST:
    return FASTEST[key](values), None
  if len(values) == 1:
    return values[0], None
  return statistics.mean(values), statistics.stdev(values)


def load_results(
  sweep: Sweep,
  runs_dir: Optional[str] = None,
  read_curves: bool = True,
  records_dir: Optional[str] = None,
) -> list[RunResult]:
  """Every run of ``sweep``: from its run directory where that has finished,
  else from its record in ``records_dir`` (if given), else what its directory
  holds (a run in progress, or nothing)."""
  out = []
  for run in sweep.runs:
    workdir = workdir_of(sweep, run, runs_dir)
    finished_here = os.path.exists(os.path.join(workdir, 'results.json'))
    record = None if finished_here else records.read(sweep, run, records_dir)
    if record is None:
      record = records.read_workdir(workdir, read_curves)
    out.append(
      RunResult(
        run,
        workdir,
        record['results'],
        record['meta'],
        record['scalars'] if read_curves else {},
        record['steps_per_epoch'],
        effective_config(sweep, run),
      )
    )
  return out
