"""Entry point: ``python -m cnn_jax.main --config=configs/X.py [--workdir=DIR]``.

Every config field can be overridden, e.g. ``--config.num_epochs=2``. The
workdir defaults to ``workdirs/<config name>`` (printed at start), so the
command in a config's docstring runs as written. The logic lives in
``cnn_jax.training.trainer``; this file only parses flags. A bad config or
another user error prints one message and exits with status 2
(``cnn_jax.errors``); ``--config.debug=True`` shows the traceback.
"""

import os
import re

from absl import flags
from ml_collections import config_flags

from cnn_jax import config_validation, errors
from cnn_jax.data import image_folder
from cnn_jax.training import sharding, workdir_lock
from cnn_jax.ops import cpu_tuning


def define_flags(flag_values: flags.FlagValues = flags.FLAGS, argv=None):
  """Defines the CLI flags (on a fresh FlagValues with its argv in tests)."""
  config_flags.DEFINE_config_file(
    'config',
    None,
    'Experiment config file.',
    flag_values=flag_values,
    lock_config=True,
    sys_argv=argv,
  )
  flags.DEFINE_string(
    'workdir',
    None,
    'Checkpoints, summaries and results (default: workdirs/<config name>).',
    flag_values=flag_values,
  )
  flags.mark_flags_as_required(['config'], flag_values=flag_values)


def default_workdir(config_arg: str) -> str:
  """``workdirs/<config file stem>[_<config args>]`` for a --config value.

  ``configs/x.py`` gives ``workdirs/x``; ``configs/x.py:variant=b3`` (a config
  that takes arguments) gives ``workdirs/x_b3``, so that two variants of one
  file do not resume each other's checkpoints.
  """
  path, _, args = config_arg.partition(':')
  parts = [os.path.splitext(os.path.basename(path))[0]]
  parts += [a.partition('=')[2] or a for a in args.split(',') if a]
  name = re.sub(r'[^A-Za-z0-9._-]+', '_', '_'.join(parts)).strip('_.')
  return os.path.join('workdirs', name or 'run')


def main(argv, flag_values: flags.FlagValues = flags.FLAGS):
  fv = flag_values
  if len(argv) > 1:
    raise errors.UserError(
      f'Unexpected arguments: {argv[1:]}; config fields '
      'are set with --config.FIELD=VALUE.'
    )
  # Every problem of the config at once, before anything starts (the checks
  # that need the devices, the model and the data follow in trainer.setup).
  config_validation.validate(fv.config)
  if fv.config.dataset == image_folder.NAME:  # the folder too, before JAX
    image_folder.scan_for(fv.config)
  workdir = fv.workdir
  if not workdir:
    workdir = default_workdir(config_flags.get_config_filename(fv['config']))
    print(
      f'Workdir: {workdir} (set --workdir=DIR to choose another)', flush=True
    )
  workdir_lock.make_workdir(workdir)  # a bad --workdir before any work.
  # Before anything starts JAX's backend: XLA_FLAGS are read once.
  cpu_tuning.configure(
    host_devices=fv.config.host_devices, tuning=fv.config.cpu_tuning
  )
  sharding.maybe_initialize_distributed()
  from cnn_jax.training import trainer  # pylint: disable=g-import-not-at-top

  trainer.train_and_evaluate(fv.config, workdir)


if __name__ == '__main__':
  define_flags()
  errors.run(main)
