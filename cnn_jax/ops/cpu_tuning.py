"""XLA:CPU settings that make CNN train steps faster on a CPU host.

Call :func:`configure` before JAX starts its backend (before the first
``jax.devices()``, ``jit`` call or array creation): XLA reads ``XLA_FLAGS``
once, when the backend starts.

What ``tuning='fast'`` (= ``'auto'``, the configs' default) sets, and why
(measured on a 2-core AMD EPYC, jaxlib 0.10.2; figures in BENCHMARKS.md).
``'flags'`` sets the same but leaves the folded convolutions off; ``'none'``
changes nothing.

* Folded few-channel convolutions (:mod:`cnn_jax.ops.conv`), switched on for
  everything traced afterwards.

* ``--xla_cpu_experimental_ynn_fusion_type=individual_dot,
  individual_convolution,eltwise,reduce``: XLA:CPU hands dots and
  convolutions of more than 16 channels to YNNPACK by default; adding
  ``eltwise`` and ``reduce`` also hands it BatchNorm's and the activations'
  element-wise work and the BN reductions. Without them XLA's own loop fusion
  duplicates the whole BatchNorm-ReLU-residual chain of several blocks into
  each transposed copy that feeds a weight-gradient convolution and runs it
  in a transposed, unvectorized loop: on ResNet-20 those copies were 60% of
  the train step. This flag alone makes the step about 1.7x faster.
* glibc ``malloc`` keeps freed memory (``mallopt``: one arena, no ``mmap``
  for large blocks, no trimming). XLA:CPU allocates its temporaries afresh
  for every step; with glibc's defaults the per-thread arenas hand that
  memory back to the kernel after the step and the next step faults it in
  again: on ResNet-20 about 120,000 page faults per step, the kernel zeroing
  pages (``clear_page_erms``) 16-18% of the process's CPU time. With these
  settings: 0 faults per step. Costs a higher peak RSS (about +10%).
* Nothing else is changed on other backends: ``xla_cpu_*`` flags only affect
  CPU compilation (the malloc settings apply to the host process anyway).

``host_devices=N`` adds ``--xla_force_host_platform_device_count=N`` so that
the data-parallel mesh splits the batch over N host "devices" whose programs
run concurrently. XLA:CPU runs YNNPACK convolutions on one thread, so on one
device most of a CNN step uses one core however many there are; N devices
(N >= cores) keep every core busy. With ``tuning='fast'`` and N > 1 it also
sets ``--xla_cpu_multi_thread_eigen=false``: the convolutions XLA still hands
to Eigen (16 channels or fewer) otherwise split each call over all cores and
contend with the other devices' work (measured: +3-10% CPU time per step).
"""
from __future__ import annotations

import os
import re
from typing import Optional

YNN_FUSION_FLAG = '--xla_cpu_experimental_ynn_fusion_type'
FAST_YNN_TYPES = 'individual_dot,individual_convolution,eltwise,reduce'
DEVICE_COUNT_FLAG = '--xla_force_host_platform_device_count'
EIGEN_THREADS_FLAG = '--xla_cpu_multi_thread_eigen'

FAST_FLAGS = {YNN_FUSION_FLAG: FAST_YNN_TYPES}

# mallopt(3) parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
MALLOC_SETTINGS = {'arena_max': 1, 'mmap_max': 0,
                   'trim_threshold': 2 ** 31 - 1}

# 'auto' (= 'fast'): everything below; 'flags': all but the folded
# convolutions (to measure them); 'none': XLA's and glibc's defaults.
TUNINGS = ('auto', 'fast', 'flags', 'none')

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
  for param, value in ((_M_ARENA_MAX, MALLOC_SETTINGS['arena_max']),
                       (_M_MMAP_MAX, MALLOC_SETTINGS['mmap_max']),
                       (_M_TRIM_THRESHOLD, MALLOC_SETTINGS['trim_threshold'])):
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


def configure(host_devices: int = 0, tuning: str = 'auto',
              environ: Optional[dict] = None) -> str:
  """Updates ``XLA_FLAGS`` in ``environ`` (default ``os.environ``).

  Args:
    host_devices: > 0: split the CPU into this many XLA devices.
    tuning: 'fast' or 'auto' (the same: the flags only touch XLA:CPU) set
      :data:`FAST_FLAGS` unless ``XLA_FLAGS`` already sets them, the malloc
      settings, and switch on the folded convolutions (``ops.conv``);
      'flags': the same without the folded convolutions; 'none' leaves
      XLA's defaults.
    environ: the environment to change (tests pass a dict).

  Returns:
    The new ``XLA_FLAGS``. Raises RuntimeError if JAX's backend has already
    started in this process and the flags would change.
  """
  env = os.environ if environ is None else environ
  malloc = False
  if tuning not in TUNINGS:
    raise ValueError(f'Unknown cpu tuning {tuning!r}: auto, fast, flags or '
                     'none.')
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
          'XLA_FLAGS in the environment.')
    env['XLA_FLAGS'] = flags
  if environ is None:
    if tuning != 'none':
      malloc = keep_freed_memory()
    _applied.update(tuning=tuning, host_devices=host_devices,
                    xla_flags=flags, malloc_keep_freed=malloc)
  return flags


def describe() -> dict:
  """What :func:`configure` set in this process (for benchmark records)."""
  return dict(_applied) or {'tuning': 'not configured',
                            'xla_flags': os.environ.get('XLA_FLAGS', '')}
