"""Running Python as on the lent GPU machine: only the distributions of
``experiments/gpu/machine_packages.txt`` importable from site-packages
(``tests/gpu_machine/sitecustomize.py``), so no TensorFlow, TFDS,
ml-collections or clu, plus what the campaign carries."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SITECUSTOMIZE = os.path.join(ROOT, 'tests', 'gpu_machine')
GPU = os.path.join(ROOT, 'experiments', 'gpu')


def listed(name: str) -> list[str]:
  """The distribution names of ``experiments/gpu/<name>`` (versions cut)."""
  with open(os.path.join(GPU, name)) as f:
    return [
      line.split('==')[0].strip()
      for line in f
      if line.strip() and not line.startswith('#')
    ]


def environment(carried: bool = True, **extra) -> dict:
  """This process's environment as on the GPU machine, no XLA_FLAGS.

  ``carried``: this venv stands in for the carried wheels (same pins), as
  after ``run.sh`` installed them; else only the machine's own packages.
  """
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([SITECUSTOMIZE, ROOT]))
  env.pop('XLA_FLAGS', None)
  env['CNN_JAX_CARRIED'] = (
    ','.join(listed('carried_packages.txt')) if carried else ''
  )
  env.update(extra)
  return env


def run(
  args, timeout: float = 900, cwd: str = ROOT, **kwargs
) -> subprocess.CompletedProcess:
  """``python *args`` (from the repository root), as on the GPU machine."""
  return subprocess.run(
    [sys.executable, *args],
    cwd=cwd,
    env=environment(**kwargs),
    capture_output=True,
    text=True,
    timeout=timeout,
    check=False,
  )
