"""``pip install .`` yields the package with its oneDNN kernels.

The wheel is built as pip builds it (an isolated environment with
pyproject.toml's build requirements: scikit-build-core, jaxlib's FFI
headers, the pinned oneDNN), installed into a fresh virtual environment
with the oneDNN runtime it depends on, and used from outside the checkout:
the library loads from the installed package and runs a convolution.
"""

import os
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARY = 'cnn_jax/ops/_build/libcnn_jax_onednn.so'


def _run(cmd, **kwargs):
  proc = subprocess.run(
    cmd, capture_output=True, text=True, timeout=1200, check=False, **kwargs
  )
  assert proc.returncode == 0, (cmd, proc.stdout[-2000:], proc.stderr[-3000:])
  return proc


@pytest.mark.slow
def test_pip_install_builds_and_loads_the_kernels(tmp_path):
  source = tmp_path / 'src'  # what git tracks: no checkout build inside
  files = _run(['git', 'ls-files', '-z'], cwd=ROOT).stdout.split('\0')
  for name in filter(None, files):
    if os.path.exists(os.path.join(ROOT, name)):
      os.makedirs(source / os.path.dirname(name), exist_ok=True)
      with open(os.path.join(ROOT, name), 'rb') as f:
        (source / name).write_bytes(f.read())
  _run(
    [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '-w', 'dist', '.'],
    cwd=source,
  )
  (wheel,) = (source / 'dist').glob('cnn_jax-*.whl')
  with zipfile.ZipFile(wheel) as z:
    assert LIBRARY in z.namelist()

  venv = tmp_path / 'venv'
  _run([sys.executable, '-m', 'venv', str(venv)])
  python = str(venv / 'bin' / 'python')
  # The wheel and its oneDNN runtime installed there; this environment's
  # jax, flax, ... lent through PYTHONPATH (after the new venv's own).
  _run(
    [python, '-m', 'pip', 'install', '--no-deps', str(wheel)]
    + [
      line.strip()
      for line in open(os.path.join(ROOT, 'requirements.txt'))
      if line.startswith('onednn-cpu-gomp==')
    ]
  )
  site = next(p for p in sys.path if p.endswith('site-packages'))
  script = (
    'import jax, jax.numpy as jnp, numpy as np\n'
    'from cnn_jax.ops import conv, onednn\n'
    'x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 8, 3)),'
    ' jnp.float32)\n'
    'w = jnp.asarray(np.random.default_rng(1).normal(size=(3, 3, 3, 4)),'
    ' jnp.float32)\n'
    'y = jax.jit(lambda x, w: conv.conv_general_dilated(x, w, (1, 1), "SAME",'
    ' dimension_numbers=conv.NHWC))(x, w)\n'
    'ref = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",'
    ' dimension_numbers=conv.NHWC)\n'
    'np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)\n'
    'print(onednn.info()["path"])\n'
    'print(sorted(onednn.implementations()))\n'
  )
  proc = _run(
    [python, '-c', script],
    cwd=tmp_path,  # not the checkout: the installed package
    env=dict(os.environ, PYTHONPATH=site),
  )
  path, impls = proc.stdout.strip().splitlines()[-2:]
  assert path.startswith(str(venv)) and path.endswith(LIBRARY), path
  assert 'forward float32' in impls and 'None' not in impls, impls
