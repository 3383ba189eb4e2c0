r"""The main job (the README's first command) timed end to end, with either input path.

Run::

  python -m experiments.benchmarks.main_job --input_pipeline=device \
      [--config=configs/lenet5_fashion_mnist.py] [--json_out=FILE] \
      [-- --config.FIELD=VALUE ...]

Runs ``python -m cnn_jax.main --config=... --workdir=<fresh temp dir>
--config.input_pipeline=...`` as a subprocess and reports its wall time, its
peak resident memory, the test and validation accuracy (``results.json``),
and the training images/s: the median over the logging windows after the
first (which holds the compilation) of the ``train_images_per_sec`` scalar
the trainer writes (evaluation excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


def run(config: str, input_pipeline: str, extra: list[str]) -> dict:
  from cnn_jax import benchmark  # pylint: disable=g-import-not-at-top
  from cnn_jax.analysis import scalars  # pylint: disable=g-import-not-at-top

  workdir = tempfile.mkdtemp(prefix='main_job_')
  cmd = [
    sys.executable,
    '-m',
    'cnn_jax.main',
    f'--config={config}',
    f'--workdir={workdir}',
    f'--config.input_pipeline={input_pipeline}',
    *extra,
  ]
  load_before = os.getloadavg()
  t = time.perf_counter()
  proc = subprocess.run(
    cmd, cwd=ROOT, capture_output=True, text=True, check=False
  )
  wall = time.perf_counter() - t
  if proc.returncode:
    raise SystemExit(proc.stderr[-3000:])
  with open(os.path.join(workdir, 'results.json')) as f:
    results = json.load(f)
  rates = [v for _, v in scalars.read_scalars(workdir)['train_images_per_sec']]
  source = [line for line in proc.stderr.splitlines() if 'input: ' in line]
  return {
    'command': ' '.join(cmd[1:]),
    'input_pipeline': input_pipeline,
    'input_line': source[-1].split('] ', 1)[-1] if source else None,
    'wall_s': wall,
    'peak_rss_bytes': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    * 1024,
    'test_accuracy': results['test']['accuracy'],
    'validation_accuracy': results['validation']['accuracy'],
    'steps': results['step'],
    'train_images_per_s_median': statistics.median(rates[1:] or rates),
    'windows': len(rates),
    'load_avg_before': load_before,
    'load_avg_after': os.getloadavg(),
    'machine': benchmark.machine_info(),
  }


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--config', default='configs/lenet5_fashion_mnist.py')
  parser.add_argument(
    '--input_pipeline', default='auto', choices=['auto', 'device', 'tfdata']
  )
  parser.add_argument('--json_out', default='')
  parser.add_argument('extra', nargs='*', help='more --config.F=V overrides')
  args = parser.parse_args(argv)
  r = run(args.config, args.input_pipeline, args.extra)
  print(
    f'{args.input_pipeline}: test {100 * r["test_accuracy"]:.2f}%, '
    f'validation {100 * r["validation_accuracy"]:.2f}%, wall '
    f'{r["wall_s"]:.1f} s, {r["train_images_per_s_median"]:,.0f} img/s '
    f'(median of {r["windows"] - 1} windows), peak RSS '
    f'{r["peak_rss_bytes"] / 2**30:.2f} GiB, load '
    f'{r["load_avg_before"][0]:.1f} -> {r["load_avg_after"][0]:.1f}'
  )
  if args.json_out:
    with open(args.json_out, 'w') as f:
      json.dump(r, f, indent=2, sort_keys=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())
