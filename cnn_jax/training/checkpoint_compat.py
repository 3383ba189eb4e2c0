"""Does a saved checkpoint fit this run's state? Which tensor does not?

Resuming a workdir with another model or optimizer would otherwise fail
inside Orbax ("pass partial_restore=True"). Orbax's tree metadata gives every
saved tensor's path, shape and dtype without reading the arrays, so the
mismatch is found before anything is restored, and named.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import numpy as np

from cnn_jax.training.checkpoint_integrity import path_name


def _is_metadata_leaf(x) -> bool:
  return hasattr(x, 'shape') and hasattr(x, 'dtype')


def tensor_table(tree, *, metadata: bool = False) -> dict[str, tuple]:
  """{path: (shape, dtype name)} of every array (or Orbax array metadata)."""
  flat = jax.tree_util.tree_flatten_with_path(
    tree, is_leaf=_is_metadata_leaf if metadata else None
  )[0]
  table = {}
  for path, leaf in flat:
    shape = tuple(getattr(leaf, 'shape', np.shape(leaf)) or ())
    dtype = getattr(leaf, 'dtype', None)
    if dtype is None:
      dtype = np.asarray(leaf).dtype
    table[path_name(path)] = (shape, np.dtype(dtype).name)
  return table


def _fmt(entry: tuple) -> str:
  shape, dtype = entry
  return f'{dtype}{list(shape)}'


def _model_first(name: str) -> tuple[int, str]:
  """Sort key: the model's tensors before the optimizer's copies of them."""
  for rank, prefix in enumerate(('params/', 'batch_stats/', 'opt_state/')):
    if name.startswith(prefix):
      return rank, name
  return 3, name


def first_difference(
  saved: dict[str, tuple], wanted: dict[str, tuple]
) -> Optional[str]:
  """The first tensor that differs, in words, or None if the trees match.

  Parameters come first: a model that differs shows in them before it shows
  in the optimizer state that mirrors them.
  """
  for name in sorted(wanted, key=_model_first):
    entry = wanted[name]
    if name not in saved:
      return (
        f"this config's state has {name} {_fmt(entry)}, which the "
        'checkpoint lacks'
      )
    if saved[name][0] != entry[0] or saved[name][1] != entry[1]:
      return (
        f'{name} is {_fmt(saved[name])} in the checkpoint but '
        f"{_fmt(entry)} in this config's state"
      )
  for name in sorted(saved, key=_model_first):
    entry = saved[name]
    if name not in wanted:
      return (
        f"the checkpoint has {name} {_fmt(entry)}, which this config's "
        'state lacks'
      )
  return None


def describe_saved_config(saved_config: Optional[dict[str, Any]]) -> str:
  """' (model=..., optimizer=... per its config.json)' or ''."""
  if not saved_config:
    return ''
  parts = [
    f'{k}={saved_config[k]}'
    for k in ('model', 'optimizer', 'dataset')
    if k in saved_config
  ]
  return f' ({", ".join(parts)}, per its config.json)' if parts else ''
