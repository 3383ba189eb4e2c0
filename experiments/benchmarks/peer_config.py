"""The cnn_jax config that the PyTorch peer benchmark times (no torch import).

``torch_peer`` and the GPU campaign (``experiments/gpu``) time our train step
with this config; the campaign does so in a process without PyTorch.
"""

from __future__ import annotations

from typing import Optional


def define_model_flags(
  model: str, image_size: int, channels: int, dtype: str = 'float32'
) -> None:
  """absl flags for the model and input a benchmark command times (the
  arguments of :func:`jax_config`): --model, --batch_size, --image_size,
  --channels, --num_classes, --dtype, with these defaults."""
  from absl import flags  # pylint: disable=g-import-not-at-top

  flags.DEFINE_string('model', model, 'Model (registry).')
  flags.DEFINE_integer('batch_size', 128, 'Global batch.')
  flags.DEFINE_integer('image_size', image_size, 'Input height and width.')
  flags.DEFINE_integer('channels', channels, 'Input channels.')
  flags.DEFINE_integer('num_classes', 10, 'Classes.')
  flags.DEFINE_enum('dtype', dtype, ['float32', 'bfloat16'], 'Compute dtype.')


def jax_config(
  model: str,
  batch_size: int,
  dtype: str,
  num_classes: int = 0,
  input_shape: Optional[tuple[int, int, int]] = None,
):
  """A cnn_jax config training ``model`` on synthetic data of its shape.

  SGD with momentum 0.9, lr 0.1, no weight decay, constant schedule: the
  PyTorch twin's optimizer. ``input_shape`` replaces the model's native input
  shape (toy sizes for dry runs).
  """
  from cnn_jax import models  # pylint: disable=g-import-not-at-top
  from configs import base  # pylint: disable=g-import-not-at-top

  spec = models.get_spec(model)
  c = base.get_config()
  c.model = model
  c.dtype = dtype
  c.dataset = 'synthetic'
  c.synthetic_shape = tuple(input_shape or spec.input_shape)
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
