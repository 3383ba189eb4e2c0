"""What a sweep is: a base config, a list of runs, their workdirs and commands.

A sweep file is a Python module with:

* ``NAME``: the sweep's name (workdirs under ``runs/<NAME>``, report
  ``results/<NAME>.md``).
* ``TITLE``, ``DESCRIPTION``: markdown for the top of the report.
* ``CONFIG``: the base config, a path relative to the repository root
  (``configs/x.py`` or, for a config with an argument, ``configs/x.py:arg``).
* ``COMMON``: ``{field: value}`` overrides for every run (dotted fields such
  as ``'model_kwargs.small_input_stem'`` are fine if the config has them).
* ``RUNS``: a list of :class:`Run` (or of ``(name, overrides)`` pairs),
  often made by :func:`grid`. A run's ``group`` (default: its name without a
  ``_seed<N>`` suffix) gathers seeds for mean ± std; ``labels`` carry values
  for tables and plots (``depth``, ``family``, ``devices``...); ``env`` adds
  environment variables; ``config`` replaces ``CONFIG`` for that run.
* Optional: ``PUBLISHED`` ``{group: {metric: value}}`` and
  ``PUBLISHED_SOURCE``; ``COLUMNS`` (metric or label names, see
  ``report.COLUMN_TITLES``); ``PLOTS`` (a list of dicts, see
  :func:`experiments.sweep.plots.make_plot`); ``ANALYSIS = 'scaling'`` for the
  data-parallel scaling table; ``NOTES`` and ``HARDWARE_NOTE`` (markdown);
  ``PUBLISHED_LABEL`` (the published columns' header suffix);
  ``STEP_TABLES`` (scalar tags, e.g. ``'train_loss'``, tabulated step by
  step across the runs).
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
import itertools
import os
import re
import shlex
import sys
from typing import Any, Iterable, Optional

from cnn_jax import config_file, config_validation, errors

ROOT = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
RUNS_DIR = os.path.join(ROOT, 'experiments', 'runs')
RESULTS_DIR = os.path.join(ROOT, 'experiments', 'results')


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


def grid(
  name: str,
  axes: dict[str, Iterable[Any]],
  *,
  overrides: Optional[dict[str, Any]] = None,
  env=None,
  labels=None,
  config=None,
  group: Optional[str] = None,
) -> list[Run]:
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
    runs.append(
      Run(
        name=name.format(**fmt),
        overrides={**pick(overrides), **combo},
        env=dict(pick(env)),
        labels=dict(pick(labels)),
        config=config(combo) if callable(config) else config,
        group=group.format(**fmt) if group else None,
      )
    )
  return runs


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
  path = os.path.abspath(path)
  if not os.path.isfile(path):
    raise errors.UserError(
      f'No sweep file {path}; the sweeps are in experiments/sweeps/.'
    )
  spec = importlib.util.spec_from_file_location(
    '_sweep_' + os.path.splitext(os.path.basename(path))[0], path
  )
  mod = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(mod)
  except Exception as e:  # pylint: disable=broad-except
    raise errors.UserError(
      f'{path} cannot be loaded{errors.frame_in(e, path)}: '
      f'{type(e).__name__}: {e}'
    ) from e
  missing = [n for n in ('NAME', 'CONFIG', 'RUNS') if not hasattr(mod, n)]
  if missing:
    raise errors.UserError(
      f'{path} is not a sweep file: it does not define '
      f'{", ".join(missing)} (see experiments/sweep/spec.py).'
    )
  runs = [
    r if hasattr(r, 'overrides') else Run(r[0], dict(r[1])) for r in mod.RUNS
  ]
  names = [r.name for r in runs]
  if len(set(names)) != len(names):
    raise errors.UserError(f'{path}: duplicate run names {names}')
  return Sweep(
    name=mod.NAME,
    path=path,
    config=mod.CONFIG,
    common=dict(getattr(mod, 'COMMON', {})),
    runs=runs,
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
    step_tables=list(getattr(mod, 'STEP_TABLES', [])),
  )


def format_value(v: Any) -> str:
  """A config value as ml_collections' command-line parser reads it."""
  if isinstance(v, bool):
    return str(v)
  if isinstance(v, (tuple, list)):
    inner = ', '.join(
      format_value(x) if not isinstance(x, str) else repr(x) for x in v
    )
    return f'({inner},)' if len(v) == 1 else f'({inner})'
  if isinstance(v, float):
    return repr(v)
  return str(v)


def run_overrides(sweep: Sweep, run: Run) -> dict[str, Any]:
  return {**sweep.common, **run.overrides}


def run_config_path(sweep: Sweep, run: Run) -> str:
  """The run's config as ``--config`` takes it (``path[:argument]``)."""
  return run.config or sweep.config


def workdir_of(sweep: Sweep, run: Run, runs_dir: Optional[str] = None) -> str:
  return os.path.join(runs_dir or RUNS_DIR, sweep.name, run.name)


def command_of(sweep: Sweep, run: Run, workdir: str) -> list[str]:
  cmd = [
    sys.executable,
    '-m',
    'cnn_jax.main',
    f'--config={run_config_path(sweep, run)}',
    f'--workdir={workdir}',
  ]
  cmd += [
    f'--config.{k}={format_value(v)}'
    for k, v in run_overrides(sweep, run).items()
  ]
  return cmd


def printable_command(cmd: list[str], env: dict[str, str]) -> str:
  """The command as one would type it in the repository root."""
  parts = [f'{k}={shlex.quote(v)}' for k, v in sorted(env.items())]
  args = ['python'] + list(cmd[1:])
  rel = [
    '--workdir=' + _rel(a[10:]) if a.startswith('--workdir=') else a
    for a in args
  ]
  return ' '.join(parts + [shlex.quote(a) for a in rel])


def _base_config(sweep: Sweep, run: Run):
  """The run's config file's ConfigDict, without the overrides."""
  return config_file.load(run_config_path(sweep, run), ROOT)


def _override(config, key: str, value: Any) -> None:
  """Sets ``key`` (dotted) of ``config``; KeyError if it has no such field."""
  *parents, leaf = key.split('.')
  node = config
  for p in parents:
    node = node[p]
  if leaf not in node:
    raise KeyError(leaf)
  with config.ignore_type():
    node[leaf] = value


def effective_config(sweep: Sweep, run: Run):
  """The run's ConfigDict (config file + overrides), or None if unreadable."""
  try:
    config = _base_config(sweep, run)
    for key, value in run_overrides(sweep, run).items():
      _override(config, key, value)
    return config
  except Exception:  # pylint: disable=broad-except
    return None


def config_problems(sweep: Sweep, runs: Iterable[Run]) -> list[str]:
  """Every problem of the runs' configs (unknown fields, bad values), so that
  a typo in a sweep file stops it before the first run, not in every run."""
  found = []
  for run in runs:
    path = os.path.join(ROOT, run_config_path(sweep, run).partition(':')[0])
    if not os.path.isfile(path):
      found.append(f'{run.name}: no config file {path}')
      continue
    config = _base_config(sweep, run)
    for key, value in run_overrides(sweep, run).items():
      try:
        _override(config, key, value)
      except (KeyError, TypeError):
        fields = [] if '.' in key else list(config_validation.FIELDS)
        found.append(
          f'{run.name}: the config has no field {key!r}.'
          f'{config_validation.closest(key, fields)}'
        )
    found.extend(f'{run.name}: {p}' for p in config_validation.problems(config))
  return found


def dataset_available(dataset: str, data_dir: str = '') -> bool:
  """Whether the trainer can read ``dataset`` here without a download.

  MNIST-format sets are prepared automatically from local files; others need
  a prepared TFDS directory (``<data_dir>/<name>/<version>/``).
  """
  if dataset in ('synthetic', 'fashion_mnist', 'mnist'):
    return True
  data_dir = (
    data_dir
    or os.environ.get('TFDS_DATA_DIR')
    or os.path.expanduser('~/tensorflow_datasets')
  )
  return bool(
    glob.glob(os.path.join(data_dir, dataset, '*', 'dataset_info.json'))
    or glob.glob(os.path.join(data_dir, dataset, '*', '*', 'dataset_info.json'))
  )


def _rel(path: str) -> str:
  """``path`` relative to the repository root if it lies inside it."""
  path = os.path.abspath(path)
  return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path
