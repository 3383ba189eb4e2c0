"""MobileNet v3 Large (1.0, 224) on ImageNet (Howard et al. 2019).

Run:
  python -m cnn_jax.main --config=configs/mobilenet_v3_large_imagenet.py --workdir=/tmp/mobilenet_v3_large

Other widths: --config.model_kwargs.width_mult=0.75.

Recipe (paper, section 6.1): synchronous training on a 4x4 TPU pod, RMSProp
with momentum 0.9, initial lr 0.1 at batch 4096 (scaled linearly from 4096
here), lr decay rate 0.01 every 3 epochs (x0.99 every 3 epochs), dropout 0.2
(keep probability 0.8), weight decay 1e-5, Inception preprocessing. Not in the
paper, taken from the TPU reference code MobileNet v3 shares with MnasNet and
EfficientNet: RMSProp decay 0.9 and epsilon 1e-3, 5 warm-up epochs, 350
epochs, label smoothing 0.1. Not reproduced: the 0.9999 moving average of
weights.

Expect: the paper reports 75.2% top-1; torchvision's weights (its own recipe)
give 74.042% (V1) / 75.274% (V2). Not run in this repo. Runtime: not measured
(needs accelerators).
"""

from configs import imagenet


def get_config(model='mobilenet_v3_large'):
  c = imagenet.get_config(model, image_size=224)
  c.batch_size = 4096
  c.optimizer = 'rmsprop'
  c.rmsprop_decay = 0.9
  c.rmsprop_eps = 1e-3
  c.momentum = 0.9
  c.learning_rate = 0.1
  c.lr_scaling_base_batch = 4096
  c.lr_schedule = 'exponential'
  c.lr_decay_factor = 0.99
  c.lr_decay_epochs = 3.0
  c.warmup_epochs = 5.0
  c.weight_decay = 1e-5
  c.weight_decay_on_bn_and_bias = False
  c.label_smoothing = 0.1
  c.num_epochs = 350.0
  return c
