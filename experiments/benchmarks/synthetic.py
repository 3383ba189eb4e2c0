"""cnn_jax configs for timing a registered model on synthetic data.

Shared by the peer benchmark (``torch_peer``) and the CPU settings ablation
(``cpu_settings``); imports neither PyTorch nor anything that starts JAX.
"""
from __future__ import annotations

from typing import Optional, Sequence


def jax_config(model: str, batch_size: int, dtype: str,
               num_classes: int = 0,
               image_shape: Optional[Sequence[int]] = None):
  """A cnn_jax config training ``model`` on synthetic data of its shape.

  ``image_shape``: (H, W, C) instead of the model's registered input shape
  (e.g. MobileNetV2 on 32x32 images).
  """
  from cnn_jax import models  # pylint: disable=g-import-not-at-top
  from configs import base  # pylint: disable=g-import-not-at-top
  spec = models.get_spec(model)
  c = base.get_config()
  c.model = model
  c.dtype = dtype
  c.dataset = 'synthetic'
  c.synthetic_shape = tuple(image_shape or spec.input_shape)
  c.synthetic_classes = num_classes or spec.num_classes
  c.synthetic_examples = 2 * batch_size
  c.validation_examples = 0
  c.batch_size = batch_size
  c.eval_batch_size = batch_size
  c.optimizer = 'sgd'
  c.learning_rate = 0.1
  c.momentum = 0.9
  c.weight_decay = 0.0
  c.lr_schedule = 'constant'
  return c

