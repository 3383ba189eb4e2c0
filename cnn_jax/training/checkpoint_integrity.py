"""Is a saved checkpoint intact? Fingerprints, quick checks, setting aside.

A checkpoint can be damaged after Orbax committed it: a disk error, a partial
copy between machines, a truncated file. TensorStore then fails deep inside a
restore (``OUT_OF_RANGE ... Requested byte range``), or, for flipped bytes
inside an array, restores wrong values without any error. So:

* :func:`fingerprint` is a checksum of every saved tensor, computed on the
  devices when the checkpoint is saved (and recorded in its metadata) and
  again after a restore: a restore that does not reproduce it read damaged
  data. Its cost is one small jitted reduction per save.
* :func:`quick_problem` checks the files Orbax always writes before anything
  is read (cheap: a few small JSON files).
* :func:`set_aside` renames a damaged step directory to
  ``<step>.damaged-<time>`` next to it (never deletes it), which Orbax no
  longer lists as a checkpoint, so the next-newest one is used.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

DAMAGED_MARK = '.damaged-'
TMP_MARK = '.orbax-checkpoint-tmp'  # Orbax's name for a save in progress.


def path_name(path) -> str:
  """A tree path as 'params/conv1/kernel' (dict keys, attributes, indices)."""
  parts = []
  for key in path:
    for attr in ('key', 'name', 'idx'):
      if hasattr(key, attr):
        parts.append(str(getattr(key, attr)))
        break
    else:
      parts.append(str(key))
  return '/'.join(parts)


def _words(x) -> jax.Array:
  """The bits of ``x`` as uint32 words (one per element)."""
  x = jnp.asarray(x)
  if x.dtype == jnp.bool_:
    return x.astype(jnp.uint32).ravel()
  unsigned = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32}.get(x.dtype.itemsize)
  if unsigned is None:  # 8-byte types (with jax_enable_x64): both halves.
    return jax.lax.bitcast_convert_type(x, jnp.uint32).ravel()
  return jax.lax.bitcast_convert_type(x, unsigned).astype(jnp.uint32).ravel()


@jax.jit
def _checksums(leaves: list) -> jax.Array:
  sums = []
  for leaf in leaves:
    w = _words(leaf)
    position = jnp.arange(w.size, dtype=jnp.uint32) * jnp.uint32(2654435761)
    # uint32 arithmetic wraps: a position-weighted sum modulo 2**32.
    sums.append(jnp.sum(w * (position + jnp.uint32(1)), dtype=jnp.uint32))
  return jnp.stack(sums) if sums else jnp.zeros((0,), jnp.uint32)


def fingerprint(tree) -> dict[str, int]:
  """{tensor path: uint32 checksum of its bits} of every array in ``tree``."""
  from cnn_jax.training import sharding  # pylint: disable=g-import-not-at-top

  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  if not flat:
    return {}
  sums = sharding.to_host(_checksums([leaf for _, leaf in flat]))
  return {path_name(p): int(s) for (p, _), s in zip(flat, np.asarray(sums))}


def first_mismatch(
  saved: dict[str, int], restored: dict[str, int]
) -> Optional[str]:
  """The first tensor whose checksum differs from the one saved, or None."""
  for name, value in saved.items():
    if restored.get(name) != value:
      return name
  return None


def _read_json(path: str) -> Any:
  with open(path) as f:
    return json.load(f)


def quick_problem(step_dir: str) -> Optional[str]:
  """What is visibly wrong with a committed step directory, or None.

  Checks only the small files every Orbax checkpoint has; damage inside the
  array data shows at restore time (:func:`fingerprint`).
  """
  if not os.path.isdir(step_dir):
    return 'the directory is missing'
  item = os.path.join(step_dir, 'default')
  if not os.path.isdir(item):
    return "its item directory 'default' is missing"
  meta = os.path.join(item, '_METADATA')
  if not os.path.isfile(meta):
    return 'its tree metadata (default/_METADATA) is missing'
  try:
    tree = _read_json(meta)
  except (OSError, ValueError) as e:
    return f'its tree metadata (default/_METADATA) is unreadable ({e})'
  if not isinstance(tree, dict) or 'tree_metadata' not in tree:
    return 'its tree metadata (default/_METADATA) is not an Orbax tree'
  return None


def set_aside(step_dir: str) -> str:
  """Renames ``step_dir`` to ``<step_dir>.damaged-<time>``; the new path."""
  stamp = time.strftime('%Y%m%d-%H%M%S')
  target = f'{step_dir}{DAMAGED_MARK}{stamp}'
  n = 1
  while os.path.exists(target):
    n += 1
    target = f'{step_dir}{DAMAGED_MARK}{stamp}-{n}'
  os.rename(step_dir, target)
  return target


def short_reason(error: BaseException) -> str:
  """An exception in one line: the OS error or TensorStore status it carries
  (TensorStore's messages run to kilobytes of spec)."""
  text = ' '.join(str(error).split())
  os_error = re.search(r"os_error_code='?(\d+)", text)
  if isinstance(error, OSError) and error.errno:
    return f'[Errno {error.errno}] {os.strerror(error.errno)}'
  if os_error:
    n = int(os_error.group(1))
    return f'[Errno {n}] {os.strerror(n)}'
  status = re.search(
    r'\b(OUT_OF_RANGE|DATA_LOSS|NOT_FOUND|INVALID_ARGUMENT|'
    r'FAILED_PRECONDITION|RESOURCE_EXHAUSTED):'
    r'(?:(?! \[\w+=).)*',
    text,
  )
  if status:
    text = status.group(0).strip()
  for cut in (' [tensorstore_spec', ' See full TensorStore details'):
    if cut in text:
      text = text[: text.index(cut)]
  if len(text) > 240:
    text = text[:240] + '...'
  return f'{type(error).__name__}: {text}' if text else type(error).__name__


def _is_closed_loop_callback(unraisable) -> bool:
  value = unraisable.exc_value
  return isinstance(value, RuntimeError) and str(value) == (
    'Event loop is closed'
  )


def _is_unretrieved_write_error(record: logging.LogRecord) -> bool:
  """asyncio's report of a sibling write that failed with the reported one.

  asyncio names the object's class: 'Task', 'Future' or '_GatheringFuture
  exception was never retrieved', depending on which layer held the error.
  """
  error = record.exc_info[1] if record.exc_info else None
  first_line = record.getMessage().partition('\n')[0]
  return (
    first_line.endswith(' exception was never retrieved')
    and error is not None
    and 'Error writing' in str(error)
  )


def quiet_failed_io_echoes() -> None:
  """Drops the echoes of a failed TensorStore read or write.

  Orbax runs each TensorStore operation on an event loop it closes when the
  operation ends; after a failure, TensorStore's remaining callbacks still
  post to that loop, and Python prints each ``RuntimeError('Event loop is
  closed')`` with a traceback (up to interpreter exit). When several files
  of one save fail (a full disk), Orbax's ``gather`` retrieves only the
  first error, and asyncio logs every other one with its traceback when its
  task is collected, often after the run's last message. Both bury the one
  message that says what happened (the error is in it), so both are
  dropped. Installed once (checkpointing does it before its first read or
  write); every other unraisable exception or asyncio report still goes
  through.
  """
  import sys  # pylint: disable=g-import-not-at-top

  previous = sys.unraisablehook
  if getattr(previous, 'drops_closed_loop_callbacks', False):
    return

  def hook(unraisable):
    if not _is_closed_loop_callback(unraisable):
      previous(unraisable)

  hook.drops_closed_loop_callbacks = True
  sys.unraisablehook = hook
  logging.getLogger('asyncio').addFilter(
    lambda record: not _is_unretrieved_write_error(record)
  )


def remove_unfinished_saves(directory: str) -> list[str]:
  """Deletes Orbax's temporary directories of saves that never committed.

  They are left by a process killed (or a disk that filled up) mid-save, hold
  no usable checkpoint, and take space. Call only while holding the
  workdir's lock, so that no save of another process is in progress.
  """
  import shutil  # pylint: disable=g-import-not-at-top

  removed = []
  if not os.path.isdir(directory):
    return removed
  for name in sorted(os.listdir(directory)):
    if TMP_MARK in name:
      path = os.path.join(directory, name)
      shutil.rmtree(path, ignore_errors=True)
      removed.append(path)
  return removed
