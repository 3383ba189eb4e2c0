"""Runs a Python snippet in a fresh process that has N XLA host devices.

JAX fixes the device count when it starts, so multi-device checks on a CPU
run in a subprocess started with ``--xla_force_host_platform_device_count``.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(
  script: str, devices: int = 8, timeout: int = 600, **environ: str
) -> subprocess.CompletedProcess:
  """``python -c script`` from the repository root with ``devices`` host
  devices and ``environ`` added to the environment; stdout and stderr
  captured as text."""
  env = dict(
    os.environ,
    XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}',
    PYTHONPATH=ROOT,
    **environ,
  )
  return subprocess.run(
    [sys.executable, '-c', script],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=timeout,
    check=False,
  )
