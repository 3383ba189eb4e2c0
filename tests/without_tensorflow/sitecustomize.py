"""Hides TensorFlow and TFDS from this interpreter, as if not installed.

Put this folder first on ``PYTHONPATH``: Python imports ``sitecustomize`` at
start-up. The finders on ``sys.meta_path`` are then wrapped so that
``tensorflow``, ``tensorflow_datasets`` and their submodules are not found:
``import tensorflow`` raises ModuleNotFoundError and
``importlib.util.find_spec('tensorflow')`` is None, exactly as on a machine
without them (the GPU machine of ``experiments/gpu``).
"""

import sys

HIDDEN = ('tensorflow', 'tensorflow_datasets')


class _Hide:
  """A meta-path finder that finds nothing hidden, else what ``inner`` finds."""

  def __init__(self, inner):
    self.inner = inner

  def find_spec(self, fullname, path=None, target=None):
    if fullname.split('.')[0] in HIDDEN:
      return None
    return self.inner.find_spec(fullname, path, target)

  def __getattr__(self, name):
    return getattr(self.inner, name)


for _name in HIDDEN:
  if _name in sys.modules:
    raise RuntimeError(f'{_name} was imported before sitecustomize ran.')
sys.meta_path[:] = [
  _Hide(f) if hasattr(f, 'find_spec') else f for f in sys.meta_path
]
