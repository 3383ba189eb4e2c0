"""``python -m experiments.sweep SWEEP_FILE``: run a sweep, write its report.

Usage::

  python -m experiments.sweep experiments/sweeps/<name>.py [--dry_run]
      [--collect_only] [--filter=SUBSTR[,SUBSTR...]] [--runs_dir=DIR]
      [--results_dir=DIR] [--records_dir=DIR] [--no_collect] [--quiet]
      [--debug]

See ``spec.py`` for the sweep file format, ``runner.py`` for how runs are run
and resumed, ``records.py`` for the records of finished runs kept in the
repository, ``report.py`` for the report.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from cnn_jax import errors
from experiments.sweep.records import RECORDS_DIR
from experiments.sweep.report import PageWouldLoseRuns, collect
from experiments.sweep.runner import run_sweep, select
from experiments.sweep.spec import (
  RESULTS_DIR,
  RUNS_DIR,
  _rel,
  config_problems,
  load_sweep,
)


class _Parser(argparse.ArgumentParser):
  """argparse, with its errors as one message and exit status 2 (argparse
  prints the usage first)."""

  def error(self, message):
    errors.fail(f'{message} (--help lists the options).')


def main(argv=None) -> int:
  parser = _Parser(description=__doc__.split('\n')[0])
  parser.add_argument(
    'sweep',
    help='a sweep file, e.g. experiments/sweeps/scaling_fashion_mnist.py',
  )
  parser.add_argument(
    '--dry_run', action='store_true', help='print what would run, run nothing'
  )
  parser.add_argument(
    '--collect_only',
    action='store_true',
    help='only write the report from existing runs',
  )
  parser.add_argument(
    '--filter',
    default='',
    help='comma-separated substrings of run names to run',
  )
  parser.add_argument('--runs_dir', default=RUNS_DIR)
  parser.add_argument('--results_dir', default=RESULTS_DIR)
  parser.add_argument(
    '--records_dir',
    default=RECORDS_DIR,
    help="where finished runs' records are kept and read (records.py)",
  )
  parser.add_argument(
    '--no_collect', action='store_true', help='run, but do not write the report'
  )
  parser.add_argument(
    '--quiet',
    action='store_true',
    help="do not echo the training processes' output",
  )
  parser.add_argument(
    '--debug',
    action='store_true',
    help='show the traceback of errors in the sweep file',
  )
  args = parser.parse_args(argv)
  return errors.exit_on_user_error(_main, args, argv, debug=args.debug)


def _main(args, argv) -> int:
  invocation = ' '.join(
    ['python -m experiments.sweep']
    + [shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)]
  )
  sweep = load_sweep(args.sweep)
  statuses = {}
  if not args.collect_only:
    selected = select(sweep, args.filter)
    if args.filter and not selected:
      raise errors.UserError(
        f'--filter={args.filter} matches none of the runs of '
        f'{_rel(sweep.path)}: {", ".join(r.name for r in sweep.runs)}.'
      )
    problems = config_problems(sweep, selected)
    if len(problems) == 1:
      raise errors.UserError(
        f'{_rel(sweep.path)}: nothing was run; in run {problems[0]}'
      )
    if problems:
      raise errors.UserError(
        f"{_rel(sweep.path)}: {len(problems)} problem(s) in its runs' "
        'configs, nothing was run:\n' + '\n'.join(f'  - {p}' for p in problems)
      )
    statuses = run_sweep(
      sweep,
      filters=args.filter,
      runs_dir=args.runs_dir,
      records_dir=args.records_dir,
      dry_run=args.dry_run,
      verbose=not args.quiet,
      invocation=invocation,
    )
    print(f'[{sweep.name}] statuses: {json.dumps(statuses)}')
  if not args.dry_run and not args.no_collect:
    try:
      path = collect(
        sweep,
        runs_dir=args.runs_dir,
        results_dir=args.results_dir,
        records_dir=args.records_dir,
        command='python -m experiments.sweep ' + _rel(sweep.path),
      )
      print(f'[{sweep.name}] report: {_rel(path)}')
    except PageWouldLoseRuns as e:
      if args.collect_only:
        raise
      # The runs themselves went well: their records are kept.
      print(f'[{sweep.name}] {e}', file=sys.stderr)
  return 1 if any(s == 'failed' for s in statuses.values()) else 0
