"""A config file as ``--config`` names it: ``PATH[:ARG]`` -> its ConfigDict.

The entry points read ``--config`` through ml_collections' config flags; the
tools that read a config file themselves (the sweep runner, the GPU
campaign) read it here, the same way: the file's ``get_config(ARG)``, or
``get_config()`` when no argument follows the colon.
"""

from __future__ import annotations

import importlib.util
import os


def load(spec: str, root: str = '.'):
  """The ConfigDict of config file ``spec`` (``PATH[:ARG]``; a relative
  PATH is taken from ``root``)."""
  path, _, arg = spec.partition(':')
  path = os.path.join(root, path)
  name = '_config_' + os.path.splitext(os.path.basename(path))[0]
  module_spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()
