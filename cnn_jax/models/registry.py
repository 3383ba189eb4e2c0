"""Model registry: every architecture is looked up by the name users know.

Each entry is a factory (usually a ``functools.partial`` over a Flax module with
its stage sizes and block class filled in) plus the input shape it was designed
for, so tools such as ``cnn_jax.summary`` can build any model by name alone.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable

import flax.linen as nn


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  name: str
  factory: Callable[..., nn.Module]
  input_shape: tuple[int, int, int]  # (height, width, channels) of one example.
  num_classes: int  # the class count the reference figures are for.


_MODELS: dict[str, ModelSpec] = {}


def register(
  name: str,
  factory: Callable[..., nn.Module],
  *,
  input_shape: tuple[int, int, int] = (224, 224, 3),
  num_classes: int = 1000,
) -> None:
  """Registers ``factory`` (a module class or partial) under ``name``."""
  if name in _MODELS:
    raise ValueError(f'Model {name!r} is registered twice.')
  _MODELS[name] = ModelSpec(name, factory, tuple(input_shape), num_classes)


def known_models() -> list[str]:
  _load_families()
  return sorted(_MODELS)


def get_spec(name: str) -> ModelSpec:
  _load_families()
  try:
    return _MODELS[name]
  except KeyError:
    raise ValueError(
      f'Unknown model {name!r}. Known models: {", ".join(sorted(_MODELS))}'
    ) from None


def build(name: str, conv_impl: str = 'auto', **kwargs: Any) -> nn.Module:
  """Builds model ``name``; ``kwargs`` (num_classes, dtype, ...) go to it.

  ``conv_impl``: 'auto' (oneDNN convolutions and pooling on CPU, XLA's
  elsewhere) or 'xla' (XLA's everywhere, for comparisons). 'xla' wraps the model in
  ``cnn_jax.ops.conv.WithConvImpl``, which keeps its variables unchanged.

  A keyword whose value is None is left out, so the model keeps its own
  value: a config can list a model's arguments as unset ``model_kwargs``
  placeholders (which makes them overridable on the command line, e.g. the
  RegNet design parameters in ``configs/regnet_*``) without changing them.
  """
  kwargs = {k: v for k, v in kwargs.items() if v is not None}
  model = get_spec(name).factory(**kwargs)
  if conv_impl == 'auto':
    return model
  from cnn_jax.ops import conv  # pylint: disable=g-import-not-at-top

  if conv_impl not in conv.IMPLS:
    raise ValueError(f'Unknown conv_impl {conv_impl!r}: one of {conv.IMPLS}.')
  return conv.WithConvImpl(model, conv_impl=conv_impl)


def takes_progress(model: nn.Module) -> bool:
  """Whether calling ``model`` takes ``progress``, the fraction of training
  done (NASNet's ScheduledDropPath); the train step then passes it."""
  from cnn_jax.ops import conv  # pylint: disable=g-import-not-at-top

  while isinstance(model, conv.WithConvImpl):
    model = model.model
  return 'progress' in inspect.signature(type(model).__call__).parameters


def _load_families() -> None:
  # Importing the family modules runs their ``register`` calls.
  from cnn_jax import models  # pylint: disable=g-import-not-at-top

  models.import_all()
