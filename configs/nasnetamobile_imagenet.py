"""NASNet-A Mobile (4 @ 1056) on ImageNet at 224x224 (Zoph et al. 2018).

Run:
  python -m cnn_jax.main --config=configs/nasnetamobile_imagenet.py --workdir=/tmp/nasnetamobile

Recipe (paper appendix; TF-slim's NASNet training setup as reproduced in
MindSpore's NASNet-A-Mobile config): RMSProp (decay 0.9, momentum 0.9,
epsilon 1.0), lr 0.04 per 32 images (0.32 at batch 256) decayed by 0.97 every
2.4 epochs, label smoothing 0.1, weight decay 4e-5 (not on BN), dropout 0.5
before the classifier, the auxiliary head on the last normal cell before the
second reduction cell with loss weight 0.4 (TF-slim's ``nasnet.py`` and
``train_image_classifier.py``). ScheduledDropPath is off for Mobile on ImageNet
(TF-slim's ``mobile_imagenet_config``: keep probability 1.0); Large uses it.
The epoch count is not in the paper; MindSpore trains 600 epochs (used here).

Expect: the paper reports 74.0% top-1 (Keras' ported weights: 74.4%). Not run
in this repo.
"""

from configs import imagenet


def get_config():
  c = imagenet.get_config('nasnetamobile', image_size=224)
  c.model_kwargs.dropout_rate = 0.5
  c.model_kwargs.aux_logits = True
  c.aux_loss_weight = 0.4
  c.batch_size = 256
  c.optimizer = 'rmsprop'
  c.rmsprop_decay = 0.9
  c.rmsprop_eps = 1.0
  c.rmsprop_initial_scale = 1.0  # TensorFlow 1: mean square from 1
  c.momentum = 0.9
  c.learning_rate = 0.04
  c.lr_scaling_base_batch = 32
  c.lr_schedule = 'exponential'
  c.lr_decay_factor = 0.97
  c.lr_decay_epochs = 2.4
  c.warmup_epochs = 0.0
  c.weight_decay = 4e-5
  c.weight_decay_on_bn_and_bias = False
  c.label_smoothing = 0.1
  c.num_epochs = 600.0
  return c
