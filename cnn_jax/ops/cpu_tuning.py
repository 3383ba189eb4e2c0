"""XLA:CPU settings that make CNN train steps faster on a CPU host.

Call :func:`configure` before JAX starts its backend (before the first
``jax.devices()``, ``jit`` call or array creation): XLA reads ``XLA_FLAGS``
once, when the backend starts. The convolutions themselves are oneDNN's
(:mod:`cnn_jax.ops.conv`, chosen per platform when a step is lowered, not
here).

What ``tuning='auto'`` (the configs' default) sets, and why (each measured
with oneDNN convolutions on; figures in BENCHMARKS.md, "CPU settings");
``'none'`` changes nothing:

* No XLA flag. Handing BatchNorm's and the activations' element-wise work
  and reductions to YNNPACK as well
  (``--xla_cpu_experimental_ynn_fusion_type=individual_dot,
  individual_convolution,eltwise,reduce``, this setting's choice before the
  oneDNN convolutions) made DenseNet's train step 2.1x and GoogLeNet's 1.2x
  slower once the convolutions ran in oneDNN, and changed ResNet-20, LeNet-5
  and MobileNetV2 by less than the noise (BENCHMARKS.md, "CPU settings").
* glibc ``malloc`` keeps freed memory (``mallopt``: one arena, no ``mmap``
  for large blocks, no trimming). XLA:CPU allocates its temporaries afresh
  for every step; with glibc's defaults they go back to the kernel after the
  step and the next step faults them in again (the kernel zeroing pages).
  Costs peak RSS, much of it for nets with large temporaries, and varying
  from run to run: the UvA DenseNet's train step (batch 128, 28x28; XLA's
  program 1.24 GB) peaks at 2.2-5.9 GB instead of 2.3-2.4 GB, the UvA
  ResNet's (0.22 GB) at 0.91 instead of 0.78 GB (BENCHMARKS.md, "What the
  malloc settings cost in memory"). ``'none'`` is the choice on a machine
  short of memory; glibc's huge-page tunable, which must be set before the
  process starts, keeps most of the speed there (same section).
* Nothing else is changed on other backends: ``xla_cpu_*`` flags only affect
  CPU compilation (the malloc settings apply to the host process anyway).

``host_devices=N`` adds ``--xla_force_host_platform_device_count=N`` so that
the data-parallel mesh splits the batch over N host "devices" whose programs
run concurrently (and, with ``tuning='auto'``,
``--xla_cpu_multi_thread_eigen=false``). oneDNN already runs each
convolution on all cores, so this is off by default; BENCHMARKS.md says
what it is worth.
"""

from __future__ import annotations

import os
import re
from typing import Optional

DEVICE_COUNT_FLAG = '--xla_force_host_platform_device_count'
EIGEN_THREADS_FLAG = '--xla_cpu_multi_thread_eigen'

# XLA flags 'auto' sets (none since the oneDNN convolutions: see above).
FAST_FLAGS: dict[str, str] = {}

# mallopt(3) parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
MALLOC_SETTINGS = {'arena_max': 1, 'mmap_max': 0, 'trim_threshold': 2**31 - 1}

# 'auto': the flags and malloc settings below; 'none': XLA's and glibc's
# defaults.
TUNINGS = ('auto', 'none')

_applied: dict = {}


def keep_freed_memory() -> bool:
  """glibc only: malloc reuses freed memory instead of returning it.

  Must run before the threads that allocate exist (before JAX starts its
  backend) for ``arena_max`` to cover them. Returns False where there is no
  glibc (macOS, musl): nothing is changed there.
  """
  import ctypes  # pylint: disable=g-import-not-at-top
  import ctypes.util  # pylint: disable=g-import-not-at-top

  try:
    libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    mallopt = libc.mallopt
  except (OSError, AttributeError):
    return False
  mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
  ok = True
  for param, value in (
    (_M_ARENA_MAX, MALLOC_SETTINGS['arena_max']),
    (_M_MMAP_MAX, MALLOC_SETTINGS['mmap_max']),
    (_M_TRIM_THRESHOLD, MALLOC_SETTINGS['trim_threshold']),
  ):
    ok = bool(mallopt(param, value)) and ok
  return ok


def _set_flag(flags: str, name: str, value, keep_user: bool) -> str:
  """``flags`` with ``name=value`` (replaced, or kept if the user set it)."""
  pattern = re.compile(re.escape(name) + r'=\S*')
  if pattern.search(flags):
    if keep_user:
      return flags
    return pattern.sub(f'{name}={value}', flags)
  return (flags + f' {name}={value}').strip()


def backend_started() -> bool:
  try:
    from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top

    return bool(xla_bridge.backends_are_initialized())
  except Exception:  # pylint: disable=broad-except
    return False


def configure(
  host_devices: int = 0, tuning: str = 'auto', environ: Optional[dict] = None
) -> str:
  """Updates ``XLA_FLAGS`` in ``environ`` (default ``os.environ``).

  Args:
    host_devices: > 0: split the CPU into this many XLA devices.
    tuning: 'auto' sets :data:`FAST_FLAGS` unless ``XLA_FLAGS`` already
      sets them, and the malloc settings; 'none' leaves XLA's and glibc's
      defaults.
    environ: the environment to change (tests pass a dict).

  Returns:
    The new ``XLA_FLAGS``. Raises RuntimeError if JAX's backend has already
    started in this process and the flags would change.
  """
  env = os.environ if environ is None else environ
  malloc = False
  if tuning not in TUNINGS:
    raise ValueError(f'Unknown cpu tuning {tuning!r}: auto or none.')
  old = env.get('XLA_FLAGS', '')
  flags = old
  if tuning != 'none':
    for name, value in FAST_FLAGS.items():
      flags = _set_flag(flags, name, value, keep_user=True)
  if host_devices and host_devices > 0:
    flags = _set_flag(flags, DEVICE_COUNT_FLAG, host_devices, keep_user=False)
    if host_devices > 1 and tuning != 'none':
      flags = _set_flag(flags, EIGEN_THREADS_FLAG, 'false', keep_user=True)
  if flags != old:
    if environ is None and backend_started():
      raise RuntimeError(
        'cpu_tuning.configure() must run before JAX starts its backend '
        f'(wanted XLA_FLAGS={flags!r}); call it first thing, or set '
        'XLA_FLAGS in the environment.'
      )
    env['XLA_FLAGS'] = flags
  if environ is None:
    if tuning != 'none':
      malloc = keep_freed_memory()
    _applied.update(
      tuning=tuning,
      host_devices=host_devices,
      xla_flags=flags,
      malloc_keep_freed=malloc,
    )
  return flags


def describe() -> dict:
  """What :func:`configure` set in this process (for benchmark records)."""
  return dict(_applied) or {
    'tuning': 'not configured',
    'xla_flags': os.environ.get('XLA_FLAGS', ''),
  }
