"""The sweep runner: runs, skips finished runs, resumes an interrupted one,
and the collector's table (mean ± std over seeds, 'not run') and figures."""

import json
import os
import re
import shutil
import textwrap

import pytest

from cnn_jax import errors
from experiments import sweep as sweep_lib
from experiments.sweep import report, runner

# LeNet-5 on the synthetic dataset: 8 steps of 32, evaluation on 128 + 64
# examples; a few seconds of training per run, the rest is start-up.
SWEEP_FILE = textwrap.dedent("""
    from experiments.sweep import Run, grid

    NAME = 'tiny'
    TITLE = 'Tiny sweep'
    CONFIG = 'configs/lenet5_fashion_mnist.py'
    COMMON = dict(dataset='synthetic', synthetic_examples=640,
                  validation_examples=128, num_train_steps=8, batch_size=32,
                  eval_batch_size=64, log_every_steps=2,
                  eval_every_epochs=1000.0, checkpoint_every_steps=4,
                  shuffle_buffer=512)
    RUNS = grid('lenet_seed{seed}', {'seed': [0, 1]},
                labels={'depth': 5, 'family': 'plain'}) + [
        Run('never_run', {'seed': 7}, labels={'depth': 5, 'family': 'plain'})]
    PUBLISHED = {'lenet': {'test_acc': 12.5}}
    PUBLISHED_SOURCE = 'made up for the test'
    PLOTS = [dict(kind='curves', tags=['train_loss', 'validation_accuracy']),
             dict(kind='acc_vs_params'),
             dict(kind='acc_vs', x='depth', name='depth'),
             dict(kind='training_error', name='training_error'),
             dict(kind='degradation', name='fig6')]
""")


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
  root = tmp_path_factory.mktemp('sweep')
  path = root / 'tiny.py'
  path.write_text(SWEEP_FILE)
  sweep = sweep_lib.load_sweep(str(path))
  runs_dir = str(root / 'runs')
  statuses = sweep_lib.run_sweep(
    sweep, filters='lenet', runs_dir=runs_dir, verbose=False
  )
  return sweep, runs_dir, statuses, root


def _workdir(runs_dir, name):
  return os.path.join(runs_dir, 'tiny', name)


def _results(runs_dir, name):
  with open(os.path.join(_workdir(runs_dir, name), 'results.json')) as f:
    return json.load(f)


def test_grid_and_commands():
  runs = sweep_lib.grid(
    '{model}_b{batch_size}_seed{seed}',
    {'model': ['resnet20', 'plain20'], 'batch_size': [64, 128], 'seed': [0, 1]},
    env=lambda c: {'OMP_NUM_THREADS': '1'} if c['seed'] else {},
  )
  assert len(runs) == 8
  assert runs[0].name == 'resnet20_b64_seed0'
  assert runs[0].group == 'resnet20_b64'
  assert runs[0].env == {} and runs[1].env == {'OMP_NUM_THREADS': '1'}
  sweep = sweep_lib.Sweep(
    's',
    'x.py',
    'configs/base.py',
    {'lr_boundaries': (20, 30), 'cache': False},
    runs,
  )
  cmd = sweep_lib.command_of(sweep, runs[0], '/tmp/w')
  assert '--config.lr_boundaries=(20, 30)' in cmd
  assert '--config.cache=False' in cmd
  assert '--config.model=resnet20' in cmd
  env = runner.child_env(
    {'XLA_FLAGS': '--xla_force_host_platform_device_count=4'}
  )
  assert env['XLA_FLAGS'].count('device_count') == 1


def test_runs_then_skips_finished_runs(tiny):
  sweep, runs_dir, statuses, _ = tiny
  assert statuses == {'lenet_seed0': 'ran', 'lenet_seed1': 'ran'}
  mtimes = {}
  for name in statuses:
    assert _results(runs_dir, name)['step'] == 8
    assert _results(runs_dir, name)['devices']['count'] >= 1
    path = os.path.join(_workdir(runs_dir, name), 'results.json')
    mtimes[name] = os.path.getmtime(path)
  logs = []
  again = sweep_lib.run_sweep(
    sweep, filters='lenet', runs_dir=runs_dir, log=logs.append
  )
  assert again == {'lenet_seed0': 'skipped', 'lenet_seed1': 'skipped'}
  assert all('skipped' in line for line in logs)
  for name, mtime in mtimes.items():
    path = os.path.join(_workdir(runs_dir, name), 'results.json')
    assert os.path.getmtime(path) == mtime
    meta = sweep_lib.read_meta(_workdir(runs_dir, name))
    assert len(meta['attempts']) == 1  # nothing ran a second time


def test_dry_run_runs_nothing(tiny, tmp_path):
  sweep, _, _, _ = tiny
  logs = []
  statuses = sweep_lib.run_sweep(
    sweep, runs_dir=str(tmp_path), dry_run=True, log=logs.append
  )
  assert set(statuses.values()) == {'dry_run'}
  assert not os.listdir(tmp_path)
  assert any('cnn_jax.main' in line for line in logs)


def test_resumes_an_interrupted_run(tiny, tmp_path):
  """A workdir with a checkpoint at step 8 of 16 and no results.json (as a
  killed run leaves it) is resumed, not restarted."""
  sweep, shared_runs_dir, _, _ = tiny
  # A copy: the other tests read the shared runs.
  runs_dir = str(tmp_path / 'runs')
  shutil.copytree(
    _workdir(shared_runs_dir, 'lenet_seed1'), _workdir(runs_dir, 'lenet_seed1')
  )
  workdir = _workdir(runs_dir, 'lenet_seed1')
  os.remove(os.path.join(workdir, 'results.json'))
  assert sweep_lib.latest_checkpoint_step(workdir) == 8
  # Its runner was killed too: the attempt has only what its start wrote.
  meta = sweep_lib.read_meta(workdir)
  first = meta['attempts'][0]
  ran_s = first['wall_s']
  for key in ('end', 'wall_s', 'rc', 'loadavg_end', 'status'):
    del first[key]
  runner._write_meta(workdir, meta)
  longer = sweep_lib.Sweep(
    **{**sweep.__dict__, 'common': {**sweep.common, 'num_train_steps': 16}}
  )
  records_dir = str(tmp_path / 'records')
  statuses = sweep_lib.run_sweep(
    longer,
    filters='lenet_seed1',
    runs_dir=runs_dir,
    records_dir=records_dir,
    verbose=False,
  )
  assert statuses == {'lenet_seed1': 'resumed'}
  # Finished: its record is kept, with both attempts and the whole curve.
  with open(sweep_lib.record_path(longer, longer.runs[1], records_dir)) as f:
    record = json.load(f)
  assert record['results']['step'] == 16
  assert [a['status'] for a in record['meta']['attempts']] == [
    'killed',
    'resumed',
  ]
  # The killed attempt is timed from its start to its last log line.
  lost = record['meta']['attempts'][0]
  assert lost['end_from'] == 'log' and lost['end'] >= lost['start']
  assert 0 < lost['wall_s'] <= ran_s + 1
  assert [s for s, _ in record['scalars']['train_loss']] == list(
    range(2, 17, 2)
  )
  with open(os.path.join(workdir, sweep_lib.LOG_FILE)) as f:
    log = f.read()
  assert 'Resumed from' in log and 'at step 8' in log
  assert _results(runs_dir, 'lenet_seed1')['step'] == 16
  meta = sweep_lib.read_meta(workdir)
  assert [a['resumed_from_step'] for a in meta['attempts']] == [None, 8]
  assert [a['status'] for a in meta['attempts']] == ['killed', 'resumed']


def test_collect_writes_table_with_mean_std_and_figures(tiny):
  sweep, runs_dir, _, root = tiny
  results_dir = str(root / 'results')
  path = sweep_lib.collect(sweep, runs_dir=runs_dir, results_dir=results_dir)
  with open(path) as f:
    report = f.read()
  row = next(l for l in report.splitlines() if l.startswith('| lenet |'))
  accs = [
    100 * _results(runs_dir, f'lenet_seed{s}')['test']['accuracy']
    for s in (0, 1)
  ]
  cells = [c.strip() for c in row.strip('|').split('|')]
  assert cells[1] == '2/2'  # runs done
  m = re.search(r'(\d+\.\d\d) ± (\d+\.\d\d)', row)
  assert m, row
  mean = sum(accs) / 2
  std = abs(accs[0] - accs[1]) / 2**0.5
  test_cells = [c for c in cells if '±' in c]
  assert any(
    abs(float(c.split(' ± ')[0]) - mean) < 0.006
    and abs(float(c.split(' ± ')[1]) - std) < 0.006
    for c in test_cells
  ), (row, accs)
  assert '12.50' in row  # the published figure beside ours
  never = next(l for l in report.splitlines() if l.startswith('| never_run |'))
  assert 'not run' in never
  for needle in (
    '**Hardware:**',
    '**Commit:**',
    '**Date:**',
    '**Command:**',
    'python -m cnn_jax.main',
    'JAX devices: ',
  ):
    assert needle in report
  for name in (
    'tiny_curves.png',
    'tiny_acc_vs_params.png',
    'tiny_depth.png',
    'tiny_training_error.png',
    'tiny_fig6.png',
  ):
    png = os.path.join(results_dir, name)
    assert os.path.getsize(png) > 1000
    with open(png, 'rb') as f:
      assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert f'({name})' in report


def _table_rows(page: str) -> list[str]:
  """The Results and Runs tables' rows of a page, without its paths."""
  return [l for l in page.splitlines() if l.startswith('| lenet')]


def test_records_rewrite_the_page_on_a_machine_without_the_runs(tiny, tmp_path):
  """Collecting keeps a record of each finished run; on a machine without the
  run directories the page is the same from the records alone, and the runner
  skips the recorded runs instead of running them again."""
  sweep, runs_dir, _, _ = tiny
  records_dir = str(tmp_path / 'records')

  def page(runs, results):
    return sweep_lib.collect(
      sweep,
      runs_dir=runs,
      results_dir=str(tmp_path / results),
      records_dir=records_dir,
    )

  first = page(runs_dir, 'here')
  assert sorted(os.listdir(os.path.join(records_dir, 'tiny'))) == [
    'lenet_seed0.json',
    'lenet_seed1.json',
  ]  # never_run has none
  with open(sweep_lib.record_path(sweep, sweep.runs[0], records_dir)) as f:
    record = json.load(f)
  assert record['results'] == _results(runs_dir, 'lenet_seed0')
  assert len(record['scalars']['train_loss']) == 4  # steps 2, 4, 6, 8
  elsewhere = str(tmp_path / 'no_runs_here')
  second = page(elsewhere, 'there')
  with open(first) as f, open(second) as g:
    here, there = f.read(), g.read()
  assert len(_table_rows(here)) == 3  # the group's row and its two runs
  assert _table_rows(there) == _table_rows(here)
  for name in ('tiny_curves.png', 'tiny_training_error.png'):
    # The same curves: the same figure, byte for byte.
    with open(os.path.join(tmp_path, 'here', name), 'rb') as f:
      with open(os.path.join(tmp_path, 'there', name), 'rb') as g:
        assert f.read() == g.read()
  logs = []
  statuses = sweep_lib.run_sweep(
    sweep,
    filters='lenet',
    runs_dir=elsewhere,
    records_dir=records_dir,
    log=logs.append,
  )
  assert statuses == {'lenet_seed0': 'skipped', 'lenet_seed1': 'skipped'}
  assert all('its record' in line for line in logs)
  assert not os.path.exists(elsewhere)
  # A damaged record: one message naming it and what to do.
  damaged = sweep_lib.record_path(sweep, sweep.runs[1], records_dir)
  with open(damaged, 'r+') as f:
    f.truncate(100)
  with pytest.raises(errors.UserError, match='lenet_seed1.json: not a read'):
    page(elsewhere, 'there')


def test_a_page_is_not_rewritten_with_fewer_finished_runs(tiny, tmp_path):
  sweep, runs_dir, _, root = tiny
  results_dir = str(tmp_path / 'results')
  page = sweep_lib.collect(sweep, runs_dir=runs_dir, results_dir=results_dir)
  with open(page) as f:
    before = f.read()
  assert '**Runs finished:** 2 of 3' in before
  with pytest.raises(
    sweep_lib.PageWouldLoseRuns,
    match='lists 2 finished.*lenet_seed0, lenet_seed1',
  ):
    sweep_lib.collect(
      sweep, runs_dir=str(tmp_path / 'gone'), results_dir=results_dir
    )
  # As many finished runs here as on the page, but not the same ones: the
  # page's lenet_seed1 is gone, never_run has finished here instead.
  swapped = tmp_path / 'swapped' / 'tiny'
  swapped.mkdir(parents=True)
  shutil.copytree(
    os.path.join(runs_dir, 'tiny', 'lenet_seed0'), swapped / 'lenet_seed0'
  )
  shutil.copytree(
    os.path.join(runs_dir, 'tiny', 'lenet_seed1'), swapped / 'never_run'
  )
  with pytest.raises(
    sweep_lib.PageWouldLoseRuns,
    match=r'lists 1 finished run\(s\).*: lenet_seed1 ',
  ):
    sweep_lib.collect(
      sweep, runs_dir=str(tmp_path / 'swapped'), results_dir=results_dir
    )
  with open(page) as f:
    assert f.read() == before
  # The command line: one message, no traceback, exit status 2.
  from experiments.sweep import cli  # pylint: disable=g-import-not-at-top

  with pytest.raises(SystemExit) as e:
    cli.main(
      [
        str(root / 'tiny.py'),
        '--collect_only',
        f'--runs_dir={tmp_path / "gone"}',
        f'--results_dir={results_dir}',
        f'--records_dir={tmp_path / "no_records"}',
      ]
    )
  assert e.value.code == 2


def test_unprepared_dataset_is_reported_not_run(tmp_path):
  sweep = sweep_lib.Sweep(
    'nodata',
    'x.py',
    'configs/lenet5_fashion_mnist.py',
    {'dataset': 'no_such_dataset_here'},
    [sweep_lib.Run('a')],
  )
  logs = []
  statuses = sweep_lib.run_sweep(sweep, runs_dir=str(tmp_path), log=logs.append)
  assert statuses == {'a': 'unavailable'}
  assert 'not prepared' in logs[0]
  path = sweep_lib.collect(
    sweep, runs_dir=str(tmp_path), results_dir=str(tmp_path / 'results')
  )
  with open(path) as f:
    report = f.read()
  assert '| a | lenet5 | not run |' in report
  assert 'not prepared on this machine' in report


def test_cells_and_throughput():
  assert report.format_cell('test_acc', [90.0, 92.0]) == '91.00 ± 1.41'
  assert report.format_cell('test_acc', [90.0]) == '90.00'
  assert report.format_cell('test_acc', []) == 'not run'
  assert report.format_cell('params', [1000, 1000]) == '1,000'
  assert report.format_cell('epochs', [15.0, 15.0]) == '15.00'
  assert report.format_cell('epochs', [7.5, 15.0]) == '7.50–15.00'
  # Timings: the fastest run's (a run beside other work is only slower).
  assert report.format_cell('img_s', [398.0, 771.0]) == '771'
  assert report.format_cell('wall', [1842.0, 1146.0, None]) == '19.1 min'
  assert sweep_lib.summarize('img_s', [398.0, None, 771.0]) == (771.0, None)
  assert sweep_lib.summarize('test_acc', [None]) == (None, None)
  run = sweep_lib.RunResult(
    sweep_lib.Run('r'),
    '',
    {'step': 40},
    {'attempts': [{'resumed_from_step': None}, {'resumed_from_step': 20}]},
    {'train_images_per_sec': [(10, 5.0), (20, 100.0), (30, 7.0), (40, 110.0)]},
    None,
  )
  # The first window of each start (steps 10 and 30) includes compilation.
  assert run.metric('img_s') == 105.0


def test_a_seed_in_progress_does_not_cut_a_finished_seeds_curve():
  from experiments.sweep import plots  # pylint: disable=g-import-not-at-top

  def run(name, steps, finished):
    return sweep_lib.RunResult(
      sweep_lib.Run(name, labels={'family': 'plain', 'depth': 56}),
      '',
      {'step': steps[-1]} if finished else None,
      {},
      {'train_accuracy': [(s, s / 100) for s in steps]},
      10,
    )

  finished = run('plain56_seed0', range(10, 101, 10), True)
  partial = run('plain56_seed1', range(10, 41, 10), False)
  groups = plots._curve_groups([finished, partial], 'family', 'depth')
  assert groups == {('plain', 56): [finished]}
  xs, ys = plots._mean_curve(groups['plain', 56], 'train_accuracy')
  assert xs[-1] == 10.0 and ys[-1] == 1.0  # epoch 10: the whole curve
  # With no seed finished, the runs in progress are drawn, so labelled.
  alone = plots._curve_groups([partial], 'family', 'depth')
  assert alone == {('plain', 56): [partial]}
  assert plots._seeds_note(alone['plain', 56]) == ' (in progress)'
  other = run('plain56_seed2', range(10, 101, 10), True)
  assert plots._seeds_note([finished, other]) == ' (2 seeds)'


def test_ema_metrics_of_a_run_with_and_without_averages():
  split = {'accuracy': 0.9, 'loss': 0.3, 'ema_accuracy': 0.92, 'ema_loss': 0.25}
  with_ema = sweep_lib.RunResult(
    sweep_lib.Run('e'), '', {'step': 1, 'test': split}, {}, {}, None
  )
  assert with_ema.metric('test_acc') == 90.0
  assert with_ema.metric('test_ema_acc') == 92.0
  assert with_ema.metric('test_ema_loss') == 0.25
  plain = sweep_lib.RunResult(
    sweep_lib.Run('p'),
    '',
    {'step': 1, 'test': {'accuracy': 0.9, 'loss': 0.3}},
    {},
    {},
    None,
  )
  assert plain.metric('test_ema_acc') is None
  assert report.format_cell('test_ema_acc', [None]) == 'n/a'
