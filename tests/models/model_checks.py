"""The one train-step check every model test uses.

``check_train_step`` initializes a model and takes the gradient of a
training-mode cross-entropy (auxiliary heads included) in a single jitted
function, compiled once with XLA's cheap backend settings (compilation, not
running, is what costs time on a CPU; these settings roughly halve it and run
the tiny inputs as fast). It asserts what a working model must give:

* logits (and each auxiliary head's) of shape ``(batch, classes)``;
* a finite loss and finite gradients;
* a nonzero gradient in every parameter tensor, except those matched by
  ``allow_zero`` (give the reason where it is used);
* BatchNorm running statistics updated in training mode, where there are any.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

FAST_COMPILE = {
  'xla_backend_optimization_level': 0,
  'xla_llvm_disable_expensive_passes': True,
}


def key(seed: int) -> jax.Array:
  """'rbg' keys compile several times faster than threefry on XLA:CPU, and
  ``init`` draws once per parameter tensor."""
  return jax.random.key(seed, impl='rbg')


def split_outputs(out):
  """Models return logits, or ``(logits, [aux_logits, ...])`` in training."""
  return (out[0], list(out[1])) if isinstance(out, tuple) else (out, [])


def check_train_step(
  model, input_shape, *, batch: int = 2, classes: int = 10, allow_zero=()
) -> dict:
  """Runs the check above; returns the gradients (as numpy arrays)."""
  x = jax.random.normal(jax.random.key(0), (batch, *input_shape))
  labels = jnp.arange(batch) % classes

  def init_and_grads(x):
    variables = model.init({'params': key(1), 'dropout': key(2)}, x, train=True)
    stats = variables.get('batch_stats', {})

    def loss_fn(params):
      out, updates = model.apply(
        {'params': params, 'batch_stats': stats},
        x,
        train=True,
        rngs={'dropout': key(3)},
        mutable=['batch_stats'],
      )
      logits, aux = split_outputs(out)
      losses = [
        optax.softmax_cross_entropy_with_integer_labels(o, labels).mean()
        for o in [logits, *aux]
      ]
      return sum(losses), ([logits, *aux], updates.get('batch_stats', {}))

    (loss, (outputs, new_stats)), grads = jax.value_and_grad(
      loss_fn, has_aux=True
    )(variables['params'])
    return loss, outputs, stats, new_stats, grads

  compiled = (
    jax.jit(init_and_grads).lower(x).compile(compiler_options=FAST_COMPILE)
  )
  loss, outputs, stats, new_stats, grads = jax.device_get(compiled(x))
  for o in outputs:
    assert o.shape == (batch, classes), o.shape
  assert np.isfinite(loss)
  for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]:
    name = jax.tree_util.keystr(path)
    assert np.all(np.isfinite(g)), f'non-finite gradient in {name}'
    if not any(pattern in name for pattern in allow_zero):
      assert np.any(g != 0), f'no gradient reaches {name}'
  if jax.tree.leaves(stats):
    changed = [
      bool(np.any(a != b))
      for a, b in zip(jax.tree.leaves(stats), jax.tree.leaves(new_stats))
    ]
    assert any(changed), 'BatchNorm statistics not updated in training'
  return grads
