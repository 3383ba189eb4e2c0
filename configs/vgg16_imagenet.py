"""VGG-16 (configuration D) on ImageNet, torchvision's recipe.

Run:
  python -m cnn_jax.main --config=configs/vgg16_imagenet.py --workdir=/tmp/vgg16

Model: ``vgg16`` = torchvision.models.vgg16 (138,357,544 parameters). The other
VGGs without BatchNorm use the same recipe: --config.model=vgg11 (A),
vgg11_lrn (A-LRN), vgg13 (B), vgg16_c (C, with 1x1 convs) or vgg19 (E). For the
BatchNorm variants see configs/vgg16_bn_imagenet.py.

Recipe: torchvision's reference for AlexNet and VGG: lr 0.01 per 256 images
(no BatchNorm, so not 0.1), SGD momentum 0.9, weight decay 1e-4 on all weights,
lr x0.1 at epochs 30 and 60, 90 epochs, no warmup, no label smoothing. Data as
in configs/imagenet.py. (The paper itself: batch 256, lr 0.01 divided by 10
three times, weight decay 5e-4, 74 epochs, deeper nets initialized from A.)

Expect: torchvision's IMAGENET1K_V1 top-1: vgg11 69.02%, vgg13 69.928%, vgg16
71.592%, vgg19 72.376%; not run in this repo.
"""

from configs import imagenet


def get_config():
  c = imagenet.get_config('vgg16', image_size=224)
  c.learning_rate = 0.01
  c.lr_scaling_base_batch = 256
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (30, 60)
  c.lr_decay_factor = 0.1
  c.warmup_epochs = 0.0
  c.label_smoothing = 0.0
  c.weight_decay_on_bn_and_bias = True
  return c
