"""Where a train step's time goes on the CPU: XLA's ops, grouped by kind.

Run::

  python -m experiments.benchmarks.step_profile --model=googlenet_uvadl \
      [--batch_size=128] [--image_size=32] [--num_classes=10] [--steps=3]

Times ``--steps`` train steps of the trainer's own compiled step
(``cnn_jax.benchmark.StepBench``, synthetic images) under
``jax.profiler.trace`` and sums the profiler's op events by kind (the op
name without its number: ``onednn_conv_call``, ``ynn_fusion``,
``wrapped_reduce-window``, ...). Events of ops that run nested inside others
count in both, so the shares are of the summed op time, not of wall time;
they show what dominates. The figures go with the CPU's model
(BENCHMARKS.md).
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import re
import tempfile

from absl import app, flags

from experiments.benchmarks import peer_config

peer_config.define_model_flags('googlenet_uvadl', image_size=32, channels=3)
flags.DEFINE_integer('steps', 3, 'Profiled steps (after 3 warm-up steps).')
flags.DEFINE_integer('top', 15, 'Op kinds listed.')
FLAGS = flags.FLAGS

_NOT_OPS = ('ThunkExecutor', '$', 'Pjit', 'PythonRef', 'end: ')


def op_time_by_kind(trace_events) -> collections.Counter:
  """Microseconds per op kind (name without its .N suffix)."""
  kinds = collections.Counter()
  for e in trace_events:
    if e.get('ph') != 'X' or e['name'].startswith(_NOT_OPS):
      continue
    kinds[re.sub(r'\.\d+$', '', e['name'])] += e['dur']
  return kinds


def main(argv):
  del argv
  from cnn_jax.ops import cpu_tuning  # pylint: disable=g-import-not-at-top

  cpu_tuning.configure(0, 'auto')
  import jax  # pylint: disable=g-import-not-at-top

  from cnn_jax import benchmark  # pylint: disable=g-import-not-at-top

  shape = (FLAGS.image_size, FLAGS.image_size, FLAGS.channels)
  config = benchmark.benchmark_config(
    peer_config.jax_config(
      FLAGS.model,
      FLAGS.batch_size,
      FLAGS.dtype,
      num_classes=FLAGS.num_classes,
      input_shape=shape,
    )
  )
  bench = benchmark.StepBench(config)
  for _ in range(3):
    bench.train_once()
  with tempfile.TemporaryDirectory() as out:
    with jax.profiler.trace(out, create_perfetto_trace=True):
      for _ in range(FLAGS.steps):
        bench.train_once()
    path = glob.glob(f'{out}/**/*.trace.json.gz', recursive=True)[0]
    with gzip.open(path) as f:
      events = json.load(f)['traceEvents']
  kinds = op_time_by_kind(events)
  total = sum(kinds.values())
  print(
    f'{FLAGS.model}, {FLAGS.dtype}, batch {FLAGS.batch_size}, {shape}: '
    'summed op time '
    f'{total / 1e3 / FLAGS.steps:.1f} ms per step'
  )
  for kind, us in kinds.most_common(FLAGS.top):
    print(
      f'  {us / 1e3 / FLAGS.steps:9.1f} ms  {100 * us / total:5.1f}%  {kind}'
    )


if __name__ == '__main__':
  app.run(main)
