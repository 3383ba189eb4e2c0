"""MobileNet v2 (1.0, 224) on ImageNet: torchvision's recipe (Sandler et al. 2018).

Run:
  python -m cnn_jax.main --config=configs/mobilenet_v2_imagenet.py --workdir=/tmp/mobilenet_v2

Other widths: --config.model_kwargs.width_mult=0.75 (torchvision's rule:
channels make_divisible(c * width, 8), last conv 1280 * max(1, width)).

Recipe: torchvision's reference for its ``IMAGENET1K_V1`` weights
(``train.py --model mobilenet_v2 --epochs 300 --lr 0.045 --wd 0.00004
--lr-step-size 1 --lr-gamma 0.98`` on 8 GPUs x batch 32): batch 256, SGD
momentum 0.9, lr 0.045 (scaled linearly from 256 images) x0.98 after every
epoch, weight decay 4e-5 on every parameter, 300 epochs, RandomResizedCrop
224 + flip, evaluation on the central 224 of 256, no label smoothing; dropout
0.2 before the classifier (the model's default).

The paper's own recipe (section 6.1: RMSProp decay and momentum 0.9, lr
0.045 x0.98 per epoch, weight decay 4e-5, 16 asynchronous workers of batch
96, TF-slim's epsilon 1.0 and label smoothing 0.1, 0.9999 weight EMA) is::

  --config.optimizer=rmsprop --config.rmsprop_eps=1.0 --config.batch_size=96
  --config.lr_scaling_base_batch=96 --config.label_smoothing=0.1
  --config.ema_decay=0.9999 --config.ema_warmup=True
  --config.augment=inception_crop,flip --config.weight_decay_on_bn_and_bias=False

(the paper reports 72.0% top-1 with it).

Expect: 71.878% top-1 (torchvision's ``_metrics``). Not run in this repo.
"""

from configs import imagenet


def get_config():
  c = imagenet.get_config('mobilenet_v2', image_size=224)
  c.augment = 'rrc,flip'
  c.batch_size = 256
  c.optimizer = 'sgd'
  c.momentum = 0.9
  c.learning_rate = 0.045
  c.lr_scaling_base_batch = 256
  c.lr_schedule = 'exponential'
  c.lr_decay_factor = 0.98
  c.lr_decay_epochs = 1.0
  c.warmup_epochs = 0.0
  c.weight_decay = 4e-5
  c.weight_decay_on_bn_and_bias = True
  c.label_smoothing = 0.0
  c.num_epochs = 300.0
  return c
