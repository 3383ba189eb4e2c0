"""Two processes joined by jax.distributed train like one process."""

import os
import re
import socket
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _env(devices, **extra):
  return dict(
    os.environ,
    PYTHONPATH=ROOT,
    XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}',
    **extra,
  )


def _result(text):
  match = re.search(
    r'RESULT devices=(\d+) processes=(\d+) loss=(\S+) '
    r'checksum=(\S+)',
    text,
  )
  assert match, text[-3000:]
  return int(match[1]), int(match[2]), float(match[3]), float(match[4])


@pytest.mark.slow
def test_two_processes_match_one_process():
  cmd = [sys.executable, '-m', 'tests.multihost_step']
  single = subprocess.run(
    cmd, cwd=ROOT, env=_env(4), capture_output=True, text=True, timeout=300
  )
  assert single.returncode == 0, single.stderr[-3000:]
  port = _free_port()
  procs = [
    subprocess.Popen(
      cmd,
      cwd=ROOT,
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
      env=_env(
        2,
        JAX_COORDINATOR_ADDRESS=f'127.0.0.1:{port}',
        JAX_NUM_PROCESSES='2',
        JAX_PROCESS_ID=str(i),
      ),
    )
    for i in range(2)
  ]
  outputs = []
  try:
    for p in procs:
      outputs.append(p.communicate(timeout=300)[0])
  finally:
    for p in procs:
      p.kill()
  assert all(p.returncode == 0 for p in procs), outputs[0][-3000:]
  devices, processes, loss, checksum = _result(single.stdout)
  assert (devices, processes) == (4, 1)
  for out in outputs:
    d, n, l, c = _result(out)
    assert (d, n) == (4, 2)
    assert l == pytest.approx(loss, rel=1e-5)
    assert c == pytest.approx(checksum, rel=1e-5)
