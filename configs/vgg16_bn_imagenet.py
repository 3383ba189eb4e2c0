"""VGG-16 with BatchNorm on ImageNet, torchvision's recipe.

Run:
  python -m cnn_jax.main --config=configs/vgg16_bn_imagenet.py --workdir=/tmp/vgg16_bn

Model: ``vgg16_bn`` = torchvision.models.vgg16_bn (138,365,992 parameters).
Same recipe for --config.model=vgg11_bn, vgg13_bn or vgg19_bn.

Recipe: torchvision trained its VGG-BN weights with the AlexNet/VGG reference
command (lr 0.01 per 256 images, SGD momentum 0.9, weight decay 1e-4, lr x0.1
at epochs 30 and 60, 90 epochs), kept here; data as in configs/imagenet.py.

Expect: torchvision's IMAGENET1K_V1 top-1: vgg11_bn 70.37%, vgg13_bn 71.586%,
vgg16_bn 73.36%, vgg19_bn 74.218%; not run in this repo. Runtime: not
measured (needs accelerators).
"""

from configs import imagenet


def get_config():
  c = imagenet.get_config('vgg16_bn', image_size=224)
  c.learning_rate = 0.01
  c.lr_scaling_base_batch = 256
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (30, 60)
  c.lr_decay_factor = 0.1
  c.warmup_epochs = 0.0
  c.label_smoothing = 0.0
  c.weight_decay_on_bn_and_bias = True
  return c
