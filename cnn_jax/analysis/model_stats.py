"""Parameter counts and output shapes computed without running a model.

Everything here goes through ``jax.eval_shape``, so even a 140M-parameter VGG
costs only a trace, never the memory or FLOPs of a real forward pass.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax import models


def abstract_variables(
  model, input_shape, batch_size: int = 1, dtype=jnp.float32
) -> dict[str, Any]:
  """Shapes of ``model.init`` variables for one ``(H, W, C)`` input shape.

  Initialized in training mode, as the trainer does, so that parts used only
  in training (auxiliary classifiers) get their parameters too.
  """
  x = jax.ShapeDtypeStruct((batch_size, *input_shape), dtype)
  rngs = {'params': jax.random.key(0), 'dropout': jax.random.key(1)}
  return jax.eval_shape(lambda x: model.init(rngs, x, train=True), x)


def tree_size(tree) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


def count_params(model, input_shape) -> tuple[int, int]:
  """Returns (trainable params, BatchNorm statistics) of ``model``."""
  variables = abstract_variables(model, input_shape)
  return (
    tree_size(variables.get('params', {})),
    tree_size(variables.get('batch_stats', {})),
  )


def output_shape(model, input_shape, batch_size: int = 2, train: bool = False):
  """Output shape(s) of ``model`` applied to a batch of ``input_shape``."""
  variables = abstract_variables(model, input_shape)
  x = jax.ShapeDtypeStruct((batch_size, *input_shape), jnp.float32)
  rngs = {'dropout': jax.random.key(1)}

  def apply(variables, x):
    out = model.apply(
      variables,
      x,
      train=train,
      rngs=rngs,
      mutable=['batch_stats'] if train else False,
    )
    return out[0] if train else out

  return jax.tree.map(lambda a: a.shape, jax.eval_shape(apply, variables, x))


def count_registered(name: str, **kwargs) -> tuple[int, int]:
  """Parameter count of a registered model at its native input shape."""
  spec = models.get_spec(name)
  kwargs.setdefault('num_classes', spec.num_classes)
  return count_params(spec.factory(**kwargs), spec.input_shape)
