"""GoogLeNet as in Szegedy et al. 2015 (no BatchNorm, LRN, 5x5 branches).

Run:
  python -m cnn_jax.main --config=configs/googlenet_2014_imagenet.py --workdir=/tmp/googlenet_2014

Model: ``googlenet_2014`` (13,378,280 parameters with the two auxiliary
classifiers, 6,998,552 without): the paper's Table 1, dropout 0.4, aux heads
on 4a and 4d (dropout 0.7) whose losses are added with weight 0.3.

Recipe: the paper gives only "asynchronous SGD, momentum 0.9, learning rate
decreased by 4% every 8 epochs, Polyak averaging" with no initial lr. This
config follows Caffe's bvlc_googlenet quick solver instead, which trains the
same network without BatchNorm: lr 0.01 per 32 images (scaled linearly to
batch 256, with 5 warmup epochs since there is no BatchNorm to absorb the
larger steps), weight decay 2e-4 on all weights, 60 epochs; its poly-0.5 decay
is replaced by cosine and no label smoothing. The paper's Polyak averaging
of the weights for inference is the 0.9999 moving average (``ema_decay``,
with TensorFlow's ramp), evaluated beside the raw weights. A reasonable
starting point, not a validated recipe.

Expect: the paper reports 10.07% top-5 error for one model on one crop (its
numbers use their own data augmentation); not run in this repo. Runtime: not
measured (needs accelerators).
"""

from configs import imagenet


def get_config():
  c = imagenet.get_config('googlenet_2014', image_size=224)
  c.batch_size = 256
  c.eval_batch_size = 512
  c.learning_rate = 0.01
  c.lr_scaling_base_batch = 32
  c.weight_decay = 2e-4
  c.weight_decay_on_bn_and_bias = True
  c.num_epochs = 60.0
  c.label_smoothing = 0.0
  c.aux_loss_weight = 0.3
  c.ema_decay = 0.9999
  c.ema_warmup = True
  return c
