"""Model families. Each module registers its models in ``registry`` on import."""

import importlib
import pkgutil

from cnn_jax.models.registry import build, get_spec, known_models, register  # noqa: F401

_NOT_FAMILIES = frozenset({'registry', 'layers', 'blocks'})


def import_all() -> None:
  """Imports every family module so that all models are registered."""
  for info in pkgutil.iter_modules(__path__):
    if info.name not in _NOT_FAMILIES and not info.name.startswith('_'):
      importlib.import_module(f'{__name__}.{info.name}')
