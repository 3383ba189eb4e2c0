"""The report of a sweep: ``experiments/results/<NAME>.md`` and its figures.

The table gives mean ± sample std over the runs of a group (i.e. over seeds)
where more than one ran (for the timings: its fastest run), published figures
beside ours, then the figures, the command, the hardware, the dates and the
git commit. A run that has not finished reads 'not run'.
"""

from __future__ import annotations

import os
import re
from typing import Any, Optional

from cnn_jax import errors
from cnn_jax.analysis import provenance
from experiments.sweep import plots, records
from experiments.sweep.collect import RunResult, load_results, summarize
from experiments.sweep.spec import (
  RESULTS_DIR,
  RUNS_DIR,
  Sweep,
  _rel,
  command_of,
  dataset_available,
  printable_command,
  workdir_of,
)


COLUMN_TITLES = {
  'val_acc': 'val acc %',
  'test_acc': 'test acc %',
  'val_ema_acc': 'val acc % (EMA weights)',
  'test_ema_acc': 'test acc % (EMA weights)',
  'val_err': 'val err %',
  'test_err': 'test err %',
  'val_loss': 'val loss',
  'test_loss': 'test loss',
  'val_top5': 'val top-5 %',
  'test_top5': 'test top-5 %',
  'train_acc': 'final train acc % (last window)',
  'train_loss': 'final train loss (last window)',
  'params': 'params',
  'steps': 'steps',
  'epochs': 'epochs',
  'img_s': 'train img/s',
  'wall': 'wall time',
  'seeds': 'seeds',
  'model': 'model',
  'batch_size': 'batch',
  'dtype': 'dtype',
  'num_devices': 'devices',
  'bn_group_size': 'BN group',
  'learning_rate': 'base lr',
  'dataset': 'dataset',
}


METRICS = (
  'val_acc',
  'test_acc',
  'val_ema_acc',
  'test_ema_acc',
  'val_err',
  'test_err',
  'val_loss',
  'test_loss',
  'val_top5',
  'test_top5',
  'train_acc',
  'train_loss',
  'params',
  'steps',
  'epochs',
  'img_s',
  'wall',
)


DEFAULT_COLUMNS = [
  'model',
  'params',
  'steps',
  'epochs',
  'val_acc',
  'test_acc',
  'img_s',
  'wall',
]


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
  m, s = summarize(key, values)
  if m is None:
    return 'n/a' if '_ema_' in key else 'not run'  # EMA: runs without one
  if key in ('params', 'steps', 'epochs'):  # the budget: a range, not noise
    present = [v for v in values if v is not None]
    lo, hi = min(present), max(present)
    return _fmt_number(key, lo) + (
      '' if lo == hi else '–' + _fmt_number(key, hi)
    )
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
  lines = [
    '| ' + ' | '.join(header) + ' |',
    '|' + '|'.join(['---'] + ['---:'] * (len(header) - 1)) + '|',
  ]
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
    rows.append(
      {
        'group': g,
        'devices': int(n) if n not in (None, -1) else None,
        'done': bool(done),
        **{
          k: summarize(k, [r.metric(k) for r in done])[0]
          for k in ('img_s', 'val_acc', 'val_loss', 'test_acc', 'train_loss')
        },
      }
    )
  base = next((r for r in rows if r['devices'] == 1 and r['img_s']), None)
  lines = [
    '| devices | train img/s | speed-up vs 1 | scaling efficiency | '
    'final train loss | val loss | val acc % | test acc % | '
    '|Δ test acc| vs 1 device (points) |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for r in rows:
    if not r['done']:
      lines.append(
        f'| {r["devices"]} | not run | not run | not run | not run '
        '| not run | not run | not run | not run |'
      )
      continue
    sp = r['img_s'] / base['img_s'] if base and r['img_s'] else None
    eff = sp / r['devices'] if sp and r['devices'] else None
    d_acc = abs(r['test_acc'] - base['test_acc']) if base else None
    r.update(speedup=sp, efficiency=eff)
    fmt = lambda v, f: ('—' if v is None else f.format(v))  # noqa: E731
    lines.append(
      f'| {r["devices"]} | {fmt(r["img_s"], "{:.1f}")} | '
      f'{fmt(sp, "{:.2f}x")} | {fmt(eff and 100 * eff, "{:.0f}%")} | '
      f'{fmt(r["train_loss"], "{:.4f}")} | {fmt(r["val_loss"], "{:.4f}")} | '
      f'{fmt(r["val_acc"], "{:.2f}")} | {fmt(r["test_acc"], "{:.2f}")} | '
      f'{fmt(d_acc, "{:.2f}")} |'
    )
  return '\n'.join(lines), rows


def step_table(results: list[RunResult], tag: str) -> str:
  """A scalar's logged values, one row per step, one column per run."""
  runs = [r for r in results if r.scalars.get(tag)]
  if not runs:
    return f'`{tag}` per step: not run.'
  steps = sorted({s for r in runs for s, _ in r.scalars[tag]})
  values = [dict(r.scalars[tag]) for r in runs]
  lines = [
    f'`{tag}` as logged (mean over each logging window):',
    '',
    '| step | '
    + ' | '.join(r.run.name for r in runs)
    + (' | max abs difference |' if len(runs) > 1 else ' |'),
    '|---:|' + '---:|' * (len(runs) + (len(runs) > 1)),
  ]
  for step in steps:
    row = [v.get(step) for v in values]
    cells = ['—' if x is None else f'{x:.7g}' for x in row]
    present = [x for x in row if x is not None]
    if len(runs) > 1:
      cells.append(
        f'{max(present) - min(present):.2e}' if len(present) > 1 else '—'
      )
    lines.append(f'| {step} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def describe_devices(d: dict[str, Any]) -> str:
  """'2 XLA CPU host devices' or '8 x NVIDIA H100' (from results.json)."""
  if d.get('platform') == 'cpu':
    return f'{d["count"]} XLA CPU host device{"s" if d["count"] > 1 else ""}'
  return f'{d["count"]} x {d.get("kind", d.get("platform"))}'


def _hardware_lines(results: list[RunResult]) -> list[str]:
  hosts, devices = {}, {}
  for r in results:
    for a in r.meta.get('attempts', []):
      h = a.get('host', {})
      if h:
        hosts[
          (
            h.get('cpu'),
            tuple(h.get('cpu_flags') or ()),
            h.get('cores'),
            h.get('memory_gib'),
            tuple(h.get('gpus', [])),
          )
        ] = h
    d = (r.results or {}).get('devices')
    if d:
      devices.setdefault(describe_devices(d), []).append(r.run.name)
  lines = []
  if not hosts:
    h = provenance.machine()
    hosts[0] = h
    lines.append('(no run finished here: the machine of the collection)')
  for h in hosts.values():
    gpus = ', '.join(h.get('gpus') or []) or 'no GPU'
    lines.append(f'{provenance.describe_cpu(h)}, {gpus}')
  for desc, names in devices.items():
    lines.append(f'JAX devices: {desc} (runs: {", ".join(sorted(set(names)))})')
  return lines


def write_report(
  sweep: Sweep, results: list[RunResult], results_dir: str, command: str
) -> str:
  """Writes ``<results_dir>/<NAME>.md`` and its PNGs; returns the md path."""
  os.makedirs(results_dir, exist_ok=True)
  done = [r for r in results if r.done]
  attempts = [a for r in results for a in r.meta.get('attempts', [])]
  starts = sorted(a['start'] for a in attempts if 'start' in a)
  ends = sorted(a['end'] for a in attempts if 'end' in a)
  # Dates and commits of every attempt, finished or not, as the Runs table.
  commits = sorted({a.get('commit', 'unknown') for a in attempts})
  out = [f'# {sweep.title}', '']
  if sweep.description:
    out += [sweep.description.strip(), '']
  sweep_rel = _rel(sweep.path)
  invocations = sorted({a['runner'] for a in attempts if a.get('runner')})
  made_with = (
    ('; the runs were made with ' + ', '.join(f'`{c}`' for c in invocations))
    if invocations
    else ''
  )
  out += [
    f'- **Runs finished:** {len(done)} of {len(results)}'
    + (
      ''
      if len(done) == len(results)
      else ' (the others have not finished: the Runs table says '
      'which were interrupted and which have not run yet)'
    )
    + '.',
    f'- **Command:** `{command}` (sweep file `{sweep_rel}`{made_with}; '
    'the per-run commands are listed at the end).',
    '- **Hardware:** ' + '; '.join(_hardware_lines(results)) + '.',
  ]
  if sweep.hardware_note:
    out.append(f'- **Note on hardware:** {sweep.hardware_note.strip()}')
  out += [
    '- **Date:** '
    + (
      f'runs from {starts[0]} to {ends[-1] if ends else "?"}'
      if starts
      else 'no run made'
    )
    + f'; report written {provenance.now()}.',
    '- **Commit:** '
    + (f'runs at {", ".join(commits)}' if commits else 'no run made')
    + f'; report written at {provenance.git_commit()}.',
    '',
  ]
  if sweep.notes:
    out += [sweep.notes.strip(), '']

  out += ['## Results', '', results_table(sweep, results), '']
  if len(groups_of(results)) < len(results):
    out += [
      'Where a group has more than one finished run (seeds), cells are '
      'mean ± sample standard deviation over them, except "train img/s" '
      'and "wall time": those are its fastest run\'s, since other work on '
      'the machine only ever slows a run down (the Runs table below has '
      "every run's time and the load beside it).",
      '',
    ]
  out += [
    'Accuracies and losses are those of the final state (not the best '
    'checkpoint); "train img/s" is the median over the logging windows '
    'after the first (which includes compilation); wall time is the '
    'whole subprocess (start-up, compilation, training, evaluations).',
    '',
  ]
  if sweep.published:
    out += [
      f'Published figures: {sweep.published_source or "see the sweep file"}.',
      '',
    ]

  plot_data = None
  if sweep.analysis == 'scaling':
    table, plot_data = scaling_table(results)
    out += [
      '## Data-parallel scaling',
      '',
      table,
      '',
      'Speed-up = img/s(N) / img/s(1); scaling efficiency = speed-up / N.'
      ' Same global batch, same seed, same data order for every N.',
      '',
    ]

  for tag in sweep.step_tables:
    out += [step_table(results, tag), '']

  figures = []
  for spec in sweep.plots:
    name = f'{sweep.name}_{spec.get("name", spec["kind"])}.png'
    path = os.path.join(results_dir, name)
    made = plots.make_plot(spec, results, path, scaling_rows=plot_data)
    if made:
      figures.append((spec, name))
    else:
      if os.path.exists(path):
        os.remove(path)
      out += [
        f"Figure '{spec.get('title', spec['kind'])}': not run (no "
        'finished runs to plot).',
        '',
      ]
  if figures:
    out += ['## Figures', '']
    for spec, name in figures:
      out += [
        f'**{spec.get("title", spec["kind"])}**',
        '',
        f'![{name}]({name})',
        '',
      ]
      if spec.get('caption'):
        out += [spec['caption'].strip(), '']

  out += [
    '## Runs',
    '',
    '| run | status | steps | wall | load avg (1 min) at '
    'start → end | started | commit |',
    '|---|---|---:|---:|---|---|---|',
  ]
  for r in results:
    a = r.meta.get('attempts', [])
    status = (
      'finished'
      if r.done
      else (a[-1].get('status', 'running?') if a else 'not run')
    )
    if (
      not r.done
      and r.config is not None
      and not dataset_available(r.config.dataset, r.config.data_dir)
    ):
      status += f' (dataset {r.config.dataset} not prepared on this machine)'
    killed = sum(x.get('status') == 'killed' for x in a)
    notes = [f'{len(a)} attempts, resumed'] if r.done and len(a) > 1 else []
    if killed:
      notes.append(
        f'{killed} killed with the runner, timed to its last log line'
      )
    if r.done and notes:
      status = f'finished ({"; ".join(notes)})'
    elif notes:
      status += f' ({"; ".join(notes)})'
    codes = [x['rc'] for x in a if x.get('rc') not in (None, 0)]
    if codes:
      status += f' (exit codes {codes})'
    load = (
      '; '.join(
        f'{x["loadavg_start"][0]:.1f} → '
        + (f'{x["loadavg_end"][0]:.1f}' if 'loadavg_end' in x else '?')
        for x in a
        if 'loadavg_start' in x
      )
      or '—'
    )
    out.append(
      f'| {r.run.name} | {status} | '
      f'{_fmt_number("steps", r.metric("steps")) if r.done else "—"} | '
      f'{_fmt_number("wall", r.metric("wall")) if r.metric("wall") else "—"}'
      f' | {load} | {a[0]["start"] if a else "—"} | '
      f'{", ".join(sorted({x.get("commit", "?") for x in a})) or "—"} |'
    )
  out += ['', 'Per-run commands (run from the repository root):', '', '```']
  for r in results:
    env = r.run.env
    cmd = printable_command(command_of(sweep, r.run, r.workdir), env)
    out.append(cmd)
  out += ['```', '']
  path = os.path.join(results_dir, f'{sweep.name}.md')
  with open(path, 'w') as f:
    f.write('\n'.join(out))
  return path


class PageWouldLoseRuns(errors.UserError):
  """The page lists finished runs that this machine cannot read back."""


def _finished_on_page(path: str) -> list[str]:
  """The runs that the page at ``path`` lists as finished (none if no page)."""
  try:
    with open(path) as f:
      page = f.read()
  except FileNotFoundError:
    return []
  runs_table = page.partition('\n## Runs\n')[2]
  return re.findall(r'^\| (\S+) \| finished\b', runs_table, re.M)


def collect(
  sweep: Sweep,
  *,
  runs_dir: Optional[str] = None,
  results_dir: Optional[str] = None,
  records_dir: Optional[str] = None,
  command: Optional[str] = None,
) -> str:
  """Writes the sweep's page from its runs; returns the page's path.

  With ``records_dir``, a run finished in ``runs_dir`` without a record (one
  an older runner made; the runner keeps them now) has it kept there first,
  and runs without a directory are read from their records. Refuses
  (:class:`PageWouldLoseRuns`) to rewrite a page that lists a run as finished
  which cannot be read here: its run directory is gone with another machine
  and it has no record.
  """
  if records_dir:
    for run in sweep.runs:
      workdir = workdir_of(sweep, run, runs_dir)
      if os.path.exists(
        os.path.join(workdir, 'results.json')
      ) and not os.path.exists(records.record_path(sweep, run, records_dir)):
        records.keep(sweep, run, workdir, records_dir)
  results = load_results(sweep, runs_dir, records_dir=records_dir)
  results_dir = results_dir or RESULTS_DIR
  page = os.path.join(results_dir, f'{sweep.name}.md')
  readable = {r.run.name for r in results if r.done}
  lost = [name for name in _finished_on_page(page) if name not in readable]
  if lost:
    raise PageWouldLoseRuns(
      f'{_rel(page)} lists {len(lost)} finished run(s) that cannot be read '
      f'here: {", ".join(lost)} (not finished in '
      f'{_rel(runs_dir or RUNS_DIR)}'
      + (f', no record in {_rel(records_dir)}' if records_dir else '')
      + '): they were made on a machine whose run directories are gone, '
      'before their records were kept. The page was not rewritten'
      + (
        '; the runs finished here have their records. ' if records_dir else '. '
      )
      + 'Run them again (python -m experiments.sweep '
      f'{_rel(sweep.path)} --filter={",".join(lost)}), or delete the page '
      'to write it from what is here.'
    )
  command = command or 'python -m experiments.sweep ' + _rel(sweep.path)
  return write_report(sweep, results, results_dir, command)
