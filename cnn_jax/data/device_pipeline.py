"""The on-device input path: a small dataset loaded once onto the devices.

For datasets that fit in memory (MNIST, Fashion-MNIST, CIFAR-10/100,
synthetic): every split is read once (:func:`cnn_jax.data.arrays.load_arrays`,
uint8) and copied to every device of the mesh. A training step then costs one
compiled gather over the mesh (each device takes its rows of the global batch
from its copy, by index) and no host work; decoding, augmentation and
normalization run inside the jitted train step
(:mod:`cnn_jax.data.device_augment`, the ``batch_transform`` hook). The
step's row in the epoch's index table is a counter kept on the devices, so a
step dispatches the gather alone: no host-to-device copy at all. No
TensorFlow is needed unless the arrays are read through TFDS.

The guarantees of the tf.data pipeline (:mod:`cnn_jax.data.pipeline`) hold:

* The stream is a pure function of (seed, epoch, position). In epoch ``e``,
  process ``p`` takes its examples from its own contiguous shard of the
  training split (:meth:`Slice.shard`, as tf.data) in the order of a
  permutation drawn in JAX from ``(seed, e, p)``: the first
  ``steps_per_epoch * local_batch`` of them, batch after batch. A run
  resumed at step ``s`` starts at epoch ``s // steps_per_epoch``, batch
  ``s % steps_per_epoch``: exactly what the uninterrupted run saw.
  Augmentation keys come from (seed, step, position in the global batch).
  Repeated augmentation (``aug_repeats = k``) takes the permutation's first
  ``ceil(n / k)`` examples, each ``k`` times in a row (:func:`repeated`):
  the copies differ by position, hence by augmentation.
* Process ``p`` feeds the rows of the global batch that its devices hold
  (``steps_per_epoch`` is the tf.data pipeline's). Every process builds the
  same index table for all of them, so the copies on the devices are one
  replicated array (each host holds the whole split: these datasets are
  small).
* Evaluation pads each process's last batch with ``mask == 0`` rows and every
  process runs the same number of batches: every example counts once.

The permutation differs from tf.data's shuffle (both are uniform), so the
two paths see each epoch's examples in different orders.
"""

from __future__ import annotations

import math
from typing import Iterator, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cnn_jax.data import arrays, device_augment, pipeline
from cnn_jax.training import sharding

_EPOCH_STREAM = 0x5EED  # keeps the data order apart from other seed streams


def repeated(order: np.ndarray, repeats: int) -> np.ndarray:
  """Repeated augmentation's order: each of the first ``ceil(len / repeats)``
  indices ``repeats`` times in a row, cut to ``len`` (copies are told apart
  by their positions, which key their augmentations)."""
  if repeats <= 1:
    return order
  drawn = order[: -(-order.size // repeats)]
  return np.repeat(drawn, repeats)[: order.size]


def epoch_permutation(seed: int, epoch: int, process_index: int, n: int):
  """The order of process ``process_index``'s ``n`` examples in ``epoch``."""
  key = jax.random.fold_in(jax.random.key(seed), _EPOCH_STREAM)
  key = jax.random.fold_in(jax.random.fold_in(key, epoch), process_index)
  return jax.random.permutation(key, n)


def _gather_rows(images, labels, table, row, *, extra=None):
  """Row ``row`` of the index table, gathered; and the next row number."""
  idx = lax.dynamic_index_in_dim(table, row, keepdims=False)
  out = (jnp.take(images, idx, axis=0), jnp.take(labels, idx, axis=0))
  if extra is not None:
    out += (lax.dynamic_index_in_dim(extra, row, keepdims=False),)
  return out, row + 1


class DevicePipeline:
  """Training and evaluation batches gathered from arrays on the devices.

  ``process_index`` / ``process_count`` default to JAX's; tests pass others
  to check the per-process split without starting processes (then only the
  index tables, which need no devices, are meaningful).
  """

  name = 'device'

  def __init__(
    self,
    config,
    info: pipeline.InputInfo,
    mesh,
    *,
    process_index: Optional[int] = None,
    process_count: Optional[int] = None,
  ):
    self.config = config
    self.info = info
    self.mesh = mesh
    self.process_index = (
      jax.process_index() if process_index is None else process_index
    )
    self.process_count = (
      jax.process_count() if process_count is None else process_count
    )
    self.batch_transform = device_augment.make_train_transform(config, info)
    self._eval_transform = device_augment.make_eval_transform(config, info)
    self.local_batch = pipeline.local_batch_size(
      config.batch_size, self.process_count
    )
    self.steps_per_epoch = pipeline.steps_per_epoch(
      config, info, self.process_count
    )
    self._data = sharding.data_sharding(mesh)
    self._replicated = sharding.replicated(mesh)
    self._arrays = {}  # split -> (images, labels), replicated on the mesh
    self._eval_tables = {}  # split -> (indices, mask), replicated
    self._table_epoch = None
    self._table = None
    self._row = None  # the next row of the table, on the devices
    self._next_step = None
    self._train_gather = jax.jit(
      _gather_rows, out_shardings=((self._data, self._data), self._replicated)
    )
    eval_transform = self._eval_transform

    def eval_gather(images, labels, table, row, mask):
      (x, y, m), nxt = _gather_rows(images, labels, table, row, extra=mask)
      return (eval_transform(x), y, m), nxt

    self._eval_gather = jax.jit(
      eval_gather, out_shardings=((self._data,) * 3, self._replicated)
    )

  @property
  def source(self) -> str:
    return arrays.source(self.config)

  def _replicate(self, x) -> jax.Array:
    """A host array, identical on every process, copied to every device."""
    return sharding.replicate(np.asarray(x), self.mesh)

  def _split_arrays(self, split: str):
    """The whole split (all processes' shards) on every device, once."""
    if split not in self._arrays:
      images, labels = arrays.load_arrays(self.config, self.info.splits[split])
      if not len(labels):  # an empty split still feeds padding rows
        images = np.zeros((1, *images.shape[1:]), np.uint8)
        labels = np.zeros((1,), np.int32)
      self._arrays[split] = (self._replicate(images), self._replicate(labels))
    return self._arrays[split]

  # --- Training. -----------------------------------------------------------
  def epoch_table(self, epoch: int) -> np.ndarray:
    """Example indices into the training split: [steps_per_epoch, batch].

    Columns ``[p * local_batch, (p + 1) * local_batch)`` are process ``p``'s
    rows of each global batch, drawn from its own shard.
    """
    train = self.info.splits['train']
    used = self.steps_per_epoch * self.local_batch
    parts = []
    for p in range(self.process_count):
      shard = train.shard(p, self.process_count)
      order = np.asarray(
        jax.device_get(
          epoch_permutation(self.config.seed, epoch, p, shard.size)
        )
      )
      order = repeated(order, self.config.get('aug_repeats', 1))[:used]
      parts.append(
        (shard.start - train.start + order).reshape(
          self.steps_per_epoch, self.local_batch
        )
      )
    return np.concatenate(parts, axis=1).astype(np.int32)

  def batch_indices(self, step: int) -> np.ndarray:
    """This process's local batch at ``step``: indices into its shard."""
    epoch, offset = divmod(step, self.steps_per_epoch)
    rows = self.epoch_table(epoch)[offset]
    shard = self.info.splits['train'].shard(
      self.process_index, self.process_count
    )
    first = self.process_index * self.local_batch
    local = rows[first : first + self.local_batch]
    return local - (shard.start - self.info.splits['train'].start)

  def _check_rows(self, global_batch: int) -> None:
    """Process p's devices must hold rows [p * local, (p + 1) * local)."""
    local = global_batch // self.process_count
    index = self._data.devices_indices_map((global_batch,))
    for device, (rows,) in index.items():
      p = device.process_index
      if not p * local <= (rows.start or 0) < (p + 1) * local:
        raise ValueError(
          'The mesh does not give each process a contiguous '
          'block of the batch in process order.'
        )

  def train_batch(self, step: int) -> dict:
    """The global batch of ``step``: uint8 images, int32 labels, sharded."""
    epoch, offset = divmod(step, self.steps_per_epoch)
    if self._table_epoch != epoch:
      if self._table_epoch is None:
        self._check_rows(self.config.batch_size)
      self._table = self._replicate(self.epoch_table(epoch))
      self._table_epoch = epoch
      self._next_step = None
    if step != self._next_step:
      self._row = self._replicate(np.int32(offset))
    images, labels = self._split_arrays('train')
    (x, y), self._row = self._train_gather(
      images, labels, self._table, self._row
    )
    self._next_step = step + 1
    return {'image': x, 'label': y}

  def train_batches(self, start_step: int = 0) -> Iterator[dict]:
    """Global batches from ``start_step`` on, endlessly."""
    step = start_step
    while True:
      yield self.train_batch(step)
      step += 1

  # --- Evaluation. ---------------------------------------------------------
  def eval_layout(self, split: str) -> tuple[pipeline.Slice, int, int]:
    """(this process's shard, its local batch, batches per process)."""
    if split not in self.info.splits:
      raise ValueError(f'No {split!r} split (validation_examples=0?).')
    full = self.info.splits[split]
    local = pipeline.local_batch_size(
      self.config.eval_batch_size, self.process_count
    )
    largest = max(
      full.shard(i, self.process_count).size for i in range(self.process_count)
    )
    return (
      full.shard(self.process_index, self.process_count),
      local,
      math.ceil(largest / local),
    )

  def eval_table(self, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices into ``split`` and masks: [batches, eval_batch_size] each.

    Process ``p``'s columns walk its shard in order; past its end they
    repeat its last example (or the split's first) with ``mask == False``.
    """
    full = self.info.splits[split]
    _, local, num_batches = self.eval_layout(split)
    idx, mask = [], []
    for p in range(self.process_count):
      shard = full.shard(p, self.process_count)
      pos = np.arange(num_batches * local).reshape(num_batches, local)
      mask.append(pos < shard.size)
      last = max(shard.size - 1, 0)
      idx.append(shard.start - full.start + np.minimum(pos, last))
    return (
      np.concatenate(idx, axis=1).astype(np.int32),
      np.concatenate(mask, axis=1),
    )

  def eval_batches(self, split: str) -> Iterator[dict]:
    """One pass over ``split``: float32 images, labels, mask; sharded."""
    self.eval_layout(split)  # checks the split exists
    if split not in self._eval_tables:
      self._check_rows(self.config.eval_batch_size)
      self._eval_tables[split] = tuple(
        self._replicate(x) for x in self.eval_table(split)
      )
    images, labels = self._split_arrays(split)
    table, mask = self._eval_tables[split]
    row = self._replicate(np.int32(0))
    for _ in range(table.shape[0]):
      (x, y, m), row = self._eval_gather(images, labels, table, row, mask)
      yield {'image': x, 'label': y, 'mask': m}
