"""PNG figures for sweep reports (matplotlib, Agg backend).

Curves come from the TensorBoard scalars each run wrote
(:func:`cnn_jax.scalars.read_scalars`), final metrics from its
``results.json``. :func:`make_plot` dispatches on ``spec['kind']``:

* ``curves``: ``tags`` (e.g. ``['train_loss', 'validation_accuracy']``), one
  panel per tag, one line per run, one colour per group.
* ``degradation``: He et al. 2016 Figure 6: one panel per ``family`` label
  (e.g. plain / ResNet), training error (thin, dashed) and held-out error
  (bold) against epochs, one colour per ``depth`` label, mean over seeds.
* ``training_error``: He et al.'s question in one panel: training error
  against epochs, one colour per ``depth``, solid for the ``solid`` family
  (residual) and dashed for the others (plain), mean over seeds.
* ``acc_vs_params``: final ``metric`` (default ``test_acc``) against the
  parameter count (log x), mean ± std over seeds.
* ``acc_vs``: final ``metric`` against the label or config field ``x``, one
  line per ``series`` label (e.g. accuracy vs depth for plain and ResNet).
* ``scaling``: training img/s and scaling efficiency against device count.
* ``bars``: one bar chart per entry of ``metrics`` over the groups.

A group's value is :func:`collect.summarize`'s, as in the table: mean ± std
over seeds, and its fastest run for the timings (img/s, wall time).
"""

from __future__ import annotations

import statistics
from typing import Any, Optional

import matplotlib
import matplotlib.ticker

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=g-import-not-at-top

from experiments.sweep.collect import summarize  # noqa: E402

YLABELS = {
  'train_loss': 'training loss',
  'train_accuracy': 'training accuracy',
  'validation_accuracy': 'validation accuracy',
  'validation_loss': 'validation loss',
  'test_acc': 'test accuracy (%)',
  'val_acc': 'validation accuracy (%)',
  'test_err': 'test error (%)',
  'val_err': 'validation error (%)',
  'img_s': 'training images / s',
  'train_images_per_sec': 'training images / s',
  'train_learning_rate': 'learning rate',
}


def _color(i: int):
  return plt.get_cmap('tab10')(i % 10)


def _groups(results):
  groups = {}
  for r in results:
    groups.setdefault(r.run.group, []).append(r)
  return groups


def _save(fig, path: str) -> None:
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def plot_curves(
  results, path: str, tags: list[str], title: str = '', logy: bool = False
) -> bool:
  with_data = [r for r in results if any(t in r.scalars for t in tags)]
  if not with_data:
    return False
  fig, axes = plt.subplots(
    1, len(tags), figsize=(5 * len(tags), 3.8), squeeze=False
  )
  groups = list(_groups(with_data))
  for ax, tag in zip(axes[0], tags):
    labelled = set()
    for r in with_data:
      points = r.scalars.get(tag)
      if not points:
        continue
      g = r.run.group
      xs, ys = zip(*points)
      ax.plot(
        xs,
        ys,
        color=_color(groups.index(g)),
        lw=1.4,
        marker='.' if len(xs) < 15 else None,
        label=g if g not in labelled else None,
      )
      labelled.add(g)
    ax.set_xlabel('training step')
    ax.set_ylabel(YLABELS.get(tag, tag))
    if logy:
      ax.set_yscale('log')
    ax.grid(alpha=0.3)
  axes[0][0].legend(fontsize=8)
  if title:
    fig.suptitle(title)
  _save(fig, path)
  return True


def plot_degradation(
  results,
  path: str,
  family: str = 'family',
  depth: str = 'depth',
  families: Optional[dict] = None,
  train_tag: str = 'train_accuracy',
  eval_tag: str = 'validation_accuracy',
  eval_name: str = 'held-out',
  title: str = '',
) -> bool:
  """Training (thin dashed) and held-out (bold) error vs epochs."""
  with_data = [r for r in results if r.scalars.get(eval_tag)]
  if not with_data:
    return False
  fams = families or {}
  names = list(fams) or sorted({r.label(family) for r in with_data})
  depths = sorted({r.label(depth) for r in results if r.label(depth)})
  fig, axes = plt.subplots(
    1, len(names), figsize=(5.5 * len(names), 4.2), sharey=True, squeeze=False
  )
  ymax = 0
  groups = _curve_groups(with_data, family, depth)
  for ax, fam in zip(axes[0], names):
    for (f, d), runs in sorted(groups.items(), key=lambda kv: str(kv[0])):
      if f != fam:
        continue
      c = _color(depths.index(d))
      if all(r.scalars.get(train_tag) for r in runs):
        xs, ys = _mean_curve(runs, train_tag)
        ys = [100 * (1 - y) for y in ys]
        ymax = max([ymax, *ys])
        ax.plot(xs, ys, '--', color=c, lw=0.9, alpha=0.8)
      xs, ys = _mean_curve(runs, eval_tag)
      ys = [100 * (1 - y) for y in ys]
      ymax = max([ymax, *ys])
      ax.plot(
        xs,
        ys,
        '-',
        color=c,
        lw=2.2,
        marker='o',
        ms=3,
        label=f'{fams.get(fam, fam)}-{d}{_seeds_note(runs)}',
      )
    ax.set_title(fams.get(fam, fam))
    ax.set_xlabel('epoch')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc='upper right')
  axes[0][0].set_ylabel('error (%)')
  axes[0][0].set_ylim(0, min(100, ymax * 1.05 + 1))
  fig.text(
    0.5,
    0.005,
    f'dashed: training error (mean over each logging '
    f'window); bold: {eval_name} error',
    ha='center',
    fontsize=8,
  )
  if title:
    fig.suptitle(title)
  fig.tight_layout(rect=(0, 0.03, 1, 1))
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return True


def _curve_groups(runs, family: str, depth: str) -> dict:
  """``{(family, depth): runs}`` whose mean curve to draw: a group's finished
  runs where any has finished (a seed still in progress would cut the mean
  curve short at its last step), else its runs in progress."""
  groups = {}
  for r in runs:
    groups.setdefault((r.label(family), r.label(depth)), []).append(r)
  return {k: [r for r in v if r.done] or v for k, v in groups.items()}


def _seeds_note(runs) -> str:
  if not any(r.done for r in runs):
    return ' (in progress)'
  return f' ({len(runs)} seeds)' if len(runs) > 1 else ''


def _mean_curve(runs, tag: str):
  """(epochs, mean) of ``tag`` over ``runs`` at the steps all of them have."""
  per_run = [dict(r.scalars.get(tag, [])) for r in runs]
  steps = sorted(set.intersection(*(set(p) for p in per_run)))
  spe = runs[0].steps_per_epoch or 1
  return (
    [s / spe for s in steps],
    [statistics.fmean(p[s] for p in per_run) for s in steps],
  )


def plot_training_error(
  results,
  path: str,
  family: str = 'family',
  depth: str = 'depth',
  solid: str = 'ResNet',
  families: Optional[dict] = None,
  tag: str = 'train_accuracy',
  title: str = '',
) -> bool:
  """Training error vs epoch, solid for ``solid``'s family, dashed else."""
  with_data = [r for r in results if r.scalars.get(tag)]
  if not with_data:
    return False
  fams = families or {}
  depths = sorted({r.label(depth) for r in results if r.label(depth)})
  groups = _curve_groups(with_data, family, depth)
  fig, ax = plt.subplots(figsize=(7, 4.5))
  ymax = 0
  for (fam, d), runs in sorted(groups.items(), key=lambda kv: str(kv[0])):
    xs, ys = _mean_curve(runs, tag)
    if not xs:
      continue
    ys = [100 * (1 - y) for y in ys]
    ymax = max(ymax, max(ys))
    ax.plot(
      xs,
      ys,
      '-' if fam == solid else '--',
      color=_color(depths.index(d)),
      lw=1.8 if fam == solid else 1.4,
      label=f'{fams.get(fam, fam)}-{d}{_seeds_note(runs)}',
    )
  ax.set_xlabel('epoch')
  ax.set_ylabel('training error (%)')
  ax.set_ylim(0, min(100, ymax * 1.05 + 1))
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8, loc='upper right')
  if title:
    ax.set_title(title, fontsize=10)
  _save(fig, path)
  return True


def plot_metric_vs(
  results,
  path: str,
  x: str,
  metric: str = 'test_acc',
  series: Optional[str] = None,
  logx: bool = False,
  annotate: bool = False,
  title: str = '',
  xlabel: Optional[str] = None,
) -> bool:
  points = {}
  for g, runs in _groups(results).items():
    done = [r for r in runs if r.done]
    if not done:
      continue
    xv = done[0].metric(x) if x == 'params' else done[0].label(x)
    if xv is None:
      continue
    m, s = summarize(metric, [r.metric(metric) for r in done])
    if m is None:
      continue
    key = done[0].label(series) if series else ''
    points.setdefault(key, []).append((float(xv), m, s or 0.0, g))
  if not points:
    return False
  fig, ax = plt.subplots(figsize=(6, 4.2))
  for i, (key, pts) in enumerate(points.items()):
    pts.sort()
    xs, ms, ss, gs = zip(*pts)
    ax.errorbar(
      xs,
      ms,
      yerr=ss,
      color=_color(i),
      marker='o',
      capsize=3,
      lw=1.5 if series else 0,
      elinewidth=1,
      label=str(key) if series else None,
    )
    if annotate:
      for xv, m, g in zip(xs, ms, gs):
        ax.annotate(
          g, (xv, m), textcoords='offset points', xytext=(4, 4), fontsize=8
        )
  all_x = [p[0] for pts in points.values() for p in pts]
  ax.margins(x=0.12)
  if logx and min(all_x) > 0 and max(all_x) / min(all_x) >= 10:
    ax.set_xscale('log')
    if x != 'params':
      ticks = sorted(set(all_x))
      ax.set_xticks(ticks, [f'{t:g}' for t in ticks])
      ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
  elif xlabel:
    xlabel = xlabel.replace(' (log scale)', '')
  if x == 'params':
    ax.xaxis.set_major_formatter(
      matplotlib.ticker.FuncFormatter(
        lambda v, _: f'{v / 1e6:.1f}M' if v >= 1e6 else f'{v / 1e3:.0f}k'
      )
    )
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
  ax.set_xlabel(xlabel or YLABELS.get(x, x))
  ax.set_ylabel(YLABELS.get(metric, metric))
  ax.grid(alpha=0.3)
  if series:
    ax.legend(fontsize=8)
  if title:
    ax.set_title(title)
  _save(fig, path)
  return True


def plot_scaling(
  rows: list[dict[str, Any]],
  path: str,
  title: str = '',
  device_label: str = 'devices',
) -> bool:
  rows = [
    r
    for r in rows or []
    if r.get('done') and r.get('img_s') and r.get('devices')
  ]
  if not rows:
    return False
  rows.sort(key=lambda r: r['devices'])
  n = [r['devices'] for r in rows]
  ips = [r['img_s'] for r in rows]
  base = next((r['img_s'] for r in rows if r['devices'] == 1), None)
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
  axes[0].plot(n, ips, 'o-', label='measured')
  if base:
    axes[0].plot(n, [base * k for k in n], 'k--', lw=1, label='linear')
  axes[0].set_xscale('log', base=2)
  axes[0].set_xticks(n, [str(k) for k in n])
  axes[0].set_xlabel(device_label)
  axes[0].set_ylabel('training images / s')
  axes[0].legend(fontsize=8)
  axes[0].grid(alpha=0.3)
  if base:
    eff = [100 * r['img_s'] / base / r['devices'] for r in rows]
    axes[1].bar([str(k) for k in n], eff, color=_color(1))
    axes[1].axhline(100, color='k', lw=1, ls='--')
    axes[1].set_xlabel(device_label)
    axes[1].set_ylabel('scaling efficiency (%)')
    axes[1].grid(alpha=0.3, axis='y')
  if title:
    fig.suptitle(title)
  _save(fig, path)
  return True


def plot_bars(results, path: str, metrics: list[str], title: str = '') -> bool:
  groups = {
    g: [r for r in runs if r.done] for g, runs in _groups(results).items()
  }
  groups = {g: rs for g, rs in groups.items() if rs}
  if not groups:
    return False
  fig, axes = plt.subplots(
    1, len(metrics), figsize=(4.5 * len(metrics), 3.8), squeeze=False
  )
  names = list(groups)
  for ax, metric in zip(axes[0], metrics):
    ms, ss = zip(
      *(summarize(metric, [r.metric(metric) for r in groups[g]]) for g in names)
    )
    ax.bar(
      range(len(names)),
      [m or 0 for m in ms],
      yerr=[s or 0.0 for s in ss] if any(ss) else None,
      capsize=3,
      color=[_color(i) for i in range(len(names))],
    )
    ax.set_xticks(range(len(names)), names, rotation=30, ha='right', fontsize=8)
    ax.set_ylabel(YLABELS.get(metric, metric))
    ax.grid(alpha=0.3, axis='y')
    if metric.endswith('acc'):
      lo = min(m for m in ms if m is not None)
      ax.set_ylim(max(0, lo - 10), 100)
  if title:
    fig.suptitle(title)
  _save(fig, path)
  return True


def make_plot(
  spec: dict[str, Any], results, path: str, scaling_rows=None
) -> bool:
  """Draws ``spec`` into ``path``; False if there was nothing to draw."""
  kind = spec['kind']
  title = spec.get('title', '')
  if kind == 'curves':
    return plot_curves(
      results, path, spec['tags'], title=title, logy=spec.get('logy', False)
    )
  if kind == 'degradation':
    return plot_degradation(
      results,
      path,
      family=spec.get('family', 'family'),
      depth=spec.get('depth', 'depth'),
      families=spec.get('families'),
      train_tag=spec.get('train_tag', 'train_accuracy'),
      eval_tag=spec.get('eval_tag', 'validation_accuracy'),
      eval_name=spec.get('eval_name', 'held-out'),
      title=title,
    )
  if kind == 'training_error':
    return plot_training_error(
      results,
      path,
      family=spec.get('family', 'family'),
      depth=spec.get('depth', 'depth'),
      solid=spec.get('solid', 'ResNet'),
      families=spec.get('families'),
      tag=spec.get('tag', 'train_accuracy'),
      title=title,
    )
  if kind == 'acc_vs_params':
    return plot_metric_vs(
      results,
      path,
      'params',
      metric=spec.get('metric', 'test_acc'),
      logx=True,
      annotate=True,
      title=title,
      xlabel='parameters (log scale)',
    )
  if kind == 'acc_vs':
    return plot_metric_vs(
      results,
      path,
      spec['x'],
      metric=spec.get('metric', 'test_acc'),
      series=spec.get('series'),
      logx=spec.get('logx', False),
      title=title,
      xlabel=spec.get('xlabel'),
    )
  if kind == 'scaling':
    return plot_scaling(
      scaling_rows,
      path,
      title=title,
      device_label=spec.get('xlabel', 'devices'),
    )
  if kind == 'bars':
    return plot_bars(results, path, spec['metrics'], title=title)
  raise ValueError(f'Unknown plot kind {kind!r}')
