"""Running Python with TensorFlow and TFDS unimportable (as on the GPU
machine): ``tests/without_tensorflow/sitecustomize.py`` hides them."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HIDE_TF = os.path.join(ROOT, 'tests', 'without_tensorflow')


def environment() -> dict:
  """This process's environment with TensorFlow hidden and no XLA_FLAGS."""
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([HIDE_TF, ROOT]))
  env.pop('XLA_FLAGS', None)
  return env


def run(args, timeout: float = 900) -> subprocess.CompletedProcess:
  """``python *args`` from the repository root, TensorFlow hidden."""
  return subprocess.run(
    [sys.executable, *args],
    cwd=ROOT,
    env=environment(),
    capture_output=True,
    text=True,
    timeout=timeout,
    check=False,
  )
