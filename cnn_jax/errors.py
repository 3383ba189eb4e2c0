"""User errors: one message that says what is wrong and what to do.

A ``UserError`` is a problem the user can fix (a bad config value, an unknown
model, a missing dataset, a damaged checkpoint with nothing to fall back to, a
failed save). The command-line tools print its message on stderr, without a
traceback, and exit with status 2; so do they for an ``OSError`` of the
environment (no space left, quota, permissions, a read-only disk) and for XLA
running out of memory. A traceback is kept for bugs, and for user errors too
with ``--config.debug=True`` or ``--debug``.

Every command's ``__main__`` uses :func:`run` (absl apps) or
:func:`exit_on_user_error` (argparse tools)::

  if __name__ == '__main__':
    errors.run(main)
"""

from __future__ import annotations

import errno
import os
import re
import sys
import traceback
from typing import Any, Callable, NoReturn, Optional, Sequence

EXIT_STATUS = 2  # like argparse and absl for bad command lines.


class UserError(Exception):
  """Bad input or environment; the message says what is wrong and what to do.

  Subclasses that also derive from a builtin (``ValueError``,
  ``FileNotFoundError``...) keep working with callers that catch that builtin.
  """


# OSErrors the user fixes (space, quota, permissions, a read-only disk).
_ENVIRONMENT_ERRNOS = (
  errno.ENOSPC,
  errno.EDQUOT,
  errno.EFBIG,
  errno.EROFS,
  errno.EACCES,
  errno.EPERM,
)


def as_user_error(error: BaseException) -> Optional[str]:
  """The message to print if ``error`` is the user's to fix, else None."""
  if isinstance(error, UserError):
    return str(error)
  if isinstance(error, OSError) and error.errno in _ENVIRONMENT_ERRNOS:
    return (
      f'{error}. Fix this (free space, quota, permissions), then run '
      'the command again.'
    )
  text = str(error).strip()
  # XLA's out of memory (jax.errors.JaxRuntimeError; no JAX import here).
  if type(error).__name__ in ('JaxRuntimeError', 'XlaRuntimeError') and (
    text.startswith('RESOURCE_EXHAUSTED')
  ):
    first = text.splitlines()[0].rstrip('.')
    return (
      f'{first}. Lower the batch size or the image size (or use a smaller '
      'model, or a device with more memory), then run the command again.'
    )
  return None


def fail(message: str) -> NoReturn:
  """Prints ``message`` on stderr and exits with :data:`EXIT_STATUS`."""
  sys.stdout.flush()
  sys.stderr.write(f'Error: {message}\n')
  sys.stderr.flush()
  sys.exit(EXIT_STATUS)


_DEBUG_ARGS = re.compile(
  r'^--(debug|config\.debug)(=(true|1|yes))?$', re.IGNORECASE
)


def debug_requested(argv: Sequence[str]) -> bool:
  """Whether ``argv`` asks for tracebacks (``--debug``, ``--config.debug``)."""
  return any(_DEBUG_ARGS.match(a) for a in argv)


def _flag_debug(fv) -> bool:
  """``--debug`` or ``--config.debug`` of the parsed absl flags, if defined."""
  try:
    if 'debug' in fv and fv['debug'].value:
      return True
    config = fv['config'].value if 'config' in fv else None
    return bool(getattr(config, 'debug', False))
  except Exception:  # pylint: disable=broad-except
    return False


def frame_in(error: BaseException, path: str) -> str:
  """' (file, line N)' of the deepest traceback frame inside ``path``."""
  for frame in reversed(traceback.extract_tb(error.__traceback__)):
    if os.path.abspath(frame.filename) == os.path.abspath(path):
      return f' ({path}, line {frame.lineno})'
  return ''


def describe_flag_error(error: BaseException, argv: Sequence[str]) -> str:
  """One message for an exception raised while parsing the command line.

  Covers absl's flag errors, a config file that cannot be loaded, and an
  override of a config field that does not exist (ml_collections raises a
  bare ``AttributeError`` for those).
  """
  from absl import flags  # pylint: disable=g-import-not-at-top

  if isinstance(error, flags.Error):
    text = ' '.join(str(error).split())  # one line
    return f'{text.rstrip(".")}. --helpfull lists the flags.'
  text = str(error).strip().strip('"\'')
  if isinstance(error, (AttributeError, KeyError)):
    missing = re.match(r"""\\?['"]?([A-Za-z0-9_]+)""", text)
    name = missing.group(1) if missing else ''
    suggestion = re.search(r'Did you mean "([^"]+)"', text)
    for arg in argv:
      if not arg.startswith('--config.'):
        continue
      path = arg[len('--config.') :].split('=', 1)[0]
      if name and name in path.split('.'):
        hint = ''
        if suggestion:
          fixed = path.replace(name, suggestion.group(1))
          hint = f' Did you mean --config.{fixed}?'
        return (
          f'{arg}: the config has no field {path!r}.{hint} '
          'configs/base.py lists every field.'
        )
  config_files = [
    a.split('=', 1)[1].split(':')[0] for a in argv if a.startswith('--config=')
  ]
  where = frame_in(error, config_files[0]) if config_files else ''
  if config_files and not os.path.exists(config_files[0]):
    return (
      f'--config={config_files[0]}: no such file (run from the '
      'repository root; configs/ holds the experiment configs).'
    )
  if config_files and os.path.isdir(config_files[0]):
    return (
      f'--config={config_files[0]} is a directory; give a config file '
      '(configs/ holds the experiment configs).'
    )
  if config_files and 'config file' in text:  # ml_collections' load error
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    return f'--config={config_files[0]} cannot be loaded: {lines[-1]}'
  if (
    config_files
    and isinstance(error, AttributeError)
    and "attribute 'get_config" in text
  ):
    return (
      f'--config={config_files[0]} defines no get_config(); a config file '
      'returns its ConfigDict from get_config() (configs/ holds examples).'
    )
  text = ' '.join(text.split())  # one line
  return f'{type(error).__name__} while reading the command line{where}: {text}'


def exit_on_user_error(
  fn: Callable[..., Any], *args: Any, debug: bool = False, **kwargs: Any
) -> Any:
  """``fn(*args, **kwargs)``; a :class:`UserError` ends the process with its
  message (re-raised with its traceback when ``debug``)."""
  try:
    return fn(*args, **kwargs)
  except Exception as e:  # pylint: disable=broad-except
    message = as_user_error(e)
    if debug or message is None:
      raise
    fail(message)


def _check_config_loaded(fv, argv: Sequence[str], debug: bool) -> None:
  """ml_collections defers a config file's load error to its first use."""
  if 'config' not in fv or fv['config'].value is None:
    return
  try:
    fv['config'].value.keys()
  except OSError as e:
    if debug:
      raise
    fail(describe_flag_error(e, argv))


def _guarded(main, argv: Sequence[str], flag_values):
  """(flags parser, main) that turn user errors into one message."""
  from absl import app, flags  # pylint: disable=g-import-not-at-top

  fv = flags.FLAGS if flag_values is None else flag_values
  debug_arg = debug_requested(argv)

  def parse(args):
    try:
      return fv(args)
    except Exception as e:  # pylint: disable=broad-except
      if debug_arg:
        raise
      fail(describe_flag_error(e, args))

  def wrapped(args):
    _check_config_loaded(fv, argv, debug_arg)
    try:
      return main(args)
    except app.UsageError as e:  # absl would print the whole docstring.
      if debug_arg or _flag_debug(fv):
        raise
      fail(str(e))
    except Exception as e:  # pylint: disable=broad-except
      message = as_user_error(e)
      if message is None or debug_arg or _flag_debug(fv):
        raise
      fail(message)

  return parse, wrapped


def run(
  main: Callable[[list[str]], Any],
  argv: Optional[Sequence[str]] = None,
  flag_values=None,
) -> None:
  """``absl.app.run(main)``, with user errors as one message and exit status 2.

  Flag and config-file errors are user errors too (absl would print a
  traceback for an unknown ``--config.FIELD``). With ``--debug`` or
  ``--config.debug=True`` tracebacks are shown. ``flag_values``: the flags
  ``main`` reads (default ``absl.flags.FLAGS``).
  """
  from absl import app  # pylint: disable=g-import-not-at-top

  argv = list(sys.argv if argv is None else argv)
  parse, wrapped = _guarded(main, argv, flag_values)
  app.run(wrapped, argv, flags_parser=parse)


def run_in_process(
  main: Callable[[list[str]], Any], argv: Sequence[str], flag_values
) -> Any:
  """What :func:`run` does with ``main`` and ``argv``, without absl's
  process set-up (logging, signal handlers; done once per process): for tests
  that run many command lines in one process. A user error exits
  (``SystemExit``) as under :func:`run`."""
  parse, wrapped = _guarded(main, list(argv), flag_values)
  return wrapped(parse(list(argv)))
