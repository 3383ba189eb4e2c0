"""Running a sweep: one subprocess per run, resumed where it stopped.

Every run is ``python -m cnn_jax.main --config=<CONFIG>
--workdir=experiments/runs/<NAME>/<run> --config.<field>=<value> ...`` (its
console output goes to ``<workdir>/train.log``). A run whose workdir holds a
``results.json``, or that has a record (``records.py``: what its report
needs, kept in the repository when it finished), is skipped; a run with
checkpoints but no ``results.json``
(killed, preempted, stopped by SIGTERM) is resumed by running the same command
again: the trainer restores the latest checkpoint itself. SIGTERM / Ctrl-C to
the runner is passed on to the training process, which saves a checkpoint and
exits; the sweep stops there and resumes on the next invocation. Each attempt
is recorded in ``<workdir>/sweep_meta.json`` (command, commit, machine,
devices, load, wall time, status); an attempt whose runner was killed too
is closed from its log when the next one starts.
"""

from __future__ import annotations

import datetime
import functools
import glob
import json
import os
import re
import signal
import subprocess
import time
from typing import Any, Optional

from cnn_jax.analysis import provenance
from experiments.sweep import records
from experiments.sweep.records import META_FILE, read_meta
from experiments.sweep.spec import (
  ROOT,
  _rel,
  Run,
  Sweep,
  command_of,
  dataset_available,
  effective_config,
  format_value,
  printable_command,
  run_config_path,
  run_overrides,
  workdir_of,
)

LOG_FILE = 'train.log'


def child_env(run_env: dict[str, str]) -> dict[str, str]:
  """os.environ plus the run's variables; XLA_FLAGS are merged, not lost."""
  env = dict(os.environ)
  for key, value in run_env.items():
    if key == 'XLA_FLAGS' and env.get('XLA_FLAGS'):
      new_names = {f.split('=')[0] for f in value.split()}
      kept = [
        f for f in env['XLA_FLAGS'].split() if f.split('=')[0] not in new_names
      ]
      env[key] = ' '.join(kept + [value])
    else:
      env[key] = value
  return env


def latest_checkpoint_step(workdir: str) -> Optional[int]:
  steps = []
  for path in glob.glob(os.path.join(workdir, 'checkpoints', '*')):
    base = os.path.basename(path)
    if (
      base.isdigit()
      and os.path.isdir(path)
      and not glob.glob(os.path.join(path, '*.orbax-checkpoint-tmp*'))
    ):
      steps.append(int(base))
  return max(steps) if steps else None


def _write_meta(workdir: str, meta: dict[str, Any]) -> None:
  tmp = os.path.join(workdir, META_FILE + '.tmp')
  with open(tmp, 'w') as f:
    json.dump(meta, f, indent=2, sort_keys=True)
  os.replace(tmp, os.path.join(workdir, META_FILE))


# The runner's header before each attempt's output in the log, and the time
# at the start of an absl log line ('I1206 10:01:13.645124 ...', local time).
_HEADER = re.compile(r'^===== sweep runner (\S+): .*$', re.M)
_LOG_TIME = re.compile(r'^[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.', re.M)


def close_lost_attempts(workdir: str, meta: dict[str, Any]) -> None:
  """Ends the attempts in ``meta`` that the runner never saw end.

  When the runner itself is killed (SIGKILL, the machine stopped), its
  attempt keeps only its start. Such an attempt is closed here, before the
  next one starts, with status 'killed' and, where its part of the log has a
  timestamped line, the time of its last one as its end (``end_from``:
  'log'), so that the run's wall time still counts the time it trained.
  """
  lost = [a for a in meta.get('attempts', []) if 'end' not in a]
  if not lost:
    return
  try:
    with open(os.path.join(workdir, LOG_FILE)) as f:
      text = f.read()
  except OSError:
    text = ''
  parts = _HEADER.split(text)  # [before, time 1, output 1, time 2, ...]
  outputs = [
    (datetime.datetime.fromisoformat(parts[i]), parts[i + 1])
    for i in range(1, len(parts), 2)
  ]
  for attempt in lost:
    attempt['status'] = 'killed'
    start = datetime.datetime.fromisoformat(attempt['start'])
    # Its output follows the header written as it started.
    mine = [out for t, out in outputs if 0 <= (t - start).total_seconds() < 60]
    stamps = _LOG_TIME.findall(mine[0]) if mine else []
    if not stamps:
      continue
    month, day, hour, minute, second = map(int, stamps[-1])
    end = start.replace(
      month=month, day=day, hour=hour, minute=minute, second=second
    )
    if end < start:  # the attempt ran into a new year
      end = end.replace(year=start.year + 1)
    attempt.update(
      end=end.isoformat(),
      end_from='log',
      wall_s=round((end - start).total_seconds(), 1),
    )


class SweepStopped(KeyboardInterrupt):
  """The runner got SIGTERM/SIGINT during a run: the sweep stops there."""

  def __init__(self, status: str, message: str):
    super().__init__(message)
    self.status = status


def run_one(
  sweep: Sweep,
  run: Run,
  *,
  runs_dir: Optional[str] = None,
  records_dir: Optional[str] = None,
  dry_run: bool = False,
  verbose: bool = True,
  log=None,
  invocation: Optional[str] = None,
) -> str:
  """Runs (or skips, or resumes) one run; returns its status.

  ``invocation`` (the runner's own command line) is recorded with the run.
  With ``records_dir``, a run that has a record there is skipped, and a run
  that finishes leaves its record there (``records.py``).

  'skipped' (results.json or its record exists), 'ran', 'resumed' (started
  from a checkpoint), 'interrupted' (stopped by a signal; resumable),
  'failed', 'unavailable' (its dataset is not prepared here) or 'dry_run'.
  """
  log = log or functools.partial(print, flush=True)
  workdir = workdir_of(sweep, run, runs_dir)
  cmd = command_of(sweep, run, workdir)
  shown = printable_command(cmd, run.env)
  if os.path.exists(os.path.join(workdir, 'results.json')):
    log(f'[{sweep.name}] {run.name}: skipped (results.json exists)')
    return 'skipped'
  if records.read(sweep, run, records_dir) is not None:
    log(
      f'[{sweep.name}] {run.name}: skipped (finished: its record '
      f'{_rel(records.record_path(sweep, run, records_dir))} exists)'
    )
    return 'skipped'
  config = effective_config(sweep, run)
  if config is not None and not dataset_available(
    config.dataset, config.data_dir
  ):
    log(
      f'[{sweep.name}] {run.name}: not run: dataset {config.dataset!r} is '
      'not prepared here'
    )
    return 'unavailable'
  resume_step = latest_checkpoint_step(workdir)
  if dry_run:
    what = (
      f'would resume from step {resume_step}'
      if resume_step is not None
      else 'would run'
    )
    log(f'[{sweep.name}] {run.name}: {what}:\n  {shown}')
    return 'dry_run'

  os.makedirs(workdir, exist_ok=True)
  meta = read_meta(workdir)
  close_lost_attempts(workdir, meta)
  meta.update(
    run=run.name,
    group=run.group,
    sweep=sweep.name,
    config=run_config_path(sweep, run),
    overrides={
      k: format_value(v) for k, v in run_overrides(sweep, run).items()
    },
    env=run.env,
    labels=run.labels,
    command=shown,
  )
  attempt = {
    'start': provenance.now(),
    'resumed_from_step': resume_step,
    'runner': invocation,
    'commit': provenance.git_commit(),
    'host': provenance.machine(),
    'loadavg_start': list(os.getloadavg()),
  }
  meta.setdefault('attempts', []).append(attempt)
  _write_meta(workdir, meta)
  log(
    f'[{sweep.name}] {run.name}: '
    + (
      f'resuming from checkpoint step {resume_step}'
      if resume_step is not None
      else 'starting'
    )
    + f'\n  {shown}'
  )

  stop = {'signal': None}
  t0 = time.perf_counter()
  with open(os.path.join(workdir, LOG_FILE), 'a') as logf:
    logf.write(f'\n===== sweep runner {provenance.now()}: {shown}\n')
    logf.flush()
    proc = subprocess.Popen(
      cmd,
      cwd=ROOT,
      env=child_env(run.env),
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
      start_new_session=True,
    )

    def forward(signum, frame):
      del frame
      stop['signal'] = signum
      try:
        proc.send_signal(signal.SIGTERM)  # the trainer saves and exits
      except OSError:
        pass

    previous = {
      s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)
    }
    tail = []
    try:
      for line in proc.stdout:
        logf.write(line)
        logf.flush()
        tail = (tail + [line])[-15:]
        if verbose:
          log(f'  {run.name}: {line.rstrip()[-200:]}')
      rc = proc.wait()
    finally:
      for s, h in previous.items():
        signal.signal(s, h)
  attempt.update(
    end=provenance.now(),
    wall_s=round(time.perf_counter() - t0, 1),
    rc=rc,
    loadavg_end=list(os.getloadavg()),
  )
  finished = os.path.exists(os.path.join(workdir, 'results.json'))
  if finished:
    status = 'resumed' if resume_step is not None else 'ran'
  elif stop['signal'] is not None or (
    rc == 0 and latest_checkpoint_step(workdir) is not None
  ):
    status = 'interrupted'
  else:
    status = 'failed'
  attempt['status'] = status
  _write_meta(workdir, meta)
  if finished and records_dir:
    log(
      f'[{sweep.name}] {run.name}: record '
      + _rel(records.keep(sweep, run, workdir, records_dir))
    )
  if status == 'failed':
    log(
      f'[{sweep.name}] {run.name}: the end of its log '
      f'({os.path.join(workdir, LOG_FILE)}):\n' + ''.join(tail)
    )
  log(
    f'[{sweep.name}] {run.name}: {status} (rc {rc}, {attempt["wall_s"]:.0f} s)'
  )
  if stop['signal'] is not None:
    raise SweepStopped(status, f'signal {stop["signal"]}')
  return status


def select(sweep: Sweep, filters: Optional[str]) -> list[Run]:
  if not filters:
    return list(sweep.runs)
  subs = [s for s in filters.split(',') if s]
  return [r for r in sweep.runs if any(s in r.name for s in subs)]


def run_sweep(
  sweep: Sweep,
  *,
  filters: Optional[str] = None,
  runs_dir: Optional[str] = None,
  records_dir: Optional[str] = None,
  dry_run: bool = False,
  verbose: bool = True,
  log=None,
  invocation: Optional[str] = None,
) -> dict[str, str]:
  """Runs the selected runs one after the other: ``{run name: status}``."""
  log = log or functools.partial(print, flush=True)
  statuses = {}
  for run in select(sweep, filters):
    try:
      statuses[run.name] = run_one(
        sweep,
        run,
        runs_dir=runs_dir,
        records_dir=records_dir,
        dry_run=dry_run,
        verbose=verbose,
        log=log,
        invocation=invocation,
      )
    except KeyboardInterrupt as e:
      statuses[run.name] = getattr(e, 'status', 'interrupted')
      log(f'[{sweep.name}] stopped; run the same command to resume.')
      break
  return statuses
