r"""What each CPU setting is worth with oneDNN convolutions on: one train step.

Run::

  python -m experiments.benchmarks.cpu_settings [--models=resnet20,lenet5] \
      [--steps=20] [--repeats=2] [--json_out=FILE]

Each variant runs in its own process (XLA reads its flags once), on the
trainer's own step (``cnn_jax.benchmark.StepBench``, batch 128, synthetic
images of the model's shape). The variants, run in ABBA order over
``--repeats`` sweeps so that a drifting machine load hits them alike:

* ``auto``: the defaults (oneDNN convolutions, ``cpu_tuning='auto'``);
* ``ynn_eltwise``: with element-wise work and reductions also handed to
  YNNPACK (``--xla_cpu_experimental_ynn_fusion_type=...,eltwise,reduce``,
  what ``auto`` set before the oneDNN convolutions);
* ``no_malloc``: without the glibc malloc settings;
* ``none``: neither (``cpu_tuning='none'``);
* ``2dev`` / ``2dev_eigen``: 2 host devices, with
  ``--xla_cpu_multi_thread_eigen=false`` / without it;
* ``xla`` / ``xla_2dev``: XLA's convolutions (``conv_impl='xla'``), with the
  tuning, on 1 and 2 host devices (the set-up before oneDNN).

Reported per variant: the median step time (wall), CPU seconds per step
(user + system of the process, all threads), and the load average.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_list('models', ['resnet20', 'lenet5'], 'Models (registry).')
flags.DEFINE_string('dtype', 'float32', 'Compute dtype.')
flags.DEFINE_integer('batch_size', 128, 'Global batch.')
flags.DEFINE_integer('steps', 20, 'Timed steps per variant.')
flags.DEFINE_integer('repeats', 2, 'Sweeps over the variants (ABBA order).')
flags.DEFINE_list('variants', [], 'Only these variants (default: all).')
flags.DEFINE_string('json_out', '', 'Also write the figures here.')
flags.DEFINE_string('child', '', 'internal: run one variant (JSON spec).')

YNN_ELTWISE = (
  '--xla_cpu_experimental_ynn_fusion_type=individual_dot,individual_convolution'
  ',eltwise,reduce'
)
# name -> (cpu_tuning, host_devices, conv_impl, extra XLA flags, malloc)
VARIANTS = {
  'auto': ('auto', 0, 'auto', '', True),
  'ynn_eltwise': ('auto', 0, 'auto', YNN_ELTWISE, True),
  'no_malloc': ('auto', 0, 'auto', '', False),
  'none': ('none', 0, 'auto', '', False),
  '2dev': ('auto', 2, 'auto', '', True),
  '2dev_eigen': ('auto', 2, 'auto', '--xla_cpu_multi_thread_eigen=true', True),
  'xla': ('auto', 0, 'xla', '', True),
  'xla_2dev': ('auto', 2, 'xla', '', True),
}


def _child(spec: dict) -> dict:
  """One variant, in this (fresh) process."""
  from cnn_jax.ops import cpu_tuning  # pylint: disable=g-import-not-at-top

  tuning, devices, impl, extra, malloc = VARIANTS[spec['variant']]
  if extra:
    os.environ['XLA_FLAGS'] = (
      os.environ.get('XLA_FLAGS', '') + ' ' + extra
    ).strip()
  cpu_tuning.configure(host_devices=devices, tuning=tuning)
  if not malloc and tuning != 'none':
    # configure() set them; glibc's defaults back (values of malloc(3)).
    import ctypes  # pylint: disable=g-import-not-at-top

    libc = ctypes.CDLL('libc.so.6')
    libc.mallopt(-8, 8 * os.cpu_count())  # M_ARENA_MAX
    libc.mallopt(-4, 65536)  # M_MMAP_MAX
    libc.mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD
  from cnn_jax import benchmark  # pylint: disable=g-import-not-at-top
  from experiments.benchmarks import peer_config  # pylint: disable=g-import-not-at-top

  config = peer_config.jax_config(
    spec['model'], spec['batch_size'], spec['dtype']
  )
  config.conv_impl = impl
  bench = benchmark.StepBench(config)
  bench.compile_train()
  for _ in range(3):
    bench.train_once()
  times, cpu = [], []
  for _ in range(spec['steps']):
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    bench.train_once()
    t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    times.append(t1 - t0)
    cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
  return {
    'step_ms': 1e3 * statistics.median(times),
    'cpu_s_per_step': statistics.median(cpu),
    'load_avg': os.getloadavg()[0],
    'devices': int(bench.mesh.devices.size),
    'xla_flags': os.environ.get('XLA_FLAGS', ''),
  }


def _run_child(spec: dict) -> dict:
  env = dict(os.environ)
  env.pop('XLA_FLAGS', None)
  r = subprocess.run(
    [
      sys.executable,
      '-m',
      'experiments.benchmarks.cpu_settings',
      f'--child={json.dumps(spec)}',
    ],
    env=env,
    capture_output=True,
    text=True,
    check=False,
  )
  line = [l for l in r.stdout.splitlines() if l.startswith('RESULT ')]
  if r.returncode != 0 or not line:
    raise RuntimeError(f'{spec}: {r.stderr[-2000:]}')
  return json.loads(line[-1][len('RESULT ') :])


def main(argv):
  del argv
  if FLAGS.child:
    print('RESULT ' + json.dumps(_child(json.loads(FLAGS.child))))
    return
  from cnn_jax import benchmark  # pylint: disable=g-import-not-at-top

  names = FLAGS.variants or list(VARIANTS)
  results = {m: {v: [] for v in names} for m in FLAGS.models}
  for rep in range(FLAGS.repeats):
    order = names if rep % 2 == 0 else names[::-1]
    for model in FLAGS.models:
      for v in order:
        r = _run_child(
          dict(
            variant=v,
            model=model,
            dtype=FLAGS.dtype,
            batch_size=FLAGS.batch_size,
            steps=FLAGS.steps,
          )
        )
        results[model][v].append(r)
        print(
          f'{model:<10} {v:<11} {r["step_ms"]:8.1f} ms/step '
          f'{r["cpu_s_per_step"]:6.2f} CPU s/step  load '
          f'{r["load_avg"]:.1f}',
          flush=True,
        )
  summary = {
    m: {
      v: {
        'step_ms_median': statistics.median(x['step_ms'] for x in runs),
        'cpu_s_per_step_median': statistics.median(
          x['cpu_s_per_step'] for x in runs
        ),
        'runs': runs,
      }
      for v, runs in by_v.items()
    }
    for m, by_v in results.items()
  }
  from cnn_jax.ops import onednn  # pylint: disable=g-import-not-at-top

  out = {
    'dtype': FLAGS.dtype,
    'batch_size': FLAGS.batch_size,
    'onednn': onednn.info(),
    'variants': {k: list(v) for k, v in VARIANTS.items()},
    'results': summary,
    'machine': benchmark.machine_info(),
  }
  for m, by_v in summary.items():
    print(
      m
      + ': '
      + ', '.join(f'{v} {r["step_ms_median"]:.1f}' for v, r in by_v.items())
    )
  if FLAGS.json_out:
    with open(FLAGS.json_out, 'w') as f:
      json.dump(out, f, indent=2, sort_keys=True)


if __name__ == '__main__':
  app.run(main)
