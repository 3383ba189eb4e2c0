"""``WORKDIR/config.json``: the config a workdir's run used, and what changed.

Written by every training run that starts or resumes (process 0, atomically:
a temporary file renamed over the old one). A resumed run whose config
differs in fields that change the result (model, data, optimizer, learning
rate, batch, seed, augmentation, dtype...; not logging, evaluation or
checkpoint frequencies, paths or devices: ``config_validation.FIELDS``) gets
one warning line per field, so that a result is never silently a mix of two
configs.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from absl import logging

from cnn_jax import config_validation

CONFIG_FILE = 'config.json'


def _plain(config) -> dict[str, Any]:
  """The config as JSON values (tuples become lists, as read back)."""
  return json.loads(config.to_json_best_effort(sort_keys=True))


def read_config(workdir: str) -> Optional[dict[str, Any]]:
  """The recorded config of ``workdir``, or None (none, or unreadable)."""
  path = os.path.join(workdir, CONFIG_FILE)
  try:
    with open(path) as f:
      return json.load(f)
  except FileNotFoundError:
    return None
  except (OSError, ValueError) as e:
    logging.warning('Cannot read %s (%s); not comparing configs.', path, e)
    return None


def write_config(workdir: str, config) -> str:
  """Records ``config`` as ``WORKDIR/config.json``; returns its path."""
  path = os.path.join(workdir, CONFIG_FILE)
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(_plain(config), f, indent=2, sort_keys=True)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
  return path


def _flatten(tree: dict[str, Any], prefix: str = '') -> dict[str, Any]:
  out = {}
  for key, value in tree.items():
    name = f'{prefix}{key}'
    if isinstance(value, dict):
      out.update(_flatten(value, name + '.'))
    else:
      out[name] = value
  return out


def _changes_result(name: str) -> bool:
  field = config_validation.FIELDS.get(name.split('.')[0])
  return field is None or field.changes_result


def result_changes(saved: dict[str, Any], config) -> list[tuple[str, Any, Any]]:
  """``(field, saved value, new value)`` for fields that change the result."""
  old, new = _flatten(saved), _flatten(_plain(config))
  return [
    (name, old.get(name), new.get(name))
    for name in sorted(set(old) | set(new))
    if old.get(name) != new.get(name) and _changes_result(name)
  ]


def warn_about_changes(
  saved: Optional[dict[str, Any]], config, workdir: str
) -> list[tuple[str, Any, Any]]:
  """Logs one warning per result-changing field that differs; returns them."""
  if not saved:
    return []
  changes = result_changes(saved, config)
  for name, old, new in changes:
    logging.warning(
      'Resuming %s with %s=%r; its checkpoints were trained with %s=%r.',
      workdir,
      name,
      new,
      name,
      old,
    )
  if changes:
    logging.warning(
      'The result will mix the two configs. To keep them '
      'apart, use a new --workdir (with --config.init_from=%s '
      'to start from these weights).',
      workdir,
    )
  return changes
