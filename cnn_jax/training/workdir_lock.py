"""One run per workdir: an exclusive lock on ``WORKDIR/.lock``.

Two processes training into one workdir would interleave their checkpoints
and results. The first to start holds ``fcntl.flock`` on ``WORKDIR/.lock``
and writes its pid, host, start time and command there; a second one stops
with a message naming the first. The operating system releases the lock when
its holder exits in any way, SIGKILL included, so a stale lock file never
blocks a restart. In a multi-process (multi-host) run only process 0 takes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import sys
import time
from typing import Iterator

from cnn_jax import errors

LOCK_FILE = '.lock'


class WorkdirBusyError(errors.UserError, RuntimeError):
  """Another process holds the workdir's lock."""


class WorkdirError(errors.UserError, OSError):
  """The workdir is not a directory and cannot be made one."""


def make_workdir(workdir: str, flag: str = '--workdir') -> None:
  """Creates ``workdir`` if needed; a WorkdirError (naming the command-line
  ``flag`` that gave it) says why it cannot be."""
  path = os.path.abspath(workdir)
  if os.path.exists(path) and not os.path.isdir(path):
    raise WorkdirError(
      f'{flag}={workdir} is a file, not a directory; choose another '
      f'{flag} (a new directory is created).'
    )
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    where = f' ({e.filename})' if e.filename else ''
    raise WorkdirError(
      f'{flag}={workdir} cannot be created: {e.strerror or e}{where}. '
      'Choose a directory you can write to.'
    ) from e


def check_creatable(directory: str, flag: str) -> None:
  """:func:`make_workdir`'s errors for a directory made only later, without
  leaving it behind."""
  path = os.path.abspath(directory)
  if os.path.isdir(path):
    return
  top = path  # the first missing directory: everything below it is new.
  while not os.path.exists(os.path.dirname(top)):
    top = os.path.dirname(top)
  make_workdir(directory, flag)
  shutil.rmtree(top)


def _owner(path: str) -> str:
  try:
    with open(path) as f:
      info = json.load(f)
    return (
      f'pid {info["pid"]} on {info["host"]}, started {info["started"]}: '
      f'{info["command"]}'
    )
  except (OSError, ValueError, KeyError):
    return 'a process that has not written its details yet'


@contextlib.contextmanager
def hold(workdir: str) -> Iterator[str]:
  """Holds the lock of ``workdir`` (created if needed) for the block."""
  make_workdir(workdir)
  path = os.path.join(os.path.abspath(workdir), LOCK_FILE)
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise WorkdirBusyError(
        f'{os.path.abspath(workdir)} is in use by another run '
        f'({_owner(path)}). Wait for it to finish or stop it, or use '
        'another --workdir.'
      ) from None
    info = {
      'pid': os.getpid(),
      'host': socket.gethostname(),
      'started': time.strftime('%Y-%m-%d %H:%M:%S %Z'),
      'command': ' '.join(sys.argv),
    }
    try:
      os.ftruncate(fd, 0)
      os.pwrite(fd, json.dumps(info).encode(), 0)
    except OSError:
      pass  # a full disk: the lock holds all the same, without the details.
    try:
      yield path
    finally:
      fcntl.flock(fd, fcntl.LOCK_UN)
  finally:
    os.close(fd)


def hold_if_primary(workdir: str) -> contextlib.AbstractContextManager:
  """:func:`hold` on process 0 of a run; nothing on the others."""
  import jax  # pylint: disable=g-import-not-at-top

  return hold(workdir) if jax.process_index() == 0 else contextlib.nullcontext()
