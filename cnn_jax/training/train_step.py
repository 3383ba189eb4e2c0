# NB: no `from __future__ import annotations`: CLU reads the metric annotations.
"""The train state, the loss, and the jit-compiled train and eval steps.

Both steps are compiled once over the device mesh: the state is replicated,
the batch is sharded on the ``data`` axis, and the state's buffers are donated
so an update happens in place. XLA inserts the gradient all-reduce; BatchNorm
statistics are computed over the whole global batch (``bn_group_size`` splits
them into per-group "ghost" statistics instead).

Recipes (``configs/base.py``, "Training recipes"):

* ``ema_decay``: an exponential moving average of the parameters *and* of the
  BatchNorm statistics (as timm's ModelEma and torchvision's
  ``ExponentialMovingAverage(use_buffers=True)``) rides in the state and is
  updated in the step: ``ema = d * ema + (1 - d) * new``, with ``d =
  min(ema_decay, (1 + step) / (10 + step))`` if ``ema_warmup`` (TensorFlow's
  ``ExponentialMovingAverage(num_updates=step)``, which EfficientNet used).
  ``ema_every_steps = n`` updates it at every n-th step only (steps 0, n,
  2n, ...; torchvision's ``--model-ema-steps``), ``step`` above then counting
  updates; ``ema_reset_in_warmup`` sets ``d = 0`` (the average restarts from
  the weights) at the updates before the lr warmup's last step and at the
  first one after, as torchvision's reference script resets its average's
  count during the warmup epochs.
* ``grad_accum_steps = k``: the global batch is split into ``k`` micro-batches
  (example ``i`` goes to micro-batch ``i % k``, so each one spans every
  device) run one after the other by ``lax.scan``; their mean gradient makes
  one optimizer update. One step is still one global batch and one update, so
  schedules, checkpoints and resumption do not change. BatchNorm normalizes
  each micro-batch by its own statistics and its running averages are
  updated once per micro-batch (``k`` times per step), as accumulating in
  PyTorch does; without BatchNorm the update equals the big batch's.
  (``optax.MultiSteps`` would instead spread a batch over ``k`` steps, which
  changes what a step is for the schedule, the input stream and resuming.)
"""

import functools
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from clu import metrics as clu_metrics
from flax import struct
from flax.training import train_state

from cnn_jax.data import batch_augment
from cnn_jax.models import registry
from cnn_jax.training import sharding


class TrainState(train_state.TrainState):
  """params + optimizer state + BatchNorm statistics + the run's RNG key.

  ``rng`` holds raw key data (uint32), so that the whole state is plain
  arrays that checkpoint and replicate across hosts like any other.
  """

  batch_stats: Any = None
  rng: jax.Array = None
  # The moving averages of params / batch_stats (None: ema_decay off).
  ema_params: Any = None
  ema_batch_stats: Any = None

  @property
  def has_ema(self) -> bool:
    return self.ema_params is not None

  def ema_state(self) -> 'TrainState':
    """This state with the moving averages as its weights (for evaluation)."""
    return self.replace(
      params=self.ema_params, batch_stats=self.ema_batch_stats
    )


@struct.dataclass
class TrainMetrics(clu_metrics.Collection):
  loss: clu_metrics.Average.from_output('loss')
  accuracy: clu_metrics.Average.from_output('accuracy')
  learning_rate: clu_metrics.LastValue.from_output('learning_rate')


@struct.dataclass
class EvalMetrics(clu_metrics.Collection):
  loss: clu_metrics.Average.from_output('loss')
  accuracy: clu_metrics.Average.from_output('accuracy')
  top5_accuracy: clu_metrics.Average.from_output('top5_accuracy')


def create_train_state(
  model: nn.Module,
  tx: optax.GradientTransformation,
  input_shape,
  rng: jax.Array,
  ema: bool = False,
) -> TrainState:
  """Initializes variables on a batch of one; the run's key rides along.

  Initialized in training mode so that training-only parts (auxiliary
  classifiers) get parameters too. ``ema``: the state carries moving
  averages of the weights, starting from the initial weights.
  """
  params_rng, dropout_rng, state_rng = jax.random.split(rng, 3)
  variables = jax.jit(functools.partial(model.init, train=True))(
    {'params': params_rng, 'dropout': dropout_rng},
    jnp.zeros((1, *input_shape), jnp.float32),
  )
  state = TrainState.create(
    apply_fn=model.apply,
    params=variables['params'],
    tx=tx,
    batch_stats=variables.get('batch_stats', {}),
    rng=jax.random.key_data(state_rng),
  )
  return with_fresh_ema(state) if ema else state


def with_fresh_ema(state: TrainState) -> TrainState:
  """``state`` whose moving averages start at its current weights."""
  copy = lambda tree: jax.tree.map(jnp.array, tree)  # noqa: E731
  return state.replace(
    ema_params=copy(state.params), ema_batch_stats=copy(state.batch_stats)
  )


def ema_decay_at(step, decay: float, warmup: bool):
  """The decay of the update made at ``step`` (0-based)."""
  if not warmup:
    return jnp.asarray(decay, jnp.float32)
  step = jnp.asarray(step, jnp.float32)
  return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


def update_ema(
  state: TrainState,
  step,
  decay: float,
  warmup: bool,
  every: int = 1,
  reset_steps: int = 0,
):
  """``state`` with its moving averages moved towards its weights (see the
  module docstring: ``every`` is ``ema_every_steps``, ``reset_steps`` the lr
  warmup's length in steps if ``ema_reset_in_warmup``, else 0)."""
  d = ema_decay_at(step // every, decay, warmup)
  if reset_steps:
    d = jnp.where(step < reset_steps + every, 0.0, d)
  if every > 1:  # d = 1 keeps the average as it is.
    d = jnp.where(step % every == 0, d, 1.0)

  def mix(avg, new):
    return (d * avg + (1.0 - d) * new).astype(avg.dtype)

  return state.replace(
    ema_params=jax.tree.map(mix, state.ema_params, state.params),
    ema_batch_stats=jax.tree.map(mix, state.ema_batch_stats, state.batch_stats),
  )


def cross_entropy(logits, labels, num_classes: int, label_smoothing: float):
  """Per-example softmax cross-entropy with optional label smoothing.

  ``labels``: int class indices ``[N]``, or float soft targets
  ``[N, num_classes]`` (mixup / CutMix through a ``batch_transform``).
  """
  if labels.ndim == 2:
    targets = labels.astype(jnp.float32)
  else:
    targets = jax.nn.one_hot(labels, num_classes)
  if label_smoothing > 0:
    targets = optax.smooth_labels(targets, label_smoothing)
  return optax.softmax_cross_entropy(logits.astype(jnp.float32), targets)


def split_outputs(outputs):
  """Models return logits, or ``(logits, [aux_logits, ...])`` in training."""
  if isinstance(outputs, tuple):
    logits, aux = outputs
    return logits, list(aux)
  return outputs, []


def topk_correct(logits, labels, k: int):
  k = min(k, logits.shape[-1])
  top = jax.lax.top_k(logits, k)[1]
  return jnp.any(top == labels[:, None], axis=-1)


def _apply_train(
  state: TrainState,
  params,
  images,
  rng,
  group_size: int,
  group_sharding=None,
  progress_steps: Optional[int] = None,
):
  """Forward pass in training mode; per-group BN statistics if asked.

  ``group_sharding`` (the batch's sharding) pins the groups to the devices
  that hold their examples, so that each device computes its own groups.
  ``progress_steps``: the run's length, for models that take ``progress``
  (:func:`cnn_jax.models.registry.takes_progress`).
  """
  variables = {'params': params, 'batch_stats': state.batch_stats}
  kwargs = {}
  if progress_steps:
    kwargs['progress'] = state.step / progress_steps

  def apply(images, rng):
    return state.apply_fn(
      variables,
      images,
      train=True,
      rngs={'dropout': rng},
      mutable=['batch_stats'],
      **kwargs,
    )

  n = images.shape[0]
  if group_size <= 0 or group_size >= n:
    return apply(images, rng)
  if n % group_size:
    raise ValueError(
      f'bn_group_size {group_size} does not divide the batch of {n}.'
    )
  groups = images.reshape((n // group_size, group_size, *images.shape[1:]))
  if (
    group_sharding is not None
    and (n // group_size) % max(1, group_sharding.mesh.size) == 0
  ):
    groups = jax.lax.with_sharding_constraint(groups, group_sharding)
  outputs, updates = jax.vmap(apply)(
    groups, jax.random.split(rng, n // group_size)
  )
  outputs = jax.tree.map(lambda y: y.reshape((n, *y.shape[2:])), outputs)
  # Each group updated the running averages from the same start; their mean
  # is the update by the mean of the groups' batch statistics.
  updates = jax.tree.map(lambda y: jnp.mean(y, axis=0), updates)
  return outputs, updates


# fold_in tag of the augmentation keys, apart from the dropout keys.
AUGMENT_STREAM = 0xA06


def augment_key(state: TrainState, stream: int = AUGMENT_STREAM):
  """The batch's augmentation key: a function of (seed, step) only."""
  key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), stream)
  return jax.random.fold_in(key, state.step)


# fold_in tag of the recipe's keys (random erasing, mixup / CutMix).
RECIPE_STREAM = 0xA07


def recipe_key(state: TrainState):
  """The key of the recipe's batch transform: a function of (seed, step)."""
  return augment_key(state, RECIPE_STREAM)


def train_step(
  state: TrainState,
  batch,
  *,
  num_classes: int,
  learning_rate_fn: Callable,
  label_smoothing: float = 0.0,
  aux_loss_weight: float = 0.3,
  dtype=jnp.float32,
  bn_group_size: int = 0,
  group_sharding=None,
  batch_transform: Optional[Callable] = None,
  recipe_transform: Optional[Callable] = None,
  grad_accum_steps: int = 1,
  ema_decay: Optional[float] = None,
  ema_warmup: bool = False,
  ema_every_steps: int = 1,
  ema_reset_steps: int = 0,
  progress_steps: Optional[int] = None,
):
  """One SGD step on a global batch; returns the new state and metrics.

  ``batch_transform(images, labels, key) -> (images, targets)``, if given,
  runs first, inside the compiled step: either input path hands it uint8
  images and it returns normalized float32 images and int labels (or
  float soft targets ``[N, num_classes]``). ``key`` is :func:`augment_key`;
  per-example randomness must come from ``fold_in(key, i)`` with ``i`` the
  example's position in the global batch, so that results do not depend on
  how the batch is sharded.

  ``recipe_transform(images, labels, key) -> (images, targets)`` (random
  erasing, mixup / CutMix: :mod:`cnn_jax.data.batch_augment`) runs next, on
  the normalized float batch, with :func:`recipe_key`.

  ``grad_accum_steps`` and ``ema_decay``: see the module docstring.
  ``progress_steps``: the run's total steps, for models that take the
  fraction of training done (``progress = step / progress_steps``).
  """
  rng = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  images, labels = batch['image'], batch['label']
  if batch_transform is not None:
    images, labels = batch_transform(images, labels, augment_key(state))
  if recipe_transform is not None:
    images, labels = recipe_transform(images, labels, recipe_key(state))
  images = images.astype(dtype)
  hard = lambda y: jnp.argmax(y, -1) if y.ndim == 2 else y  # noqa: E731

  def loss_fn(params, batch_stats, images, labels, rng):
    outputs, updates = _apply_train(
      state.replace(batch_stats=batch_stats),
      params,
      images,
      rng,
      bn_group_size,
      group_sharding,
      progress_steps,
    )
    logits, aux_logits = split_outputs(outputs)
    loss = jnp.mean(cross_entropy(logits, labels, num_classes, label_smoothing))
    for aux in aux_logits:
      loss += aux_loss_weight * jnp.mean(
        cross_entropy(aux, labels, num_classes, label_smoothing)
      )
    accuracy = jnp.mean(jnp.argmax(logits, -1) == hard(labels))
    return loss, (accuracy, updates.get('batch_stats', batch_stats))

  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
  k = grad_accum_steps
  if k <= 1:
    (loss, (accuracy, batch_stats)), grads = grad_fn(
      state.params, state.batch_stats, images, labels, rng
    )
  else:
    n = images.shape[0]
    if n % k:
      raise ValueError(
        f'grad_accum_steps {k} does not divide the batch of {n}.'
      )

    def micro(x):  # micro-batch j: the examples j, j + k, j + 2k, ...
      return jnp.swapaxes(x.reshape((n // k, k, *x.shape[1:])), 0, 1)

    def body(carry, xs):
      grads, loss, accuracy, batch_stats = carry
      j, images_j, labels_j = xs
      (loss_j, (acc_j, batch_stats)), grads_j = grad_fn(
        state.params,
        batch_stats,
        images_j,
        labels_j,
        jax.random.fold_in(rng, j),
      )
      grads = jax.tree.map(jnp.add, grads, grads_j)
      return (grads, loss + loss_j, accuracy + acc_j, batch_stats), None

    zeros = jax.tree.map(jnp.zeros_like, state.params)
    init = (zeros, jnp.float32(0), jnp.float32(0), state.batch_stats)
    (grads, loss, accuracy, batch_stats), _ = jax.lax.scan(
      body, init, (jnp.arange(k), micro(images), micro(labels))
    )
    grads = jax.tree.map(lambda g: g / k, grads)
    loss, accuracy = loss / k, accuracy / k

  step = state.step
  state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
  if ema_decay is not None:
    state = update_ema(
      state, step, ema_decay, ema_warmup, ema_every_steps, ema_reset_steps
    )
  metrics = TrainMetrics.single_from_model_output(
    loss=loss,
    accuracy=accuracy,
    learning_rate=learning_rate_fn(state.step - 1),
  )
  return state, metrics


def eval_step(state: TrainState, batch, *, num_classes: int, dtype=jnp.float32):
  """Masked metrics of one padded eval batch (padding has ``mask == 0``)."""
  variables = {'params': state.params, 'batch_stats': state.batch_stats}
  logits = state.apply_fn(variables, batch['image'].astype(dtype), train=False)
  labels, mask = batch['label'], batch['mask']
  return EvalMetrics.single_from_model_output(
    loss=cross_entropy(logits, labels, num_classes, 0.0),
    accuracy=topk_correct(logits, labels, 1).astype(jnp.float32),
    top5_accuracy=topk_correct(logits, labels, 5).astype(jnp.float32),
    mask=mask,
  )


def compile_steps(
  config,
  mesh,
  state: TrainState,
  num_classes: int,
  learning_rate_fn: Callable,
  batch_transform: Optional[Callable] = None,
  total_steps: Optional[int] = None,
  steps_per_epoch: Optional[int] = None,
):
  """jit-compiled (train_step, eval_step) over ``mesh`` with donation.

  ``batch_transform``: see :func:`train_step` (the input path provides it).
  ``total_steps``: the run's length, passed on as ``progress_steps`` when
  the model takes ``progress``. ``steps_per_epoch``: for
  ``ema_reset_in_warmup`` (the warmup's length in steps; without it, as in
  the benchmarks, the average is not reset).
  """
  model = getattr(state.apply_fn, '__self__', None)
  progress_steps = (
    total_steps
    if model is not None and registry.takes_progress(model)
    else None
  )
  dtype = jnp.dtype(config.dtype)
  ema_reset_steps = 0
  if config.get('ema_reset_in_warmup', False) and steps_per_epoch:
    ema_reset_steps = int(round(config.warmup_epochs * steps_per_epoch))
  recipe = batch_augment.make_recipe_transform(config, num_classes)
  # mixup / CutMix targets carry the label smoothing already.
  smoothing = 0.0 if batch_augment.mixing(config) else config.label_smoothing
  state_sharding = jax.tree.map(lambda _: sharding.replicated(mesh), state)
  data = sharding.data_sharding(mesh)
  rep = sharding.replicated(mesh)
  train = jax.jit(
    functools.partial(
      train_step,
      num_classes=num_classes,
      learning_rate_fn=learning_rate_fn,
      label_smoothing=smoothing,
      aux_loss_weight=config.aux_loss_weight,
      dtype=dtype,
      bn_group_size=config.bn_group_size,
      group_sharding=data,
      batch_transform=batch_transform,
      recipe_transform=recipe,
      grad_accum_steps=config.grad_accum_steps,
      ema_decay=config.ema_decay,
      ema_warmup=config.ema_warmup,
      ema_every_steps=config.get('ema_every_steps', 1),
      ema_reset_steps=ema_reset_steps,
      progress_steps=progress_steps,
    ),
    in_shardings=(state_sharding, data),
    out_shardings=(state_sharding, rep),
    donate_argnums=0,
  )
  evaluate = jax.jit(
    functools.partial(eval_step, num_classes=num_classes, dtype=dtype),
    in_shardings=(state_sharding, data),
    out_shardings=rep,
  )
  return train, evaluate
