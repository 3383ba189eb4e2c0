"""DenseNet-121 on ImageNet with the DenseNet paper's recipe (Huang et al. 2017).

Run:
  python -m cnn_jax.main --config=configs/densenet121_imagenet.py --workdir=/tmp/densenet121

Other depths with the same recipe: add --config.model=densenet161 (or
densenet169, densenet201, densenet264, densenet121_keras).

Recipe (paper, section 4.1 / Table 3): batch 256, SGD with Nesterov momentum
0.9, lr 0.1 divided by 10 at epochs 30 and 60, 90 epochs, weight decay 1e-4 on
all parameters (as the authors' Lua code), standard ResNet augmentation
(random-sized crop + flip), 224x224. Needs imagenet2012 in TFDS.

Expect: the paper reports 25.02% top-1 error (74.98% top-1) single-crop for
DenseNet-121; torchvision's weights, ported from the authors' models, give
74.434% top-1. Not run in this repo.
"""

from configs import imagenet


def get_config():
  c = imagenet.get_config('densenet121', image_size=224)
  c.batch_size = 256
  c.learning_rate = 0.1
  c.lr_scaling_base_batch = 256
  c.nesterov = True
  c.weight_decay = 1e-4
  c.weight_decay_on_bn_and_bias = True
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (30, 60)
  c.lr_decay_factor = 0.1
  c.warmup_epochs = 0.0
  c.label_smoothing = 0.0
  c.num_epochs = 90.0
  return c
