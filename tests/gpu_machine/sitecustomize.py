"""Makes this interpreter's packages look like the lent GPU machine's.

Put this folder first on ``PYTHONPATH``: Python imports ``sitecustomize`` at
start-up. A module that would be found in this interpreter's site-packages
is then not found unless its distribution is on
``experiments/gpu/machine_packages.txt`` (the machine's published package
list) or named in ``CNN_JAX_CARRIED`` (comma-separated distributions, for a
caller that lets this venv stand in for the carried wheels). Modules found
anywhere else — the standard library, the repository, the folder ``run.sh``
installs the carried wheels into — are found as usual. So ``import wrapt``
fails here exactly where it would fail there, with ``ModuleNotFoundError``,
and ``importlib.util.find_spec`` returns ``None``; their metadata is hidden
too (``importlib.metadata.version``, which libraries use to probe for
optional packages, raises ``PackageNotFoundError``). Each hidden module is
appended to the file ``CNN_JAX_HIDDEN_LOG`` names (if set), with its
distribution, so that a test can say which import would break.
"""

import os
import re
import site
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_LIST = os.environ.get('CNN_JAX_MACHINE_PACKAGES') or os.path.join(
  os.path.dirname(os.path.dirname(_HERE)),
  'experiments',
  'gpu',
  'machine_packages.txt',
)


def _norm(name: str) -> str:
  return re.sub(r'[-_.]+', '-', name).lower()


def _allowed() -> set:
  with open(_LIST) as f:
    names = {
      _norm(line.split('==')[0].strip())
      for line in f
      if line.strip() and not line.startswith('#')
    }
  carried = os.environ.get('CNN_JAX_CARRIED', '')
  return names | {_norm(n) for n in carried.split(',') if n.strip()}


def _site_dirs() -> list:
  dirs = list(site.getsitepackages())
  if site.ENABLE_USER_SITE:
    dirs.append(site.getusersitepackages())
  return [os.path.realpath(d) + os.sep for d in dirs if os.path.isdir(d)]


def _owners(site_dir: str) -> dict:
  """Relative path of each installed file -> its distribution (RECORDs)."""
  owners = {}
  for entry in os.listdir(site_dir):
    if not entry.endswith('.dist-info'):
      continue
    dist = _norm(entry[: -len('.dist-info')].split('-')[0])
    try:
      with open(os.path.join(site_dir, entry, 'RECORD')) as f:
        for line in f:
          path = line.split(',', 1)[0].strip('"')
          if path:
            owners[os.path.normpath(path)] = dist
    except OSError:
      continue
  return owners


class _MachinePackagesOnly:
  """A meta-path finder: what ``inner`` finds, unless the machine lacks it."""

  allowed = None
  sites = None
  owners = {}

  def __init__(self, inner):
    self.inner = inner

  @classmethod
  def _distribution(cls, origin: str):
    real = os.path.realpath(origin)
    for site_dir in cls.sites:
      if real.startswith(site_dir):
        if site_dir not in cls.owners:
          cls.owners[site_dir] = _owners(site_dir)
        rel = os.path.normpath(real[len(site_dir) :])
        return cls.owners[site_dir].get(rel, '(no distribution)')
    return None  # not from site-packages: found as usual

  @classmethod
  def _setup(cls):
    if cls.allowed is None:
      cls.allowed, cls.sites = _allowed(), _site_dirs()

  def find_spec(self, fullname, path=None, target=None):
    spec = self.inner.find_spec(fullname, path, target)
    if spec is None or not spec.origin or not os.path.isabs(spec.origin):
      return spec  # built-in, frozen or a namespace package
    cls = type(self)
    cls._setup()
    dist = cls._distribution(spec.origin)
    if dist is None or dist in cls.allowed:
      return spec
    log = os.environ.get('CNN_JAX_HIDDEN_LOG')
    if log:
      with open(log, 'a') as f:
        f.write(f'{fullname} {dist}\n')
    return None

  def find_distributions(self, *args, **kwargs):
    find = getattr(self.inner, 'find_distributions', None)
    if find is None:
      return
    cls = type(self)
    cls._setup()
    for dist in find(*args, **kwargs):
      where = os.path.realpath(str(dist.locate_file(''))) + os.sep
      name = _norm(dist.metadata['Name'] or '')
      if where not in cls.sites or name in cls.allowed:
        yield dist

  def __getattr__(self, name):
    return getattr(self.inner, name)


sys.meta_path[:] = [
  _MachinePackagesOnly(f) if hasattr(f, 'find_spec') else f
  for f in sys.meta_path
]
