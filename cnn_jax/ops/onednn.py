"""The oneDNN library: loading it and asking it questions.

``libcnn_jax_onednn.so`` (source: ``cnn_jax/ops/csrc``, built by ``pip
install .`` or, in a checkout, by ``setup.sh`` through
:mod:`cnn_jax.ops.build_onednn`) holds XLA FFI handlers that run
oneDNN, the library PyTorch's CPU convolutions and pooling use: three per
convolution (forward, input gradient, kernel gradient; lowered to by
:mod:`cnn_jax.ops.conv` on the CPU backend) and four for max and average
pooling (:mod:`cnn_jax.ops.pool`).

The library is loaded lazily, the first time a convolution is lowered for the
CPU, and its targets are registered with ``jax.ffi`` then. If it is missing
or does not load, :func:`library` warns once (naming the fix, ``bash
setup.sh``) and returns None; the convolutions then lower to XLA's own.
``$CNN_JAX_ONEDNN_LIBRARY`` points the loader at another file (tests use it
to simulate a machine without the build).
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
import warnings
from typing import Optional

LIBRARY_NAME = 'libcnn_jax_onednn.so'
BUILD_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '_build')
DEFAULT_LIBRARY = os.path.join(BUILD_DIR, LIBRARY_NAME)
LIBRARY_ENV = 'CNN_JAX_ONEDNN_LIBRARY'

# Passes, as the library numbers them.
FORWARD, BACKWARD_DATA, BACKWARD_WEIGHTS = 0, 1, 2
PASS_NAMES = ('forward', 'backward_data', 'backward_weights')
# XLA custom-call target of each pass -> the library's handler symbol.
TARGETS = {
  FORWARD: ('cnn_jax_onednn_conv_fwd', 'CnnJaxOnednnConvFwd'),
  BACKWARD_DATA: ('cnn_jax_onednn_conv_bwd_data', 'CnnJaxOnednnConvBwdData'),
  BACKWARD_WEIGHTS: (
    'cnn_jax_onednn_conv_bwd_weights',
    'CnnJaxOnednnConvBwdWeights',
  ),
}
DTYPE_CODES = {'float32': 0, 'bfloat16': 1}

# Pooling: passes and algorithms as the library numbers them, and the XLA
# custom-call target of each handler -> its symbol.
POOL_FORWARD, POOL_TRAINING, POOL_BACKWARD = 0, 1, 2
POOL_MAX, POOL_AVG, POOL_AVG_EXCLUDE_PAD = 0, 1, 2
POOL_PASS_NAMES = ('forward', 'forward_training', 'backward')
POOL_ALGORITHM_NAMES = ('max_pool', 'avg_pool', 'avg_pool_exclude_pad')
POOL_TARGETS = {
  'forward': ('cnn_jax_onednn_pool_fwd', 'CnnJaxOnednnPoolFwd'),
  'max_training': ('cnn_jax_onednn_max_pool_train', 'CnnJaxOnednnMaxPoolTrain'),
  'max_backward': ('cnn_jax_onednn_max_pool_bwd', 'CnnJaxOnednnMaxPoolBwd'),
  'avg_backward': ('cnn_jax_onednn_avg_pool_bwd', 'CnnJaxOnednnAvgPoolBwd'),
}


class ConvGeometry(ctypes.Structure):
  """One convolution's geometry: ``ConvGeometry`` of ``csrc/onednn_common.h``
  (same fields, same order; the size is checked when the library loads)."""

  _fields_ = [
    (name, ctypes.c_int64)
    for name in (
      *('n', 'h', 'w', 'c'),  # input (N, H, W, C)
      *('kh', 'kw', 'o'),  # kernel (KH, KW, C / groups, O)
      *('ho', 'wo'),  # output spatial size
      'groups',
      *('sh', 'sw', 'dh', 'dw'),  # strides, dilation
      *('pt', 'pb', 'pl', 'pr'),  # padding
    )
  ]


class PoolGeometry(ctypes.Structure):
  """One pooling's geometry: ``PoolGeometry`` of ``csrc/onednn_common.h``."""

  _fields_ = [
    (name, ctypes.c_int64)
    for name in (
      *('n', 'h', 'w', 'c'),  # input (N, H, W, C)
      *('ho', 'wo'),  # output spatial size
      *('kh', 'kw'),  # window
      *('sh', 'sw'),  # strides
      *('pt', 'pb', 'pl', 'pr'),  # padding
    )
  ]


def fields(geometry: ctypes.Structure) -> tuple[int, ...]:
  """A geometry's values in field order (hashable: a cache key)."""
  return tuple(getattr(geometry, name) for name, _ in geometry._fields_)


_lock = threading.Lock()
_state: dict = {}


def library_path() -> str:
  return os.environ.get(LIBRARY_ENV) or DEFAULT_LIBRARY


def _load(path: str) -> ctypes.CDLL:
  import jax  # pylint: disable=g-import-not-at-top

  lib = ctypes.CDLL(path)
  sizes = ctypes.c_int64(0), ctypes.c_int64(0)
  lib.cnn_jax_onednn_geometry_sizes(*map(ctypes.byref, sizes))
  if (sizes[0].value, sizes[1].value) != (
    ctypes.sizeof(ConvGeometry),
    ctypes.sizeof(PoolGeometry),
  ):
    raise OSError(f'{path} was built from other sources (geometry sizes)')
  lib.cnn_jax_onednn_query.restype = ctypes.c_int
  lib.cnn_jax_onednn_query.argtypes = [
    ctypes.c_int,
    ctypes.c_int,
    ctypes.POINTER(ConvGeometry),
    ctypes.c_char_p,
    ctypes.c_int,
  ]
  lib.cnn_jax_onednn_info.restype = None
  lib.cnn_jax_onednn_info.argtypes = [ctypes.c_char_p, ctypes.c_int]
  lib.cnn_jax_onednn_pool_query.restype = ctypes.c_int
  lib.cnn_jax_onednn_pool_query.argtypes = [
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.POINTER(PoolGeometry),
    ctypes.POINTER(ctypes.c_int64),
    ctypes.c_char_p,
    ctypes.c_int,
  ]
  for target, symbol in (*TARGETS.values(), *POOL_TARGETS.values()):
    jax.ffi.register_ffi_target(
      target, jax.ffi.pycapsule(getattr(lib, symbol)), platform='cpu'
    )
    # Lets XLA split a call over devices along its leading dimension (the
    # lowerings in ops/conv.py and ops/pool.py put one slice per device
    # there).
    jax.ffi.register_ffi_target_as_batch_partitionable(target)
  return lib


def library() -> Optional[ctypes.CDLL]:
  """The loaded library with its targets registered, or None (warned once)."""
  with _lock:
    if 'lib' not in _state:
      path = library_path()
      try:
        _state['lib'] = _load(path)
      except (OSError, AttributeError) as e:
        _state['lib'] = None
        _state['error'] = f'{type(e).__name__}: {e}'
        warnings.warn(
          f'cnn_jax: the oneDNN library did not load ({path}: '
          f"{e}). CPU convolutions and pooling use XLA's own instead "
          '(slower). Build it with `bash setup.sh` (needs cmake, g++ and the '
          'onednn packages of requirements.txt).',
          RuntimeWarning,
          stacklevel=2,
        )
    return _state['lib']


def available() -> bool:
  return library() is not None


def query(pass_: int, dtype: str, geometry: ConvGeometry) -> Optional[str]:
  """oneDNN's implementation of one convolution pass, or None if it has
  none. Creates and caches the primitive in the library (so the first
  training step does not), without running it."""
  return _query(pass_, dtype, fields(geometry))


@functools.lru_cache(maxsize=None)
def _query(pass_: int, dtype: str, key: tuple) -> Optional[str]:
  lib = library()
  if lib is None or dtype not in DTYPE_CODES:
    return None
  geometry = ConvGeometry(*key)
  buf = ctypes.create_string_buffer(512)
  rc = lib.cnn_jax_onednn_query(
    pass_, DTYPE_CODES[dtype], ctypes.byref(geometry), buf, 512
  )
  if rc == 2:
    raise RuntimeError(
      f'oneDNN {PASS_NAMES[pass_]} {key}: {buf.value.decode()}'
    )
  impl = buf.value.decode() if rc == 0 else None
  _queried[(PASS_NAMES[pass_], dtype, key)] = impl
  return impl


_queried: dict = {}


def pool_query(
  pass_: int, algorithm: int, dtype: str, geometry: PoolGeometry
) -> tuple[Optional[str], int]:
  """oneDNN's implementation of one pooling pass (or None if it has none)
  and the bytes of its workspace per group. Creates and caches the
  primitive in the library, without running it."""
  return _pool_query(pass_, algorithm, dtype, fields(geometry))


@functools.lru_cache(maxsize=None)
def _pool_query(
  pass_: int, algorithm: int, dtype: str, key: tuple
) -> tuple[Optional[str], int]:
  lib = library()
  if lib is None or dtype not in DTYPE_CODES:
    return None, 0
  geometry = PoolGeometry(*key)
  ws = ctypes.c_int64(0)
  buf = ctypes.create_string_buffer(512)
  rc = lib.cnn_jax_onednn_pool_query(
    pass_,
    algorithm,
    DTYPE_CODES[dtype],
    ctypes.byref(geometry),
    ctypes.byref(ws),
    buf,
    512,
  )
  if rc == 2:
    raise RuntimeError(
      f'oneDNN pooling pass {pass_} {key}: {buf.value.decode()}'
    )
  impl = buf.value.decode() if rc == 0 else None
  name = f'{POOL_ALGORITHM_NAMES[algorithm]} {POOL_PASS_NAMES[pass_]}'
  _queried[(name, dtype, key)] = impl
  return impl, int(ws.value)


def implementations() -> dict:
  """How many convolutions and poolings queried so far got each oneDNN
  kernel, per pass and dtype (None: oneDNN had none)."""
  counts: dict = {}
  for (pass_name, dtype, _), impl in list(_queried.items()):
    key = f'{pass_name} {dtype}: {impl}'
    counts[key] = counts.get(key, 0) + 1
  return dict(sorted(counts.items()))


def info() -> dict:
  """Path, oneDNN version and the instruction set it dispatches to here."""
  lib = library()
  if lib is None:
    return {
      'available': False,
      'path': library_path(),
      'error': _state.get('error'),
    }
  buf = ctypes.create_string_buffer(256)
  lib.cnn_jax_onednn_info(buf, 256)
  return {
    'available': True,
    'path': library_path(),
    'version': buf.value.decode(),
  }
