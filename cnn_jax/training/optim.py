"""Optimizers and learning-rate schedules (optax) built from the config."""

from __future__ import annotations

import jax
import optax


def learning_rate_schedule(
  config, steps_per_epoch: int, total_steps: int
) -> optax.Schedule:
  """Warmup (linear from ``warmup_start_factor`` x lr) followed by the
  configured decay, per step."""
  base_lr = config.learning_rate
  if config.lr_scaling_base_batch > 0:  # linear scaling rule (Goyal et al.)
    base_lr *= config.batch_size / config.lr_scaling_base_batch
  warmup = int(round(config.warmup_epochs * steps_per_epoch))
  decay_steps = max(1, total_steps - warmup)
  kind = config.lr_schedule
  if kind == 'constant':
    main = optax.constant_schedule(base_lr)
  elif kind == 'cosine':
    main = optax.cosine_decay_schedule(base_lr, decay_steps)
  elif kind == 'multistep':
    main = optax.piecewise_constant_schedule(
      base_lr,
      {
        int(round(e * steps_per_epoch)) - warmup: config.lr_decay_factor
        for e in config.lr_boundaries
      },
    )
  elif kind == 'exponential':
    main = optax.exponential_decay(
      base_lr,
      max(1, int(round(config.lr_decay_epochs * steps_per_epoch))),
      config.lr_decay_factor,
      staircase=True,
    )
  else:
    raise ValueError(
      f'Unknown lr_schedule {kind!r}; known: constant, cosine, '
      'multistep, exponential.'
    )
  if warmup == 0:
    return main
  return optax.join_schedules(
    [
      optax.linear_schedule(
        base_lr * config.get('warmup_start_factor', 0.0), base_lr, warmup
      ),
      main,
    ],
    [warmup],
  )


def weight_decay_mask(params):
  """True for the weights to decay: kernels, not BN scale/bias or biases."""
  return jax.tree.map(lambda p: p.ndim > 1, params)


def make_optimizer(
  config, schedule: optax.Schedule
) -> optax.GradientTransformation:
  """The configured optimizer, with clipping and weight decay around it."""
  mask = None if config.weight_decay_on_bn_and_bias else weight_decay_mask
  wd = config.weight_decay
  name = config.optimizer
  parts = []
  if config.grad_clip_norm > 0:
    parts.append(optax.clip_by_global_norm(config.grad_clip_norm))
  if name == 'adamw':
    parts.append(
      optax.adamw(
        schedule, b1=config.b1, b2=config.b2, weight_decay=wd, mask=mask
      )
    )
    return optax.chain(*parts)
  if wd > 0:  # coupled L2: the gradient of wd/2 * |w|^2, as in SGD papers.
    parts.append(optax.add_decayed_weights(wd, mask))
  if name == 'sgd':
    parts.append(
      optax.sgd(
        schedule, momentum=config.momentum or None, nesterov=config.nesterov
      )
    )
  elif name == 'adam':
    parts.append(optax.adam(schedule, b1=config.b1, b2=config.b2))
  elif name == 'rmsprop':
    parts.append(
      optax.rmsprop(
        schedule,
        decay=config.rmsprop_decay,
        eps=config.rmsprop_eps,
        initial_scale=config.get('rmsprop_initial_scale', 0.0),
        eps_in_sqrt=config.get('rmsprop_eps_in_sqrt', True),
        momentum=config.momentum or None,
      )
    )
  else:
    raise ValueError(
      f'Unknown optimizer {name!r}; known: sgd, adam, adamw, rmsprop.'
    )
  return optax.chain(*parts)
