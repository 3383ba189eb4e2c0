"""Where a figure came from: the machine, the code and the time.

Every benchmark JSON and every experiment report records these, since the
machines this project runs on vary (CPU model and vector extensions change
what a CPU figure means).
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from typing import Any

REPO_ROOT = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
# The CPU flags that decide which kernels oneDNN / XLA pick.
VECTOR_FLAGS = (
  'avx2',
  'fma',
  'avx512f',
  'avx512_bf16',
  'avx512_fp16',
  'avx512_vnni',
  'amx_bf16',
  'amx_int8',
  'amx_tile',
)


def git_commit() -> str:
  """``git rev-parse --short HEAD``, plus '+dirty' if the tree has changes."""
  try:
    head = subprocess.run(
      ['git', 'rev-parse', '--short', 'HEAD'],
      cwd=REPO_ROOT,
      capture_output=True,
      text=True,
      check=True,
    ).stdout.strip()
    dirty = subprocess.run(
      ['git', 'status', '--porcelain'],
      cwd=REPO_ROOT,
      capture_output=True,
      text=True,
    ).stdout.strip()
    return head + ('+dirty' if dirty else '')
  except (OSError, subprocess.CalledProcessError):
    return 'unknown'


def now() -> str:
  return datetime.datetime.now().astimezone().isoformat(timespec='seconds')


def _cpuinfo() -> tuple[str, list[str]]:
  model, flags = platform.processor() or platform.machine(), []
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name') and model == (
          platform.processor() or platform.machine()
        ):
          model = line.split(':', 1)[1].strip()
        elif line.startswith('flags'):
          flags = line.split(':', 1)[1].split()
          break
  except OSError:
    pass
  return model, flags


def _memory_gib():
  try:
    with open('/proc/meminfo') as f:
      return round(int(f.readline().split()[1]) / 2**20, 1)
  except (OSError, ValueError, IndexError):
    return None


def _gpus() -> list[str]:
  try:
    out = subprocess.run(
      ['nvidia-smi', '--query-gpu=name', '--format=csv,noheader'],
      capture_output=True,
      text=True,
      timeout=20,
    )
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]
  except (OSError, subprocess.SubprocessError):
    return []


def machine() -> dict[str, Any]:
  """CPU model and its vector extensions, cores, memory, GPUs, host, load."""
  model, flags = _cpuinfo()
  info = {
    'cpu': model,
    'cpu_flags': [f for f in VECTOR_FLAGS if f in flags],
    'cores': os.cpu_count(),
    'memory_gib': _memory_gib(),
    'gpus': _gpus(),
    'hostname': platform.node(),
  }
  try:
    info['load_avg'] = list(os.getloadavg())
  except OSError:
    pass
  return info


def describe_cpu(info: dict[str, Any]) -> str:
  """'AMD EPYC (avx2, fma), 2 cores, 23.4 GiB' for reports."""
  flags = ', '.join(info.get('cpu_flags') or []) or 'no AVX2'
  return (
    f'{info.get("cpu")} ({flags}), {info.get("cores")} cores, '
    f'{info.get("memory_gib")} GiB RAM'
  )


def record() -> dict[str, Any]:
  """Everything above plus the command line, the commit and the date."""
  return {
    'machine': machine(),
    'commit': git_commit(),
    'date': now(),
    'argv': list(sys.argv),
    'xla_flags': os.environ.get('XLA_FLAGS', ''),
  }
