"""Builds the oneDNN library (convolutions, pooling): ``python -m cnn_jax.ops.build_onednn``.

Two ways to build the one CMake project in ``csrc/``: ``pip install .``
(scikit-build-core, ``pyproject.toml``) builds it into the installed
package; in a checkout, ``setup.sh`` runs this module after installing
``requirements.txt``, which configures
``cnn_jax/ops/csrc`` with cmake against the oneDNN headers and library of
this Python environment (PyPI ``onednn-devel-cpu-gomp``, installed under the
venv's ``include/`` and ``lib/``) and the XLA FFI headers that jaxlib ships
(``jax.ffi.include_dir()``), and puts ``libcnn_jax_onednn.so`` in
``cnn_jax/ops/_build/`` (git-ignored). The library's RPATH names the venv's
``lib/``, so it finds ``libdnnl.so`` without ``LD_LIBRARY_PATH``.

Nothing is rebuilt when the sources, the compiler inputs (jaxlib and oneDNN
versions) and the library are unchanged (a digest of them sits beside the
library). ``--force`` rebuilds anyway. Exit status 1 with one message on
failure; ``setup.sh`` then warns and goes on (training falls back to XLA's
convolutions and pooling).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

from cnn_jax.ops import onednn

CSRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'csrc')
STAMP = os.path.join(onednn.BUILD_DIR, 'libcnn_jax_onednn.digest')


class BuildError(RuntimeError):
  pass


def dnnl_root() -> str:
  """The prefix whose include/ and lib/ hold oneDNN (this environment's, or
  where pip put the ``onednn-devel-cpu-gomp`` of an isolated build)."""
  prefixes = [sys.prefix, sys.base_prefix]
  try:
    dist = importlib.metadata.distribution('onednn-devel-cpu-gomp')
    header = next(
      f for f in dist.files or () if str(f).endswith('oneapi/dnnl/dnnl.hpp')
    )
    path = os.path.normpath(str(dist.locate_file(header)))
    prefixes.insert(0, path[: path.rindex(f'{os.sep}include{os.sep}')])
  except (importlib.metadata.PackageNotFoundError, StopIteration):
    pass
  for prefix in prefixes:
    if os.path.exists(
      os.path.join(prefix, 'include', 'oneapi', 'dnnl', 'dnnl.hpp')
    ):
      return prefix
  raise BuildError(
    f'oneDNN headers not found under {sys.prefix}/include (pip install '
    '-r requirements.txt installs onednn-devel-cpu-gomp).'
  )


def ffi_include_dir() -> str:
  """``jax.ffi.include_dir()``, without importing jax (seconds)."""
  spec = importlib.util.find_spec('jaxlib')
  if spec is None or not spec.submodule_search_locations:
    raise BuildError('jaxlib is not installed.')
  for location in spec.submodule_search_locations:
    include = os.path.join(location, 'include')
    if os.path.exists(os.path.join(include, 'xla', 'ffi', 'api', 'ffi.h')):
      return include
  raise BuildError('jaxlib ships no XLA FFI headers (include/xla/ffi).')


def digest(root: str, include: str) -> str:
  """Hash of everything the build depends on."""
  h = hashlib.sha256()
  for name in sorted(os.listdir(CSRC)):
    path = os.path.join(CSRC, name)
    if os.path.isfile(path):
      h.update(name.encode())
      with open(path, 'rb') as f:
        h.update(f.read())
  for path in (
    os.path.join(root, 'include', 'oneapi', 'dnnl', 'dnnl_version.h'),
    os.path.join(include, 'xla', 'ffi', 'api', 'api.h'),
  ):
    with open(path, 'rb') as f:
      h.update(f.read())
  h.update(os.path.realpath(root).encode())
  return h.hexdigest()


def up_to_date(key: str) -> bool:
  if not os.path.exists(onednn.DEFAULT_LIBRARY) or not os.path.exists(STAMP):
    return False
  with open(STAMP) as f:
    return f.read().strip() == key


def build(force: bool = False, verbose: bool = False) -> str:
  """Builds (if needed) and returns the library's path."""
  for tool in ('cmake', 'g++'):
    if shutil.which(tool) is None:
      raise BuildError(f'{tool} not found (Debian: apt-get install cmake g++).')
  root, include = dnnl_root(), ffi_include_dir()
  key = digest(root, include)
  if not force and up_to_date(key):
    return onednn.DEFAULT_LIBRARY
  os.makedirs(onednn.BUILD_DIR, exist_ok=True)
  work = os.path.join(onednn.BUILD_DIR, 'cmake')
  out = None if verbose else subprocess.PIPE
  steps = [
    [
      'cmake',
      '-S',
      CSRC,
      '-B',
      work,
      '-DCMAKE_BUILD_TYPE=Release',
      f'-DDNNL_ROOT={root}',
      f'-DXLA_FFI_INCLUDE_DIR={include}',
    ],
    ['cmake', '--build', work, '-j', str(os.cpu_count() or 1)],
  ]
  for cmd in steps:
    r = subprocess.run(
      cmd, stdout=out, stderr=subprocess.STDOUT, text=True, check=False
    )
    if r.returncode != 0:
      tail = '\n'.join((r.stdout or '').splitlines()[-25:])
      raise BuildError(f'{" ".join(cmd[:2])} failed:\n{tail}')
  # Replace atomically: a running process keeps its mapped copy.
  fd, tmp = tempfile.mkstemp(dir=onednn.BUILD_DIR, suffix='.so')
  os.close(fd)
  shutil.copy2(os.path.join(work, onednn.LIBRARY_NAME), tmp)
  os.replace(tmp, onednn.DEFAULT_LIBRARY)
  with open(STAMP, 'w') as f:
    f.write(key + '\n')
  return onednn.DEFAULT_LIBRARY


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--force', action='store_true', help='rebuild anyway')
  parser.add_argument(
    '--verbose', action='store_true', help='show the compiler output'
  )
  parser.add_argument(
    '--print_paths',
    action='store_true',
    help="print oneDNN's prefix and the XLA FFI include folder, "
    "';'-separated (csrc/CMakeLists.txt asks when not given them)",
  )
  args = parser.parse_args(argv)
  if args.print_paths:
    try:
      print(f'{dnnl_root()};{ffi_include_dir()}', end='')
    except BuildError as e:
      print(e, file=sys.stderr)
      return 1
    return 0
  try:
    path = build(force=args.force, verbose=args.verbose)
  except (BuildError, OSError) as e:
    print(
      f'WARNING: cnn_jax: building the oneDNN library failed '
      f"({e}). Training works, with XLA's slower CPU convolutions and pooling; "
      'rerun `bash setup.sh` once it is fixed.',
      file=sys.stderr,
    )
    return 1
  print(f'oneDNN library: {path}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
