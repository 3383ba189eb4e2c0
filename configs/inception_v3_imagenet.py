"""Inception-v3 on ImageNet at 299x299 with the paper's RMSProp recipe.

Run:
  python -m cnn_jax.main --config=configs/inception_v3_imagenet.py --workdir=/tmp/inception_v3

Model: ``inception_v3`` = torchvision.models.inception_v3, trained with its
auxiliary classifier (``model_kwargs.aux_logits=True``: 27,161,264
parameters, 23,834,568 at evaluation where the aux head is dropped), aux loss
weight 0.4 as in TF-slim. The Keras form: --config.model=inception_v3_keras
--config.model_kwargs.aux_logits=False.

Recipe (Szegedy et al. 2016, section 8): RMSProp with decay 0.9 and epsilon
1.0, lr 0.045 decayed by 0.94 every two epochs, gradient clipping at 2.0,
label smoothing 0.1, 100 epochs; weight decay 4e-5 (TF-slim's
inception_v3 arg scope). "Model evaluations are performed using a running
average of the parameters": the 0.9999 moving average of the TF inception
training code (``MOVING_AVERAGE_DECAY``, with ``num_updates=global_step``:
``ema_warmup``), evaluated beside the raw weights. The paper ran 50
asynchronous replicas of batch 32; this config uses one synchronous batch of
1024 and 5 warmup epochs. Data: Inception crop + flip at 299, central 87.5%
crop for evaluation. TensorFlow 1's RMSProp as optax's with
``rmsprop_initial_scale=1`` (its mean square starts at 1, epsilon inside the
root); one difference remains: TF accumulates lr x update in the momentum,
optax applies the current lr to the accumulated momentum, the same at a
constant lr and close under a decay of 0.94 per two epochs.

Expect: the paper reports 21.2% top-1 / 5.6% top-5 single-crop error
(78.8% top-1); torchvision's weights, ported from TF, give 77.294% top-1
(its ``_metrics``).
Not run in this repo.
"""

from configs import imagenet


def get_config():
  c = imagenet.get_config('inception_v3', image_size=299)
  c.model_kwargs.aux_logits = True
  c.aux_loss_weight = 0.4
  c.num_epochs = 100.0
  c.optimizer = 'rmsprop'
  c.rmsprop_decay = 0.9
  c.rmsprop_eps = 1.0
  c.rmsprop_initial_scale = 1.0  # TensorFlow 1: mean square from 1
  c.momentum = 0.9
  c.learning_rate = 0.045
  c.lr_scaling_base_batch = 0
  c.lr_schedule = 'exponential'
  c.lr_decay_factor = 0.94
  c.lr_decay_epochs = 2.0
  c.grad_clip_norm = 2.0
  c.weight_decay = 4e-5
  c.label_smoothing = 0.1
  c.ema_decay = 0.9999
  c.ema_warmup = True
  return c
