r"""The tf.data training stream of a checkout, timed: wall and CPU time.

Run::

  python -m experiments.benchmarks.input_stream --root=DIR \
      --config=configs/resnet50_imagenet.py [--rounds=3] [--batches=30] \
      [-- --config.FIELD=VALUE ...]

imports ``cnn_jax`` and ``configs`` from ``--root`` (this tree by default,
or another commit's checkout: ``git worktree add /tmp/before COMMIT``), builds
the config's training stream (``pipeline.train_dataset``, as ``as_numpy``
batches: what the host hands over, with whatever that version does on the
host) and reports, per round, images/s and images per second of the
process's CPU time. Only functions both versions have are used, so the
figures before and after a change come from the same measurement; rounds of
two checkouts can be alternated to share a machine's load fairly.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time


def _cpu_seconds() -> float:
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def _config(path: str, overrides: list[str]):
  """The config file at ``path`` (``file.py[:arg]``) with ``--config.X=V``."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top

  values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', path, flag_values=values)
  values(['input_stream', f'--config={path}', *overrides])
  return values.config


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--root', default=os.getcwd())
  parser.add_argument('--config', required=True)
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--batches', type=int, default=30)
  parser.add_argument('--warmup', type=int, default=5)
  parser.add_argument('--json_out', default='')
  args, overrides = parser.parse_known_args(argv)
  overrides = [o for o in overrides if o != '--']
  root = os.path.abspath(args.root)
  sys.path.insert(0, root)
  os.chdir(root)
  from cnn_jax.data import pipeline  # pylint: disable=g-import-not-at-top

  pipeline.hide_gpus_from_tensorflow()
  config = _config(args.config, overrides)
  info = pipeline.get_info(config)
  rounds = []
  for _ in range(args.rounds):
    it = pipeline.as_numpy(pipeline.train_dataset(config, info))
    for _ in range(args.warmup):
      next(it)
    start, cpu = time.perf_counter(), _cpu_seconds()
    n = sum(len(next(it)['label']) for _ in range(args.batches))
    wall, used = time.perf_counter() - start, _cpu_seconds() - cpu
    rounds.append(
      {
        'images_per_s': n / wall,
        'images_per_cpu_s': n / used,
        'load_1min': os.getloadavg()[0],
      }
    )
    print(
      f'{os.path.dirname(pipeline.__file__)}: {n / wall:,.0f} img/s, {n / used:,.0f} img per CPU-second '
      f'(load {os.getloadavg()[0]:.1f})',
      flush=True,
    )
  if args.json_out:
    with open(args.json_out, 'w') as f:
      json.dump(
        {
          'root': root,
          'config': args.config,
          'overrides': overrides,
          'rounds': rounds,
        },
        f,
        indent=2,
      )


if __name__ == '__main__':
  main()
