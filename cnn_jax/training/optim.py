"""Optimizers and learning-rate schedules (optax) built from the config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import optax


def learning_rate_schedule(
  config, steps_per_epoch: int, total_steps: int
) -> optax.Schedule:
  """Warmup (linear from ``warmup_start_factor`` x lr) followed by the
  configured decay, per step (``lr_per_epoch``: per epoch, as torchvision)."""
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
  elif kind == 'linear':  # to 0 at the last step (the ShuffleNet recipe)
    main = optax.linear_schedule(base_lr, 0.0, decay_steps)
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
      f'Unknown lr_schedule {kind!r}; known: constant, cosine, linear, '
      'multistep, exponential.'
    )
  if warmup:
    main = optax.join_schedules(
      [
        optax.linear_schedule(
          base_lr * config.get('warmup_start_factor', 0.0), base_lr, warmup
        ),
        main,
      ],
      [warmup],
    )
  if config.get('lr_per_epoch', False):
    per_step, n = main, max(1, steps_per_epoch)
    # The value at the epoch's first step, held for the whole epoch.
    main = lambda step: per_step(step // n * n)
  return main


def weight_decay_mask(params):
  """True for the weights to decay: kernels, not BN scale/bias or biases."""
  return jax.tree.map(lambda p: p.ndim > 1, params)


_NORM_PARAMS = ('scale', 'bias')


def norm_mask(params):
  """True for the normalization layers' parameters: ``scale`` and ``bias`` of
  a layer without a ``kernel`` (Flax's BatchNorm and LayerNorm; a conv's or
  dense layer's bias and LayerScale's ``gamma`` are not)."""

  def visit(node):
    norm = 'kernel' not in node
    return {
      k: visit(v) if isinstance(v, Mapping) else norm and k in _NORM_PARAMS
      for k, v in node.items()
    }

  return visit(params)


def _decays(config) -> list[tuple[float, Any]]:
  """(coefficient, mask) of each weight decay term (mask None: all)."""
  norm_wd = config.get('norm_weight_decay')
  if norm_wd is not None:  # torchvision's --norm-weight-decay
    others = lambda p: jax.tree.map(lambda m: not m, norm_mask(p))  # noqa: E731
    return [(config.weight_decay, others), (norm_wd, norm_mask)]
  mask = None if config.weight_decay_on_bn_and_bias else weight_decay_mask
  return [(config.weight_decay, mask)]


def make_optimizer(
  config, schedule: optax.Schedule
) -> optax.GradientTransformation:
  """The configured optimizer, with clipping and weight decay around it."""
  decays = [optax.add_decayed_weights(wd, m) for wd, m in _decays(config) if wd]
  name = config.optimizer
  parts = []
  if config.grad_clip_norm > 0:
    parts.append(optax.clip_by_global_norm(config.grad_clip_norm))
  if name == 'adamw':
    if config.get('norm_weight_decay') is None:
      ((wd, mask),) = _decays(config)
      parts.append(
        optax.adamw(
          schedule, b1=config.b1, b2=config.b2, weight_decay=wd, mask=mask
        )
      )
    else:  # optax.adamw with two decay terms: decoupled, before the lr.
      parts.append(optax.scale_by_adam(b1=config.b1, b2=config.b2))
      parts.extend(decays)
      parts.append(optax.scale_by_learning_rate(schedule))
    return optax.chain(*parts)
  # coupled L2: the gradient of wd/2 * |w|^2, as in SGD papers.
  parts.extend(decays)
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
