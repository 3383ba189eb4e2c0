"""The on-device input path: a small dataset loaded once onto the devices.

For datasets that fit in memory (MNIST, Fashion-MNIST, CIFAR-10/100,
synthetic): each process reads its shard of every split once
(:func:`cnn_jax.data.arrays.load_arrays`, uint8) and copies it to each of its
devices. A training step then costs one small gather per device (the
examples of this step, by index) and no host work at all; decoding,
augmentation and normalization run inside the jitted train step
(:mod:`cnn_jax.data.device_augment`, the ``batch_transform`` hook). No
TensorFlow is needed unless the arrays are read through TFDS.

The guarantees of the tf.data pipeline (:mod:`cnn_jax.data.pipeline`) hold:

* The stream is a pure function of (seed, epoch, position). Epoch ``e`` of
  process ``p`` is a permutation of the process's shard drawn in JAX from
  ``(seed, e, p)``; its first ``steps_per_epoch * local_batch`` indices are
  the epoch's batches, in order. A run resumed at step ``s`` starts at
  epoch ``s // steps_per_epoch``, batch ``s % steps_per_epoch``: exactly
  what the uninterrupted run saw. Augmentation keys come from
  (seed, step, position in the global batch).
* Each process reads its own contiguous shard of every split
  (:meth:`Slice.shard`) and feeds its own rows of the global batch; each of
  its devices gathers just its rows. ``steps_per_epoch`` is the tf.data
  pipeline's.
* Evaluation pads the last batch with ``mask == 0`` rows and every process
  runs the same number of batches: every example counts once.

The permutation differs from tf.data's shuffle (both are uniform), so the
two paths see the examples in different orders; they see the same examples.
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


def epoch_permutation(seed: int, epoch: int, process_index: int, n: int):
  """The order of a process's ``n`` examples in ``epoch`` (a JAX array)."""
  key = jax.random.fold_in(jax.random.key(seed), _EPOCH_STREAM)
  key = jax.random.fold_in(jax.random.fold_in(key, epoch), process_index)
  return jax.random.permutation(key, n)


@jax.jit
def _take_rows(images, labels, order, offset):
  """Row ``offset`` of the per-device index table, gathered."""
  idx = lax.dynamic_index_in_dim(order, offset, keepdims=False)
  return jnp.take(images, idx, axis=0), jnp.take(labels, idx, axis=0)


class DevicePipeline:
  """Training and evaluation batches gathered from arrays on the devices.

  ``process_index`` / ``process_count`` default to JAX's; tests pass others
  to check the per-process split without starting processes (then only the
  index methods, which need no devices of other processes, are meaningful).
  """
  name = 'device'

  def __init__(self, config, info: pipeline.InputInfo, mesh, *,
               process_index: Optional[int] = None,
               process_count: Optional[int] = None):
    self.config = config
    self.info = info
    self.mesh = mesh
    self.process_index = (jax.process_index() if process_index is None
                          else process_index)
    self.process_count = (jax.process_count() if process_count is None
                          else process_count)
    self.batch_transform = device_augment.make_train_transform(config, info)
    self._eval_transform = device_augment.make_eval_transform(config, info)
    self.local_batch = pipeline.local_batch_size(config.batch_size,
                                                 self.process_count)
    self.steps_per_epoch = pipeline.steps_per_epoch(config, info,
                                                    self.process_count)
    self._shard = info.splits['train'].shard(self.process_index,
                                             self.process_count)
    self._train = None  # {device: (images, labels)}
    self._eval = {}  # split -> {device: (images, labels)}, shard size
    self._eval_fns = {}
    self._order_epoch = None
    self._order = None  # {device: int32 [steps_per_epoch, rows]}

  @property
  def source(self) -> str:
    return arrays.source(self.config)

  # --- Which rows of the global batch each local device holds. -------------
  def _device_rows(self, global_size: int) -> dict:
    """{device: (first, stop)} rows of this process's part of the batch."""
    data = sharding.data_sharding(self.mesh)
    index = data.addressable_devices_indices_map((global_size,))
    spans = {d: (s[0].start or 0, global_size if s[0].stop is None
                 else s[0].stop) for d, s in index.items()}
    block = min(start for start, _ in spans.values())
    return {d: (start - block, stop - block) for d, (start, stop) in
            spans.items()}

  def _put(self, images, labels) -> dict:
    """A copy of the arrays on each of this process's devices."""
    devices = list(self._device_rows(self.config.batch_size))
    return {d: (jax.device_put(images, d), jax.device_put(labels, d))
            for d in devices}

  # --- Training. -----------------------------------------------------------
  def epoch_indices(self, epoch: int) -> np.ndarray:
    """Indices into the process's shard: [steps_per_epoch, local_batch]."""
    used = self.steps_per_epoch * self.local_batch
    order = epoch_permutation(self.config.seed, epoch, self.process_index,
                              self._shard.size)
    return np.asarray(jax.device_get(order))[:used].reshape(
        self.steps_per_epoch, self.local_batch).astype(np.int32)

  def batch_indices(self, step: int) -> np.ndarray:
    """The process's local batch at global ``step``: indices into its shard."""
    epoch, offset = divmod(step, self.steps_per_epoch)
    return self.epoch_indices(epoch)[offset]

  def _load_train(self):
    if self._train is None:
      images, labels = arrays.load_arrays(self.config, self._shard)
      self._train = self._put(images, labels)

  def _set_epoch(self, epoch: int):
    if self._order_epoch != epoch:
      table = self.epoch_indices(epoch)
      rows = self._device_rows(self.config.batch_size)
      self._order = {d: jax.device_put(table[:, a:b], d)
                     for d, (a, b) in rows.items()}
      self._order_epoch = epoch

  def train_batch(self, step: int) -> dict:
    """The global batch of ``step``: uint8 images, int32 labels, sharded."""
    self._load_train()
    epoch, offset = divmod(step, self.steps_per_epoch)
    self._set_epoch(epoch)
    shards_x, shards_y = [], []
    for d, (images, labels) in self._train.items():
      x, y = _take_rows(images, labels, self._order[d],
                        jax.device_put(np.int32(offset), d))
      shards_x.append(x)
      shards_y.append(y)
    return self._assemble(self.config.batch_size,
                          {'image': shards_x, 'label': shards_y})

  def _assemble(self, global_size: int, shards: dict) -> dict:
    data = sharding.data_sharding(self.mesh)
    return {k: jax.make_array_from_single_device_arrays(
        (global_size, *v[0].shape[1:]), data, v) for k, v in shards.items()}

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
    local = pipeline.local_batch_size(self.config.eval_batch_size,
                                      self.process_count)
    largest = max(full.shard(i, self.process_count).size
                  for i in range(self.process_count))
    return (full.shard(self.process_index, self.process_count), local,
            math.ceil(largest / local))

  def eval_indices(self, split: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per local batch: (indices into the shard, mask of real examples)."""
    sl, local, num_batches = self.eval_layout(split)
    out = []
    for b in range(num_batches):
      idx = b * local + np.arange(local)
      out.append((np.minimum(idx, max(sl.size - 1, 0)), idx < sl.size))
    return out

  def _eval_fn(self, rows: int, first: int, size: int):
    key = (rows, first, size)
    if key not in self._eval_fns:
      transform = self._eval_transform

      def gather(images, labels, batch, local_batch):
        idx = batch * local_batch + first + jnp.arange(rows)
        mask = idx < size
        idx = jnp.minimum(idx, max(size - 1, 0))
        return (transform(jnp.take(images, idx, axis=0)),
                jnp.take(labels, idx, axis=0), mask)

      self._eval_fns[key] = jax.jit(gather, static_argnames='local_batch')
    return self._eval_fns[key]

  def eval_batches(self, split: str) -> Iterator[dict]:
    """One pass over ``split``: float32 images, labels, mask; sharded."""
    sl, local, num_batches = self.eval_layout(split)
    if split not in self._eval:
      images, labels = arrays.load_arrays(self.config, sl)
      if not len(labels):  # an empty shard still feeds padding rows
        images = np.zeros((1, *images.shape[1:]), np.uint8)
        labels = np.zeros((1,), np.int32)
      self._eval[split] = self._put(images, labels)
    rows = self._device_rows(self.config.eval_batch_size)
    for b in range(num_batches):
      shards = {'image': [], 'label': [], 'mask': []}
      for d, (images, labels) in self._eval[split].items():
        first, stop = rows[d]
        x, y, m = self._eval_fn(stop - first, first, sl.size)(
            images, labels, jax.device_put(np.int32(b), d), local_batch=local)
        shards['image'].append(x)
        shards['label'].append(y)
        shards['mask'].append(m)
      yield self._assemble(self.config.eval_batch_size, shards)
