"""A few train steps on fixed batches, as one process of a multi-process run.

Run by tests/test_multihost.py, either alone or as each of two processes
(JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID set). Each
process feeds only its own rows of the global batch. Prints the loss and a
parameter checksum.
"""

import jax
import numpy as np
import optax

from cnn_jax.training import sharding, train_step
from configs import base
from tests.tiny_models import TinyBNNet


def main():
  sharding.maybe_initialize_distributed()
  mesh = sharding.make_mesh()
  n_proc, index = jax.process_count(), jax.process_index()
  rng = np.random.default_rng(0)
  state = train_step.create_train_state(
    TinyBNNet(), optax.sgd(0.1, 0.9), (8, 8, 3), jax.random.key(0)
  )
  state = sharding.replicate(state, mesh)
  train, _ = train_step.compile_steps(
    base.get_config(), mesh, state, 10, lambda s: 0.1
  )
  for _ in range(3):
    images = rng.normal(size=(32, 8, 8, 3)).astype(np.float32)
    labels = rng.integers(0, 10, 32).astype(np.int32)
    rows = slice(index * 32 // n_proc, (index + 1) * 32 // n_proc)
    batch = sharding.global_batch(
      {'image': images[rows], 'label': labels[rows]}, mesh
    )
    state, metrics = train(state, batch)
  loss = float(sharding.to_host(metrics.compute())['loss'])
  params = sharding.to_host(state.params)
  checksum = sum(float(np.abs(x).sum()) for x in jax.tree.leaves(params))
  print(
    f'RESULT devices={mesh.devices.size} processes={n_proc} '
    f'loss={loss:.7f} checksum={checksum:.5f}',
    flush=True,
  )


if __name__ == '__main__':
  main()
