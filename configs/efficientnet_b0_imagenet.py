"""EfficientNet-B0 on ImageNet at 224x224 (Tan & Le 2019).

Run:
  python -m cnn_jax.main --config=configs/efficientnet_b0_imagenet.py --workdir=/tmp/efficientnet_b0

Recipe (paper, section 5.2, and the authors' TPU code for what the paper
leaves out): RMSProp decay 0.9, momentum 0.9, epsilon 1e-3; lr 0.016 per 256
images (0.256 at batch 4096) with 5 warm-up epochs, then decayed by 0.97
every 2.4 epochs; weight decay 1e-5 (not on BatchNorm; here not on biases
either); label smoothing 0.1; 350 epochs; SiLU; dropout 0.2 (B0) to 0.5 (B7)
before the classifier and stochastic depth 0.2 (both model defaults);
Inception-style crops, evaluation on a central crop of size / (size + 32);
AutoAugment (here torchvision's ImageNet policy; the TPU code's default
'v0' policy has other sub-policies); the 0.9999 moving average of the weights
and BatchNorm statistics with TensorFlow's ramp (decay min(0.9999, (1 + step)
/ (10 + step))), evaluated and kept if better.

Expect: the paper reports 77.1% top-1 for B0; torchvision's weights (ported
from the authors' TF checkpoint, trained with this recipe) give 77.692%.
Not run in this repo.
"""

from configs import imagenet

RESOLUTION = {
  'b0': 224,
  'b1': 240,
  'b2': 260,
  'b3': 300,
  'b4': 380,
  'b5': 456,
  'b6': 528,
  'b7': 600,
}


def efficientnet_config(variant: str):
  """The recipe above for ``efficientnet_<variant>`` at its resolution."""
  size = RESOLUTION[variant]
  c = imagenet.get_config(f'efficientnet_{variant}', image_size=size)
  c.eval_crop_fraction = size / (size + 32)
  c.batch_size = 4096
  c.optimizer = 'rmsprop'
  c.rmsprop_decay = 0.9
  c.rmsprop_eps = 1e-3
  c.rmsprop_initial_scale = 1.0  # TensorFlow 1: mean square from 1
  c.momentum = 0.9
  c.learning_rate = 0.016
  c.lr_scaling_base_batch = 256
  c.lr_schedule = 'exponential'
  c.lr_decay_factor = 0.97
  c.lr_decay_epochs = 2.4
  c.warmup_epochs = 5.0
  c.weight_decay = 1e-5
  c.weight_decay_on_bn_and_bias = False
  c.label_smoothing = 0.1
  c.num_epochs = 350.0
  c.auto_augment = 'autoaugment'
  c.ema_decay = 0.9999
  c.ema_warmup = True
  return c


def get_config():
  return efficientnet_config('b0')
