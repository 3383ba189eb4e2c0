"""Suite-wide test settings.

The quick suite is ``pytest -m "not slow"``: a ``zoo`` test (a compiled
train step of every model, about an hour) is slow too, so that expression
never runs it, while pyproject's default ``-m 'not zoo'`` keeps it out of
the full suite.
"""

import pytest


def pytest_collection_modifyitems(config, items):
  del config
  for item in items:
    if item.get_closest_marker('zoo') and not item.get_closest_marker('slow'):
      item.add_marker(pytest.mark.slow)
