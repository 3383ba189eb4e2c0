"""XLA:CPU settings that make CNN train steps faster on a CPU host.

Call :func:`configure` before JAX starts its backend (before the first
``jax.devices()``, ``jit`` call or array creation): XLA reads ``XLA_FLAGS``
once, when the backend starts.

What ``tuning='fast'`` sets, and why (measured on a 2-core AMD EPYC, jaxlib
0.10.2; figures in BENCHMARKS.md):

* ``--xla_cpu_experimental_ynn_fusion_type=individual_dot,
  individual_convolution,eltwise,reduce``: XLA:CPU hands dots and
  convolutions of more than 16 channels to YNNPACK by default; adding
  ``eltwise`` and ``reduce`` also hands it BatchNorm's and the activations'
  element-wise work and the BN reductions. Without them XLA's own loop fusion
  duplicates the whole BatchNorm-ReLU-residual chain of several blocks into
  each transposed copy that feeds a weight-gradient convolution and runs it
  in a transposed, unvectorized loop: on ResNet-20 those copies were 60% of
  the train step. This flag alone makes the step about 1.7x faster.
* Nothing is changed on other backends: ``xla_cpu_*`` flags only affect CPU
  compilation.

``host_devices=N`` adds ``--xla_force_host_platform_device_count=N`` so that
the data-parallel mesh splits the batch over N host "devices" that run
concurrently (XLA:CPU runs each device's program on its own thread).
"""
from __future__ import annotations

import os
import re
from typing import Optional

YNN_FUSION_FLAG = '--xla_cpu_experimental_ynn_fusion_type'
FAST_YNN_TYPES = 'individual_dot,individual_convolution,eltwise,reduce'
DEVICE_COUNT_FLAG = '--xla_force_host_platform_device_count'

FAST_FLAGS = {YNN_FUSION_FLAG: FAST_YNN_TYPES}

_applied: dict = {}


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
      :data:`FAST_FLAGS` unless ``XLA_FLAGS`` already sets them; 'none' leaves
      XLA's defaults.
    environ: the environment to change (tests pass a dict).

  Returns:
    The new ``XLA_FLAGS``. Raises RuntimeError if JAX's backend has already
    started in this process and the flags would change.
  """
  env = os.environ if environ is None else environ
  if tuning not in ('auto', 'fast', 'none'):
    raise ValueError(f'Unknown cpu tuning {tuning!r}: auto, fast or none.')
  old = env.get('XLA_FLAGS', '')
  flags = old
  if tuning in ('auto', 'fast'):
    for name, value in FAST_FLAGS.items():
      flags = _set_flag(flags, name, value, keep_user=True)
  if host_devices and host_devices > 0:
    flags = _set_flag(flags, DEVICE_COUNT_FLAG, host_devices, keep_user=False)
  if flags != old:
    if environ is None and backend_started():
      raise RuntimeError(
          'cpu_tuning.configure() must run before JAX starts its backend '
          f'(wanted XLA_FLAGS={flags!r}); call it first thing, or set '
          'XLA_FLAGS in the environment.')
    env['XLA_FLAGS'] = flags
  if environ is None:
    _applied.update(tuning=tuning, host_devices=host_devices,
                    xla_flags=flags)
  return flags


def describe() -> dict:
  """What :func:`configure` set in this process (for benchmark records)."""
  return dict(_applied) or {'tuning': 'not configured',
                            'xla_flags': os.environ.get('XLA_FLAGS', '')}
