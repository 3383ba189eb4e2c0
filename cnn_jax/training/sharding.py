"""Device mesh, data-parallel shardings and multi-host start-up.

One code path for 1 CPU, 8 GPUs or a TPU pod: parameters are replicated, the
global batch is split along the mesh's ``data`` axis, and each process feeds
only its own part of the batch.
"""

from __future__ import annotations

import os
from typing import Optional

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from cnn_jax.config_validation import ConfigError

DATA_AXIS = 'data'


def maybe_initialize_distributed() -> None:
  """Calls ``jax.distributed.initialize`` when the environment asks for it.

  Set ``JAX_COORDINATOR_ADDRESS`` (host:port), ``JAX_NUM_PROCESSES`` and
  ``JAX_PROCESS_ID`` for a multi-process run; on Cloud TPU pods and SLURM,
  ``JAX_DISTRIBUTED=1`` lets JAX detect them itself.
  """
  address = os.environ.get('JAX_COORDINATOR_ADDRESS')
  if address:
    jax.distributed.initialize(
      coordinator_address=address,
      num_processes=int(os.environ['JAX_NUM_PROCESSES']),
      process_id=int(os.environ['JAX_PROCESS_ID']),
    )
  elif os.environ.get('JAX_DISTRIBUTED') == '1':
    jax.distributed.initialize()


def make_mesh(num_devices: Optional[int] = None) -> Mesh:
  """A 1-D ``data`` mesh over all devices, or the first ``num_devices``."""
  devices = jax.devices()
  if num_devices is not None:
    if num_devices < 1:
      raise ConfigError(
        [f'num_devices={num_devices}: must be >= 1, or None for all devices.']
      )
    if num_devices > len(devices):
      raise ConfigError(
        [
          f'num_devices={num_devices} but only '
          f'{len(devices)} devices are visible.'
        ]
      )
    if jax.process_count() > 1 and num_devices != len(devices):
      raise ConfigError(
        ['num_devices must use all devices in multi-host runs.']
      )
    devices = devices[:num_devices]
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def data_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def check_batch_divides(batch_size: int, mesh: Mesh, what: str) -> None:
  n = mesh.devices.size
  if batch_size % n:
    raise ConfigError(
      [
        f'The global {what} {batch_size} does not divide over the {n} devices '
        f'of the mesh; use a multiple of {n} (e.g. {(batch_size // n + 1) * n})'
        ' or set --config.num_devices.'
      ]
    )


def replicate(tree, mesh: Mesh):
  """Copies a host-local pytree to arrays replicated over ``mesh``.

  Works across processes too: each process supplies its own devices' copies
  (``device_put`` to a sharding that spans other hosts is refused). Every
  process must pass the same values.
  """
  sharding = replicated(mesh)
  return jax.tree.map(
    lambda x: jax.make_array_from_callback(
      np.shape(x), sharding, lambda index, x=np.asarray(x): x[index]
    ),
    tree,
  )


def to_host(tree):
  """Fetches replicated (possibly multi-host) arrays as numpy, explicitly."""

  def fetch(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return np.asarray(jax.device_get(x.addressable_data(0)))
    return np.asarray(jax.device_get(x))

  return jax.tree.map(fetch, tree)


def global_batch(local_batch: dict[str, np.ndarray], mesh: Mesh) -> dict:
  """Assembles each process's local batch into one batch-sharded array."""
  sharding = data_sharding(mesh)
  return jax.tree.map(
    lambda x: jax.make_array_from_process_local_data(sharding, x), local_batch
  )
