"""Xception on ImageNet at 299x299 with Chollet's recipe (Chollet 2017).

Run:
  python -m cnn_jax.main --config=configs/xception_imagenet.py --workdir=/tmp/xception

Recipe (paper, section 4.3): SGD momentum 0.9, initial lr 0.045 decayed by
0.94 every 2 epochs, weight decay (L2) 1e-5, dropout 0.5 before the classifier.
The paper gives neither the batch size nor the epoch count (it trained on 60
GPUs with the Inception-v3 setup): this config takes batch 256 with the lr
unscaled and 100 epochs; both are guesses to tune. Inception-style crop + flip
at 299, central 87.5% crop for evaluation. Use --config.model=legacy_xception
for timm's padding/BN conventions.

Expect: the paper reports 79.0% top-1 (single crop, 299); Keras' and timm's
ported weights report the same. Not run in this repo.
"""

from configs import imagenet


def get_config():
  c = imagenet.get_config('xception', image_size=299)
  c.model_kwargs.dropout_rate = 0.5
  c.batch_size = 256
  c.optimizer = 'sgd'
  c.momentum = 0.9
  c.nesterov = False
  c.learning_rate = 0.045
  c.lr_scaling_base_batch = 0
  c.lr_schedule = 'exponential'
  c.lr_decay_factor = 0.94
  c.lr_decay_epochs = 2.0
  c.warmup_epochs = 0.0
  c.weight_decay = 1e-5
  c.label_smoothing = 0.0
  c.num_epochs = 100.0
  return c
