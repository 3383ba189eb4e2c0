"""Suite-wide test settings.

* The quick suite is ``pytest -m "not slow"``: a ``zoo`` test (a compiled
  train step of every model, about an hour) is slow too, so that expression
  never runs it, while pyproject's default ``-m 'not zoo'`` keeps it out of
  the full suite.
* ``@pytest.mark.host_devices(n)``: the test runs in a fresh pytest process
  whose CPU is split into ``n`` XLA devices (JAX fixes the device count when
  its backend starts), so a multi-device check is an ordinary test function.
"""

import os
import subprocess
import sys

import pytest

_CHILD = 'CNN_JAX_HOST_DEVICES_CHILD'


def pytest_configure(config):
  config.addinivalue_line(
    'markers',
    'host_devices(n, timeout=600): run in a process with n XLA CPU devices',
  )


def pytest_collection_modifyitems(config, items):
  del config
  for item in items:
    if item.get_closest_marker('zoo') and not item.get_closest_marker('slow'):
      item.add_marker(pytest.mark.slow)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
  marker = pyfuncitem.get_closest_marker('host_devices')
  if marker is None or os.environ.get(_CHILD):
    return None
  devices = marker.args[0]
  env = dict(
    os.environ,
    XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}',
    **{_CHILD: '1'},
  )
  proc = subprocess.run(
    [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider']
    + ['-m', '', pyfuncitem.nodeid],
    cwd=str(pyfuncitem.config.rootpath),
    env=env,
    capture_output=True,
    text=True,
    timeout=marker.kwargs.get('timeout', 600),
    check=False,
  )
  if proc.returncode != 0:
    pytest.fail(
      f'In a process with {devices} host devices:\n'
      + (proc.stdout + proc.stderr)[-5000:],
      pytrace=False,
    )
  return True
