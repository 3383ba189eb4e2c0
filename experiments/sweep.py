"""The sweep runner: a base config, a list of runs, one workdir each, a report.

Usage::

  python -m experiments.sweep experiments/sweeps/<name>.py [--dry_run]
      [--collect_only] [--filter=SUBSTR[,SUBSTR...]] [--runs_dir=DIR]
      [--results_dir=DIR] [--quiet]

Every run is a subprocess ``python -m cnn_jax.main --config=<CONFIG>
--workdir=experiments/runs/<NAME>/<run> --config.<field>=<value> ...`` (its
console output goes to ``<workdir>/train.log``). A run whose workdir holds a
``results.json`` is skipped; a run with checkpoints but no ``results.json``
(killed, preempted, stopped by SIGTERM) is resumed by running the same command
again: the trainer restores the latest checkpoint itself. SIGTERM / Ctrl-C to
the runner is passed on to the training process, which saves a checkpoint and
exits; the sweep stops there and resumes on the next invocation.

After the runs (or alone, with ``--collect_only``) the collector reads every
run's ``results.json`` and TensorBoard scalars and writes
``experiments/results/<NAME>.md`` with the table (mean ± sample std over the
runs of a group, i.e. over seeds, where more than one ran; published figures
beside ours), the PNG figures, the command, the hardware, the dates and the
git commit. A run that has not finished reads 'not run' there.

A sweep file is a Python module with:

* ``NAME``: the sweep's name (workdirs under ``runs/<NAME>``, report
  ``results/<NAME>.md``).
* ``TITLE``, ``DESCRIPTION``: markdown for the top of the report.
* ``CONFIG``: the base config, a path relative to the repository root.
* ``COMMON``: ``{field: value}`` overrides for every run (dotted fields such
  as ``'model_kwargs.small_input_stem'`` are fine if the config has them).
* ``RUNS``: a list of :class:`Run` (or of ``(name, overrides)`` pairs),
  often made by :func:`grid`. A run's ``group`` (default: its name without a
  ``_seed<N>`` suffix) gathers seeds for mean ± std; ``labels`` carry values
  for tables and plots (``depth``, ``family``, ``devices``...); ``env`` adds
  environment variables (:func:`host_devices` for XLA host devices);
  ``config`` replaces ``CONFIG`` for that run.
* Optional: ``PUBLISHED`` ``{group: {metric: value}}`` and
  ``PUBLISHED_SOURCE``; ``COLUMNS`` (metric or label names, see
  :data:`COLUMN_TITLES`); ``PLOTS`` (a list of dicts, see
  :func:`experiments.plots.make_plot`); ``ANALYSIS = 'scaling'`` for the
  data-parallel scaling table; ``NOTES`` and ``HARDWARE_NOTE`` (markdown);
  ``PUBLISHED_LABEL`` (the published columns' header suffix);
  ``STEP_TABLES`` (scalar tags, e.g. ``'train_loss'``, tabulated step by
  step across the runs).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import glob
import importlib.util
import itertools
import json
import math
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time
from typing import Any, Iterable, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS_DIR = os.path.join(ROOT, 'experiments', 'runs')
RESULTS_DIR = os.path.join(ROOT, 'experiments', 'results')
META_FILE = 'sweep_meta.json'
LOG_FILE = 'train.log'

HOST_DEVICE_FLAG = '--xla_force_host_platform_device_count'


# --------------------------------------------------------------------------
# Sweep definition helpers (used by the sweep files).
# --------------------------------------------------------------------------
@dataclasses.dataclass
class Run:
  """One training run of a sweep."""
  name: str
  overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
  env: dict[str, str] = dataclasses.field(default_factory=dict)
  config: Optional[str] = None  # replaces the sweep's CONFIG
  group: Optional[str] = None  # default: name without a _seed<N> suffix
  labels: dict[str, Any] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    if not re.fullmatch(r'[A-Za-z0-9_.+-]+', self.name):
      raise ValueError(f'Run name {self.name!r}: use letters, digits, _.+-')
    if self.group is None:
      self.group = re.sub(r'_seed\d+$', '', self.name)


def host_devices(n: int) -> dict[str, str]:
  """Environment for ``n`` XLA host (CPU) devices; no effect on GPU/TPU."""
  return {'XLA_FLAGS': f'{HOST_DEVICE_FLAG}={n}'}


def grid(name: str, axes: dict[str, Iterable[Any]], *,
         overrides: Optional[dict[str, Any]] = None, env=None, labels=None,
         config=None, group: Optional[str] = None) -> list[Run]:
  """The cartesian product of ``axes`` (config fields -> values) as runs.

  ``name`` (and ``group``) are format strings over the axis names, e.g.
  ``'{model}_seed{seed}'``. ``overrides``, ``env``, ``labels`` and ``config``
  are fixed values or callables of the combination dict.
  """
  keys = list(axes)
  runs = []
  for values in itertools.product(*(list(axes[k]) for k in keys)):
    combo = dict(zip(keys, values))
    fmt = {k.replace('.', '_'): v for k, v in combo.items()}
    pick = lambda x: x(combo) if callable(x) else (x or {})  # noqa: E731
    runs.append(Run(
        name=name.format(**fmt),
        overrides={**pick(overrides), **combo},
        env=dict(pick(env)), labels=dict(pick(labels)),
        config=config(combo) if callable(config) else config,
        group=group.format(**fmt) if group else None))
  return runs


# --------------------------------------------------------------------------
# Loading a sweep and building commands.
# --------------------------------------------------------------------------
@dataclasses.dataclass
class Sweep:
  name: str
  path: str
  config: str
  common: dict[str, Any]
  runs: list[Run]
  title: str = ''
  description: str = ''
  published: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
  published_source: str = ''
  published_label: str = 'published'
  columns: Optional[list[str]] = None
  plots: list[dict[str, Any]] = dataclasses.field(default_factory=list)
  analysis: Optional[str] = None
  notes: str = ''
  hardware_note: str = ''
  step_tables: list[str] = dataclasses.field(default_factory=list)


def load_sweep(path: str) -> Sweep:
  """Imports a sweep file and checks it (UserError if it is not one)."""
  from cnn_jax import errors  # pylint: disable=g-import-not-at-top
  path = os.path.abspath(path)
  if not os.path.isfile(path):
    raise errors.UserError(f'No sweep file {path}; the sweeps are in '
                           'experiments/sweeps/.')
  if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
  spec = importlib.util.spec_from_file_location(
      '_sweep_' + os.path.splitext(os.path.basename(path))[0], path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  missing = [n for n in ('NAME', 'CONFIG', 'RUNS') if not hasattr(mod, n)]
  if missing:
    raise errors.UserError(f'{path} is not a sweep file: it does not define '
                           f'{", ".join(missing)} (see experiments/sweep.py).')
  runs = [r if hasattr(r, 'overrides') else Run(r[0], dict(r[1]))
          for r in mod.RUNS]
  names = [r.name for r in runs]
  if len(set(names)) != len(names):
    raise errors.UserError(f'{path}: duplicate run names {names}')
  return Sweep(
      name=mod.NAME, path=path, config=mod.CONFIG,
      common=dict(getattr(mod, 'COMMON', {})), runs=runs,
      title=getattr(mod, 'TITLE', mod.NAME),
      description=getattr(mod, 'DESCRIPTION', ''),
      published=dict(getattr(mod, 'PUBLISHED', {})),
      published_source=getattr(mod, 'PUBLISHED_SOURCE', ''),
      published_label=getattr(mod, 'PUBLISHED_LABEL', 'published'),
      columns=getattr(mod, 'COLUMNS', None),
      plots=list(getattr(mod, 'PLOTS', [])),
      analysis=getattr(mod, 'ANALYSIS', None),
      notes=getattr(mod, 'NOTES', ''),
      hardware_note=getattr(mod, 'HARDWARE_NOTE', ''),
      step_tables=list(getattr(mod, 'STEP_TABLES', [])))


def format_value(v: Any) -> str:
  """A config value as ml_collections' command-line parser reads it."""
  if isinstance(v, bool):
    return str(v)
  if isinstance(v, (tuple, list)):
    inner = ', '.join(format_value(x) if not isinstance(x, str) else repr(x)
                      for x in v)
    return f'({inner},)' if len(v) == 1 else f'({inner})'
  if isinstance(v, float):
    return repr(v)
  return str(v)


def run_overrides(sweep: Sweep, run: Run) -> dict[str, Any]:
  return {**sweep.common, **run.overrides}


def run_config_path(sweep: Sweep, run: Run) -> str:
  return run.config or sweep.config


def workdir_of(sweep: Sweep, run: Run, runs_dir: Optional[str] = None) -> str:
  return os.path.join(runs_dir or RUNS_DIR, sweep.name, run.name)


def command_of(sweep: Sweep, run: Run, workdir: str) -> list[str]:
  cmd = [sys.executable, '-m', 'cnn_jax.main',
         f'--config={run_config_path(sweep, run)}', f'--workdir={workdir}']
  cmd += [f'--config.{k}={format_value(v)}'
          for k, v in run_overrides(sweep, run).items()]
  return cmd


def printable_command(cmd: list[str], env: dict[str, str]) -> str:
  """The command as one would type it in the repository root."""
  parts = [f'{k}={shlex.quote(v)}' for k, v in sorted(env.items())]
  args = ['python'] + list(cmd[1:])
  rel = ['--workdir=' + _rel(a[10:]) if a.startswith('--workdir=') else a
         for a in args]
  return ' '.join(parts + [shlex.quote(a) for a in rel])


def child_env(run_env: dict[str, str]) -> dict[str, str]:
  """os.environ plus the run's variables; XLA_FLAGS are merged, not lost."""
  env = dict(os.environ)
  env['PYTHONPATH'] = ROOT + (os.pathsep + env['PYTHONPATH']
                              if env.get('PYTHONPATH') else '')
  for key, value in run_env.items():
    if key == 'XLA_FLAGS' and env.get('XLA_FLAGS'):
      new_names = {f.split('=')[0] for f in value.split()}
      kept = [f for f in env['XLA_FLAGS'].split()
              if f.split('=')[0] not in new_names]
      env[key] = ' '.join(kept + [value])
    else:
      env[key] = value
  return env


def effective_config(sweep: Sweep, run: Run):
  """The run's ConfigDict (config file + overrides), or None if unreadable."""
  if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
  try:
    path = os.path.join(ROOT, run_config_path(sweep, run))
    spec = importlib.util.spec_from_file_location('_cfg', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    config = mod.get_config()
    for key, value in run_overrides(sweep, run).items():
      *parents, leaf = key.split('.')
      node = config
      for p in parents:
        node = node[p]
      with config.ignore_type() if hasattr(config, 'ignore_type') else _null():
        node[leaf] = value
    return config
  except Exception:  # pylint: disable=broad-except
    return None


def config_problems(sweep: Sweep, runs: Iterable[Run]) -> list[str]:
  """Every problem of the runs' configs (unknown fields, bad values), so that
  a typo in a sweep file stops it before the first run, not in every run."""
  from cnn_jax import config_validation  # pylint: disable=g-import-not-at-top
  if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
  found = []
  for run in runs:
    path = os.path.join(ROOT, run_config_path(sweep, run))
    if not os.path.isfile(path):
      found.append(f'{run.name}: no config file {path}')
      continue
    spec = importlib.util.spec_from_file_location('_cfg', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    config = mod.get_config()
    for key, value in run_overrides(sweep, run).items():
      *parents, leaf = key.split('.')
      node = config
      try:
        for p in parents:
          node = node[p]
        if leaf not in node:
          raise KeyError(leaf)
        with config.ignore_type():
          node[leaf] = value
      except (KeyError, TypeError):
        fields = list(config_validation.FIELDS) if not parents else []
        found.append(f'{run.name}: the config has no field {key!r}.'
                     f'{config_validation.closest(key, fields)}')
    found.extend(f'{run.name}: {p}'
                 for p in config_validation.problems(config))
  return found


class _null:
  def __enter__(self):
    return self

  def __exit__(self, *a):
    return False


def dataset_available(dataset: str, data_dir: str = '') -> bool:
  """Whether the trainer can read ``dataset`` here without a download.

  MNIST-format sets are prepared automatically from local files; others need
  a prepared TFDS directory (``<data_dir>/<name>/<version>/``).
  """
  if dataset in ('synthetic', 'fashion_mnist', 'mnist'):
    return True
  data_dir = (data_dir or os.environ.get('TFDS_DATA_DIR') or
              os.path.expanduser('~/tensorflow_datasets'))
  return bool(glob.glob(os.path.join(data_dir, dataset, '*',
                                     'dataset_info.json')) or
              glob.glob(os.path.join(data_dir, dataset, '*', '*',
                                     'dataset_info.json')))


# --------------------------------------------------------------------------
# Facts about the machine and the code.
# --------------------------------------------------------------------------
def git_commit() -> str:
  """``git rev-parse --short HEAD``, plus '+dirty' if the tree has changes."""
  try:
    head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT,
                          capture_output=True, text=True,
                          check=True).stdout.strip()
    dirty = subprocess.run(['git', 'status', '--porcelain'], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return head + ('+dirty' if dirty else '')
  except (OSError, subprocess.CalledProcessError):
    return 'unknown'


def cpu_info() -> dict[str, Any]:
  model = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          model = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  mem_gib = None
  try:
    with open('/proc/meminfo') as f:
      kb = int(f.readline().split()[1])
      mem_gib = round(kb / 2**20, 1)
  except (OSError, ValueError, IndexError):
    pass
  gpus = []
  try:
    out = subprocess.run(['nvidia-smi', '--query-gpu=name',
                          '--format=csv,noheader'], capture_output=True,
                         text=True, timeout=20)
    gpus = [l.strip() for l in out.stdout.splitlines() if l.strip()]
  except (OSError, subprocess.SubprocessError):
    pass
  return {'cpu': model, 'cores': os.cpu_count(), 'memory_gib': mem_gib,
          'gpus': gpus, 'hostname': platform.node()}


_PROBE = ('import json, jax; d = jax.devices(); print("PROBE" + json.dumps('
          '{"platform": d[0].platform, "device_kind": d[0].device_kind, '
          '"count": len(d), "jax": jax.__version__}))')
_probe_cache: dict[tuple, dict[str, Any]] = {}


def probe_devices(env: dict[str, str]) -> dict[str, Any]:
  """The JAX devices a child with ``env`` sees (cached per environment)."""
  key = tuple(sorted(env.items()))
  if key not in _probe_cache:
    try:
      out = subprocess.run([sys.executable, '-c', _PROBE], env=child_env(env),
                           capture_output=True, text=True, timeout=300)
      line = [l for l in out.stdout.splitlines() if l.startswith('PROBE')]
      _probe_cache[key] = json.loads(line[-1][5:]) if line else {}
    except (OSError, subprocess.SubprocessError, ValueError):
      _probe_cache[key] = {}
  return _probe_cache[key]


def _probe_env(sweep: Sweep, run: Run) -> dict[str, str]:
  """The run's environment plus the host devices its config asks for."""
  env = dict(run.env)
  n = int(run_overrides(sweep, run).get('host_devices', 0) or 0)
  if n > 0:  # the same XLA_FLAGS edit as cnn_jax.main makes in the child.
    from cnn_jax.ops import cpu_tuning  # pylint: disable=g-import-not-at-top
    env.setdefault('XLA_FLAGS', os.environ.get('XLA_FLAGS', ''))
    cpu_tuning.configure(host_devices=n, tuning='none', environ=env)
  return env


def describe_devices(d: dict[str, Any]) -> str:
  if not d:
    return 'unknown devices'
  if d.get('platform') == 'cpu':
    return (f"{d['count']} XLA CPU host device{'s' if d['count'] > 1 else ''}")
  return f"{d['count']} x {d.get('device_kind', d.get('platform'))}"


def _rel(path: str) -> str:
  """``path`` relative to the repository root if it lies inside it."""
  path = os.path.abspath(path)
  return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def _now() -> str:
  return datetime.datetime.now().astimezone().isoformat(timespec='seconds')


# --------------------------------------------------------------------------
# Running.
# --------------------------------------------------------------------------
def latest_checkpoint_step(workdir: str) -> Optional[int]:
  steps = []
  for path in glob.glob(os.path.join(workdir, 'checkpoints', '*')):
    base = os.path.basename(path)
    if base.isdigit() and os.path.isdir(path) and not glob.glob(
        os.path.join(path, '*.orbax-checkpoint-tmp*')):
      steps.append(int(base))
  return max(steps) if steps else None


def read_meta(workdir: str) -> dict[str, Any]:
  try:
    with open(os.path.join(workdir, META_FILE)) as f:
      return json.load(f)
  except (OSError, ValueError):
    return {}


def _write_meta(workdir: str, meta: dict[str, Any]) -> None:
  tmp = os.path.join(workdir, META_FILE + '.tmp')
  with open(tmp, 'w') as f:
    json.dump(meta, f, indent=2, sort_keys=True)
  os.replace(tmp, os.path.join(workdir, META_FILE))


class SweepStopped(KeyboardInterrupt):
  """The runner got SIGTERM/SIGINT during a run: the sweep stops there."""

  def __init__(self, status: str, message: str):
    super().__init__(message)
    self.status = status


_INVOCATION: Optional[str] = None  # the runner's command line, set by main()

_ECHO = re.compile(r'train\.py:\d+\]|Error|Traceback|error:')


def run_one(sweep: Sweep, run: Run, *, runs_dir: Optional[str] = None,
            dry_run: bool = False, verbose: bool = True,
            log=None) -> str:
  """Runs (or skips, or resumes) one run; returns its status.

  'skipped' (results.json exists), 'ran', 'resumed' (started from a
  checkpoint), 'interrupted' (stopped by a signal; resumable), 'failed',
  'unavailable' (its dataset is not prepared here) or 'dry_run'.
  """
  log = log or functools.partial(print, flush=True)
  workdir = workdir_of(sweep, run, runs_dir)
  cmd = command_of(sweep, run, workdir)
  shown = printable_command(cmd, run.env)
  if os.path.exists(os.path.join(workdir, 'results.json')):
    log(f'[{sweep.name}] {run.name}: skipped (results.json exists)')
    return 'skipped'
  config = effective_config(sweep, run)
  if config is not None and not dataset_available(config.dataset,
                                                  config.data_dir):
    log(f'[{sweep.name}] {run.name}: not run: dataset {config.dataset!r} is '
        'not prepared here')
    return 'unavailable'
  resume_step = latest_checkpoint_step(workdir)
  if dry_run:
    what = (f'would resume from step {resume_step}' if resume_step is not None
            else 'would run')
    log(f'[{sweep.name}] {run.name}: {what}:\n  {shown}')
    return 'dry_run'

  os.makedirs(workdir, exist_ok=True)
  meta = read_meta(workdir)
  meta.update(run=run.name, group=run.group, sweep=sweep.name,
              config=run_config_path(sweep, run),
              overrides={k: format_value(v)
                         for k, v in run_overrides(sweep, run).items()},
              env=run.env, labels=run.labels, command=shown)
  attempt = {'start': _now(), 'resumed_from_step': resume_step,
             'runner': _INVOCATION,
             'commit': git_commit(), 'host': cpu_info(),
             'devices': probe_devices(_probe_env(sweep, run)),
             'loadavg_start': list(os.getloadavg())}
  meta.setdefault('attempts', []).append(attempt)
  _write_meta(workdir, meta)
  log(f'[{sweep.name}] {run.name}: '
      + (f'resuming from checkpoint step {resume_step}' if resume_step
         is not None else 'starting') + f' ({describe_devices(attempt["devices"])})'
      + f'\n  {shown}')

  stop = {'signal': None}
  t0 = time.perf_counter()
  with open(os.path.join(workdir, LOG_FILE), 'a') as logf:
    logf.write(f'\n===== sweep runner {_now()}: {shown}\n')
    logf.flush()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=child_env(run.env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)

    def forward(signum, frame):
      del frame
      stop['signal'] = signum
      try:
        proc.send_signal(signal.SIGTERM)  # the trainer saves and exits
      except OSError:
        pass

    previous = {s: signal.signal(s, forward)
                for s in (signal.SIGTERM, signal.SIGINT)}
    tail = []
    try:
      for line in proc.stdout:
        logf.write(line)
        logf.flush()
        tail = (tail + [line])[-15:]
        if verbose and _ECHO.search(line):
          log(f'  {run.name}: {line.rstrip()[-200:]}')
      rc = proc.wait()
    finally:
      for s, h in previous.items():
        signal.signal(s, h)
  attempt.update(end=_now(), wall_s=round(time.perf_counter() - t0, 1),
                 rc=rc, loadavg_end=list(os.getloadavg()))
  finished = os.path.exists(os.path.join(workdir, 'results.json'))
  if finished:
    status = 'resumed' if resume_step is not None else 'ran'
  elif stop['signal'] is not None or (rc == 0 and latest_checkpoint_step(
      workdir) is not None):
    status = 'interrupted'
  else:
    status = 'failed'
  attempt['status'] = status
  _write_meta(workdir, meta)
  if status == 'failed':
    log(f'[{sweep.name}] {run.name}: the end of its log '
        f'({os.path.join(workdir, LOG_FILE)}):\n' + ''.join(tail))
  log(f'[{sweep.name}] {run.name}: {status} (rc {rc}, '
      f'{attempt["wall_s"]:.0f} s)')
  if stop['signal'] is not None:
    raise SweepStopped(status, f'signal {stop["signal"]}')
  return status


def select(sweep: Sweep, filters: Optional[str]) -> list[Run]:
  if not filters:
    return list(sweep.runs)
  subs = [s for s in filters.split(',') if s]
  return [r for r in sweep.runs if any(s in r.name for s in subs)]


def run_sweep(sweep: Sweep, *, filters: Optional[str] = None,
              runs_dir: Optional[str] = None, dry_run: bool = False,
              verbose: bool = True, log=None) -> dict[str, str]:
  """Runs the selected runs one after the other: ``{run name: status}``."""
  log = log or functools.partial(print, flush=True)
  statuses = {}
  for run in select(sweep, filters):
    try:
      statuses[run.name] = run_one(sweep, run, runs_dir=runs_dir,
                                   dry_run=dry_run, verbose=verbose, log=log)
    except KeyboardInterrupt as e:
      statuses[run.name] = getattr(e, 'status', 'interrupted')
      log(f'[{sweep.name}] stopped; run the same command to resume.')
      break
  return statuses


# --------------------------------------------------------------------------
# Collecting.
# --------------------------------------------------------------------------
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
    m = re.fullmatch(r'(val|test)_(acc|err|loss|top5)', key)
    if m:
      s = r.get(split[m.group(1)])
      if not s:
        return None
      if m.group(2) == 'acc':
        return 100 * s['accuracy']
      if m.group(2) == 'err':
        return 100 * (1 - s['accuracy'])
      if m.group(2) == 'top5':
        return 100 * s['top5_accuracy'] if 'top5_accuracy' in s else None
      return s['loss']
    if key == 'params':
      return r.get('num_params')
    if key == 'steps':
      return r.get('step')
    if key == 'epochs':
      return (r['step'] / self.steps_per_epoch if self.steps_per_epoch
              else None)
    if key == 'img_s':
      return images_per_sec(self)
    if key == 'wall':
      return sum(a.get('wall_s', 0) for a in self.meta.get('attempts', [])
                 ) or None
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
  starts = [a.get('resumed_from_step') or 0
            for a in r.meta.get('attempts', [])] or [0]
  skip = set()
  for s in starts:
    after = [step for step, _ in values if step > s]
    if after:
      skip.add(min(after))
  kept = [v for step, v in values if step not in skip]
  return statistics.median(kept) if kept else None


def _steps_per_epoch(workdir: str) -> Optional[int]:
  try:
    with open(os.path.join(workdir, LOG_FILE)) as f:
      m = re.findall(r'(\d+) steps per epoch', f.read())
    return int(m[-1]) if m else None
  except OSError:
    return None


def load_results(sweep: Sweep, runs_dir: Optional[str] = None,
                 read_curves: bool = True) -> list[RunResult]:
  out = []
  for run in sweep.runs:
    workdir = workdir_of(sweep, run, runs_dir)
    results = None
    path = os.path.join(workdir, 'results.json')
    if os.path.exists(path):
      with open(path) as f:
        results = json.load(f)
    scalars = {}
    if read_curves and glob.glob(os.path.join(workdir, 'events.out.*')):
      os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
      from cnn_jax.analysis import scalars as scalars_lib  # pylint: disable=g-import-not-at-top
      scalars = scalars_lib.read_scalars(workdir)
    out.append(RunResult(run, workdir, results, read_meta(workdir), scalars,
                         _steps_per_epoch(workdir),
                         effective_config(sweep, run)))
  return out


def mean_std(values: list[float]) -> tuple[Optional[float], Optional[float]]:
  values = [v for v in values if v is not None]
  if not values:
    return None, None
  if len(values) == 1:
    return values[0], None
  return statistics.mean(values), statistics.stdev(values)


COLUMN_TITLES = {
    'val_acc': 'val acc %', 'test_acc': 'test acc %', 'val_err': 'val err %',
    'test_err': 'test err %', 'val_loss': 'val loss', 'test_loss': 'test loss',
    'val_top5': 'val top-5 %', 'test_top5': 'test top-5 %',
    'train_acc': 'final train acc % (last window)',
    'train_loss': 'final train loss (last window)',
    'params': 'params', 'steps': 'steps', 'epochs': 'epochs',
    'img_s': 'train img/s', 'wall': 'wall time', 'seeds': 'seeds',
    'model': 'model', 'batch_size': 'batch', 'dtype': 'dtype',
    'num_devices': 'devices', 'bn_group_size': 'BN group',
    'learning_rate': 'base lr', 'dataset': 'dataset',
}
METRICS = ('val_acc', 'test_acc', 'val_err', 'test_err', 'val_loss',
           'test_loss', 'val_top5', 'test_top5', 'train_acc', 'train_loss',
           'params', 'steps', 'epochs', 'img_s', 'wall')
DEFAULT_COLUMNS = ['model', 'params', 'steps', 'epochs', 'val_acc', 'test_acc',
                   'img_s', 'wall']


def _fmt_number(key: str, v: float) -> str:
  if key == 'params' or key == 'steps':
    return f'{int(round(v)):,}'
  if key == 'wall':
    return f'{v / 60:.1f} min' if v >= 120 else f'{v:.0f} s'
  if key == 'img_s':
    return f'{v:,.0f}' if v >= 100 else f'{v:.1f}'
  if key == 'epochs':
    return f'{v:.2f}'
  if key.endswith('loss'):
    return f'{v:.4f}'
  return f'{v:.2f}'


def format_cell(key: str, values: list[Optional[float]]) -> str:
  m, s = mean_std(values)
  if m is None:
    return 'not run'
  if key in ('params', 'steps'):
    lo, hi = min(v for v in values if v is not None), max(
        v for v in values if v is not None)
    return _fmt_number(key, lo) + ('' if lo == hi else
                                   '–' + _fmt_number(key, hi))
  if s is None:
    return _fmt_number(key, m)
  return f'{_fmt_number(key, m)} ± {_fmt_number(key, s)}'


def _fmt_published(key: str, v: Any) -> str:
  if v is None:
    return '—'
  if isinstance(v, str):
    return v
  return _fmt_number(key, v)


def groups_of(results: list[RunResult]) -> dict[str, list[RunResult]]:
  groups: dict[str, list[RunResult]] = {}
  for r in results:
    groups.setdefault(r.run.group, []).append(r)
  return groups


def results_table(sweep: Sweep, results: list[RunResult]) -> str:
  """The markdown table: one row per group, mean ± std over its runs."""
  columns = list(sweep.columns or DEFAULT_COLUMNS)
  published_keys = {k for row in sweep.published.values() for k in row}
  groups = groups_of(results)
  multi = any(len(g) > 1 for g in groups.values())
  header, keys = ['run'], []
  for c in columns:
    keys.append(('ours', c))
    header.append(COLUMN_TITLES.get(c, c))
    if c in published_keys:
      keys.append(('published', c))
      header.append(f'{COLUMN_TITLES.get(c, c)} ({sweep.published_label})')
  if multi:
    header.insert(1, 'runs done')
  lines = ['| ' + ' | '.join(header) + ' |',
           '|' + '|'.join(['---'] + ['---:'] * (len(header) - 1)) + '|']
  names = list(groups) + [g for g in sweep.published if g not in groups]
  for name in names:
    runs = groups.get(name, [])
    done = [r for r in runs if r.done]
    row = [name]
    if multi:
      row.append(f'{len(done)}/{len(runs)}')
    for kind, c in keys:
      if kind == 'published':
        row.append(_fmt_published(c, sweep.published.get(name, {}).get(c)))
      elif c in METRICS:
        row.append(format_cell(c, [r.metric(c) for r in done]))
      else:
        vals = {str(r.label(c)) for r in runs if r.label(c) is not None}
        row.append(', '.join(sorted(vals)) if vals else '—')
    lines.append('| ' + ' | '.join(row) + ' |')
  return '\n'.join(lines)


def scaling_table(results: list[RunResult]) -> tuple[str, list[dict]]:
  """Data-parallel scaling: img/s, speed-up, efficiency, accuracy per N."""
  rows = []
  for g, runs in groups_of(results).items():
    done = [r for r in runs if r.done]
    n = runs[0].label('devices') or runs[0].label('num_devices')
    rows.append({
        'group': g, 'devices': int(n) if n not in (None, -1) else None,
        'done': bool(done),
        'img_s': mean_std([r.metric('img_s') for r in done])[0],
        'val_acc': mean_std([r.metric('val_acc') for r in done])[0],
        'val_loss': mean_std([r.metric('val_loss') for r in done])[0],
        'test_acc': mean_std([r.metric('test_acc') for r in done])[0],
        'train_loss': mean_std([r.metric('train_loss') for r in done])[0],
    })
  base = next((r for r in rows if r['devices'] == 1 and r['img_s']), None)
  lines = ['| devices | train img/s | speed-up vs 1 | scaling efficiency | '
           'final train loss | val loss | val acc % | test acc % | '
           '|Δ test acc| vs 1 device (points) |',
           '|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
  for r in rows:
    if not r['done']:
      lines.append(f"| {r['devices']} | not run | not run | not run | not run "
                   '| not run | not run | not run | not run |')
      continue
    sp = r['img_s'] / base['img_s'] if base and r['img_s'] else None
    eff = sp / r['devices'] if sp and r['devices'] else None
    d_acc = (abs(r['test_acc'] - base['test_acc']) if base else None)
    r.update(speedup=sp, efficiency=eff)
    fmt = lambda v, f: ('—' if v is None else f.format(v))  # noqa: E731
    lines.append(
        f"| {r['devices']} | {fmt(r['img_s'], '{:.1f}')} | "
        f"{fmt(sp, '{:.2f}x')} | {fmt(eff and 100 * eff, '{:.0f}%')} | "
        f"{fmt(r['train_loss'], '{:.4f}')} | {fmt(r['val_loss'], '{:.4f}')} | "
        f"{fmt(r['val_acc'], '{:.2f}')} | {fmt(r['test_acc'], '{:.2f}')} | "
        f"{fmt(d_acc, '{:.2f}')} |")
  return '\n'.join(lines), rows


def step_table(results: list[RunResult], tag: str) -> str:
  """A scalar's logged values, one row per step, one column per run."""
  runs = [r for r in results if r.scalars.get(tag)]
  if not runs:
    return f'`{tag}` per step: not run.'
  steps = sorted({s for r in runs for s, _ in r.scalars[tag]})
  values = [dict(r.scalars[tag]) for r in runs]
  lines = [f'`{tag}` as logged (mean over each logging window):', '',
           '| step | ' + ' | '.join(r.run.name for r in runs) +
           (' | max abs difference |' if len(runs) > 1 else ' |'),
           '|---:|' + '---:|' * (len(runs) + (len(runs) > 1))]
  for step in steps:
    row = [v.get(step) for v in values]
    cells = ['—' if x is None else f'{x:.7g}' for x in row]
    present = [x for x in row if x is not None]
    if len(runs) > 1:
      cells.append(f'{max(present) - min(present):.2e}'
                   if len(present) > 1 else '—')
    lines.append(f'| {step} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def _hardware_lines(results: list[RunResult]) -> list[str]:
  hosts, devices = {}, {}
  for r in results:
    for a in r.meta.get('attempts', []):
      h = a.get('host', {})
      if h:
        hosts[(h.get('cpu'), h.get('cores'), h.get('memory_gib'),
               tuple(h.get('gpus', [])))] = h
      d = a.get('devices')
      if d:
        devices.setdefault(describe_devices(d), []).append(r.run.name)
  lines = []
  if not hosts:
    h = cpu_info()
    hosts[0] = h
    lines.append('(no run finished here: the machine of the collection)')
  for h in hosts.values():
    gpus = ', '.join(h.get('gpus') or []) or 'no GPU'
    lines.append(f"{h.get('cpu')}, {h.get('cores')} logical cores, "
                 f"{h.get('memory_gib')} GiB RAM, {gpus}")
  for desc, names in devices.items():
    lines.append(f'JAX devices: {desc} (runs: {", ".join(sorted(set(names)))})')
  return lines


def write_report(sweep: Sweep, results: list[RunResult], results_dir: str,
                 command: str) -> str:
  """Writes ``<results_dir>/<NAME>.md`` and its PNGs; returns the md path."""
  from experiments import plots  # pylint: disable=g-import-not-at-top
  os.makedirs(results_dir, exist_ok=True)
  done = [r for r in results if r.done]
  attempts = [a for r in results for a in r.meta.get('attempts', [])]
  starts = sorted(a['start'] for a in attempts if 'start' in a)
  ends = sorted(a['end'] for a in attempts if 'end' in a)
  commits = sorted({a.get('commit', 'unknown') for r in done
                    for a in r.meta.get('attempts', [])})
  out = [f'# {sweep.title}', '']
  if sweep.description:
    out += [sweep.description.strip(), '']
  sweep_rel = _rel(sweep.path)
  invocations = sorted({a['runner'] for a in attempts if a.get('runner')})
  made_with = ('; the runs were made with ' + ', '.join(
      f'`{c}`' for c in invocations)) if invocations else ''
  out += [
      f'- **Runs finished:** {len(done)} of {len(results)}'
      + ('' if len(done) == len(results) else
         ' (the others read "not run": they have not been run yet)') + '.',
      f'- **Command:** `{command}` (sweep file `{sweep_rel}`{made_with}; '
      'the per-run commands are listed at the end).',
      '- **Hardware:** ' + '; '.join(_hardware_lines(results)) + '.',
  ]
  if sweep.hardware_note:
    out.append(f'- **Note on hardware:** {sweep.hardware_note.strip()}')
  out += [
      '- **Date:** ' + (f'runs from {starts[0]} to {ends[-1] if ends else "?"}'
                        if starts else 'no run made') +
      f'; report written {_now()}.',
      '- **Commit:** ' + (f'runs at {", ".join(commits)}' if commits else
                          'no run made') +
      f'; report written at {git_commit()}.', '']
  if sweep.notes:
    out += [sweep.notes.strip(), '']

  out += ['## Results', '', results_table(sweep, results), '']
  if len(groups_of(results)) < len(results):
    out += ['Where a group has more than one finished run (seeds), cells are '
            'mean ± sample standard deviation over them.', '']
  out += ['Accuracies and losses are those of the final state (not the best '
          'checkpoint); "train img/s" is the median over the logging windows '
          'after the first (which includes compilation); wall time is the '
          'whole subprocess (start-up, compilation, training, evaluations).',
          '']
  if sweep.published:
    out += [f'Published figures: {sweep.published_source or "see the sweep file"}.',
            '']

  plot_data = None
  if sweep.analysis == 'scaling':
    table, plot_data = scaling_table(results)
    out += ['## Data-parallel scaling', '', table, '',
            'Speed-up = img/s(N) / img/s(1); scaling efficiency = speed-up / N.'
            ' Same global batch, same seed, same data order for every N.', '']

  for tag in sweep.step_tables:
    out += [step_table(results, tag), '']

  figures = []
  for spec in sweep.plots:
    name = f"{sweep.name}_{spec.get('name', spec['kind'])}.png"
    path = os.path.join(results_dir, name)
    made = plots.make_plot(spec, results, path, scaling_rows=plot_data)
    if made:
      figures.append((spec, name))
    else:
      if os.path.exists(path):
        os.remove(path)
      out += [f"Figure '{spec.get('title', spec['kind'])}': not run (no "
              'finished runs to plot).', '']
  if figures:
    out += ['## Figures', '']
    for spec, name in figures:
      out += [f"**{spec.get('title', spec['kind'])}**", '',
              f'![{name}]({name})', '']
      if spec.get('caption'):
        out += [spec['caption'].strip(), '']

  out += ['## Runs', '', '| run | status | steps | wall | load avg (1 min) at '
          'start → end | started | commit |', '|---|---|---:|---:|---|---|---|']
  for r in results:
    a = r.meta.get('attempts', [])
    status = ('finished' if r.done else
              (a[-1].get('status', 'running?') if a else 'not run'))
    if not r.done and r.config is not None and not dataset_available(
        r.config.dataset, r.config.data_dir):
      status += f' (dataset {r.config.dataset} not prepared on this machine)'
    if r.done and len(a) > 1:
      status = f'finished ({len(a)} attempts, resumed)'
    codes = [x['rc'] for x in a if x.get('rc') not in (None, 0)]
    if codes:
      status += f' (exit codes {codes})'
    load = ('; '.join(f"{x['loadavg_start'][0]:.1f} → "
                      f"{x.get('loadavg_end', [float('nan')])[0]:.1f}"
                      for x in a if 'loadavg_start' in x) or '—')
    out.append(
        f"| {r.run.name} | {status} | "
        f"{_fmt_number('steps', r.metric('steps')) if r.done else '—'} | "
        f"{_fmt_number('wall', r.metric('wall')) if r.metric('wall') else '—'}"
        f" | {load} | {a[0]['start'] if a else '—'} | "
        f"{', '.join(sorted({x.get('commit', '?') for x in a})) or '—'} |")
  out += ['', 'Per-run commands (run from the repository root; the runner '
          'adds `PYTHONPATH=.`):', '', '```']
  for r in results:
    env = r.run.env
    cmd = printable_command(command_of(sweep, r.run, r.workdir), env)
    out.append(cmd)
  out += ['```', '']
  path = os.path.join(results_dir, f'{sweep.name}.md')
  with open(path, 'w') as f:
    f.write('\n'.join(out))
  return path


def collect(sweep: Sweep, *, runs_dir: Optional[str] = None,
            results_dir: Optional[str] = None,
            command: Optional[str] = None) -> str:
  results = load_results(sweep, runs_dir)
  command = command or 'python -m experiments.sweep ' + _rel(sweep.path)
  return write_report(sweep, results, results_dir or RESULTS_DIR, command)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('sweep', help='a sweep file, e.g. '
                      'experiments/sweeps/scaling_fashion_mnist.py')
  parser.add_argument('--dry_run', action='store_true',
                      help='print what would run, run nothing')
  parser.add_argument('--collect_only', action='store_true',
                      help='only write the report from existing runs')
  parser.add_argument('--filter', default='',
                      help='comma-separated substrings of run names to run')
  parser.add_argument('--runs_dir', default=RUNS_DIR)
  parser.add_argument('--results_dir', default=RESULTS_DIR)
  parser.add_argument('--no_collect', action='store_true',
                      help='run, but do not write the report')
  parser.add_argument('--quiet', action='store_true',
                      help='do not echo the trainer\'s progress lines')
  parser.add_argument('--debug', action='store_true',
                      help='show the traceback of errors in the sweep file')
  args = parser.parse_args(argv)
  from cnn_jax import errors  # pylint: disable=g-import-not-at-top
  return errors.exit_on_user_error(_main, args, argv, debug=args.debug)


def _main(args, argv) -> int:
  global _INVOCATION
  _INVOCATION = ' '.join(['python -m experiments.sweep'] + [
      shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)])
  sweep = load_sweep(args.sweep)
  statuses = {}
  if not args.collect_only:
    problems = config_problems(sweep, select(sweep, args.filter))
    if problems:
      from cnn_jax import errors  # pylint: disable=g-import-not-at-top
      raise errors.UserError(
          f'{_rel(sweep.path)}: {len(problems)} problem(s) in its runs\' '
          'configs, nothing was run:\n' + '\n'.join(f'  - {p}'
                                                  for p in problems))
    statuses = run_sweep(sweep, filters=args.filter, runs_dir=args.runs_dir,
                         dry_run=args.dry_run, verbose=not args.quiet)
    print(f'[{sweep.name}] statuses: {json.dumps(statuses)}')
  if not args.dry_run and not args.no_collect:
    path = collect(sweep, runs_dir=args.runs_dir,
                   results_dir=args.results_dir,
                   command='python -m experiments.sweep ' +
                   _rel(sweep.path))
    print(f'[{sweep.name}] report: {_rel(path)}')
  return 1 if any(s == 'failed' for s in statuses.values()) else 0


if __name__ == '__main__':
  # Run the importable module's main, so that the sweep files' ``Run`` (from
  # ``experiments.sweep``) is the class this code checks against.
  from experiments import sweep as _sweep  # pylint: disable=import-self
  sys.exit(_sweep.main())
