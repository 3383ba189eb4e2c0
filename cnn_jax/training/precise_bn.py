"""BatchNorm statistics recomputed with the final weights (``precise_bn_steps``).

During training each BatchNorm keeps a moving average of batch statistics,
which still carries those of earlier weights. The ShuffleNet authors' code
(megvii-model/ShuffleNet-Series) ends with one more epoch of training
batches through the final network, its BatchNorm momentum set to ``1 / k``
at the ``k``-th batch, the learning rate at 0: the running statistics become
the plain average of that epoch's batch statistics ("precise BN", Wu &
Johnson 2021, "Rethinking 'Batch' in BatchNorm").

:func:`recalibrate` does that after the last step: the training stream's
next ``precise_bn_steps`` batches, augmented as in training (the input
path's ``batch_transform``, keyed by their step numbers; no mixing), go
through the model in training mode; each BatchNorm's batch mean and variance
(over the whole global batch, about the batch's own mean, as Flax's running
variance) are averaged over the batches and replace the running statistics.
The weights do not change; a model without BatchNorm is left as it is. The
result is a function of the final state and the seed: a run resumed from any
checkpoint recomputes the same statistics.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterator, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import traverse_util

from cnn_jax.training import sharding, train_step


def batch_statistics(apply_fn, variables, images, rng) -> dict[str, Any]:
  """Each BatchNorm's batch mean and variance of ``images`` in training
  mode, as a tree shaped like ``variables['batch_stats']``."""
  found = {}

  def record(next_fun, args, kwargs, context):
    module = context.module
    if context.method_name == '__call__' and isinstance(module, nn.BatchNorm):
      x = jnp.asarray(args[0], jnp.float32)
      axes = tuple(range(x.ndim - 1))  # all but the feature axis
      mean = jnp.mean(x, axes)
      var = jnp.maximum(jnp.mean(jnp.square(x), axes) - jnp.square(mean), 0.0)
      found[tuple(module.path) + ('mean',)] = mean
      found[tuple(module.path) + ('var',)] = var
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    apply_fn(
      variables,
      images,
      train=True,
      rngs={'dropout': rng},
      mutable=['batch_stats'],
    )
  stats = traverse_util.unflatten_dict(found)
  expected = jax.tree.structure(variables['batch_stats'])
  if jax.tree.structure(stats) != expected:
    raise ValueError(
      'The BatchNorm layers seen in the forward pass do not match the '
      'batch_stats collection (a BatchNorm called twice, or outside it).'
    )
  return stats


@functools.lru_cache(maxsize=8)
def _statistics_step(batch_transform: Optional[Callable], dtype, mesh):
  """The jitted ``(state, batch, index) -> batch statistics`` of batch
  ``index`` after ``state.step`` (one compile per model and input path)."""

  def one(state, batch, index):
    at = state.replace(step=state.step + index)
    images, labels = batch['image'], batch['label']
    if batch_transform is not None:
      images, _ = batch_transform(images, labels, train_step.augment_key(at))
    rng = jax.random.fold_in(jax.random.wrap_key_data(state.rng), at.step)
    variables = {'params': state.params, 'batch_stats': state.batch_stats}
    return batch_statistics(
      state.apply_fn, variables, images.astype(dtype), rng
    )

  return jax.jit(one, out_shardings=sharding.replicated(mesh))


_add = jax.jit(lambda a, b: jax.tree.map(jnp.add, a, b))


def recalibrate(
  state: train_step.TrainState,
  batches: Iterator[dict],
  steps: int,
  mesh,
  batch_transform: Optional[Callable] = None,
  dtype=jnp.float32,
) -> train_step.TrainState:
  """``state`` with its BatchNorm statistics averaged over ``steps`` of
  ``batches`` (the training stream from ``state.step`` on); see the module
  docstring."""
  if not jax.tree.leaves(state.batch_stats) or steps <= 0:
    return state
  one = _statistics_step(batch_transform, jnp.dtype(dtype), mesh)
  total = None
  for index in range(steps):
    stats = one(state, next(batches), jnp.int32(index))
    if total is not None:  # at most two batches in flight
      jax.block_until_ready(total)
    total = stats if total is None else _add(total, stats)

  def mean(t, old):
    return (t / steps).astype(old.dtype)

  return state.replace(batch_stats=jax.tree.map(mean, total, state.batch_stats))
