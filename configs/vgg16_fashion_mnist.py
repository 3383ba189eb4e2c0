"""VGG-16 on Fashion-MNIST, images resized to 32x32.

Run:
  python -m cnn_jax.main --config=configs/vgg16_fashion_mnist.py --workdir=/tmp/vgg16_fmnist

Model: torchvision's ``vgg16`` (configuration D, no BatchNorm) with one input
channel. At 32x32 the five max-pools leave a 1x1x512 map. torchvision's
adaptive pooling would copy it 49 times into the 25088-wide fc6 (which then
acts as a 512-wide layer with a 49x larger effective learning rate), so this
config pools to 1x1 instead (``model_kwargs.avgpool_size=1``): FC
512-4096-4096-10, 33.6M parameters. --config.model_kwargs.avgpool_size=7
restores torchvision's head; --config.model=vgg16_bn adds BatchNorm.

Recipe: SGD momentum 0.9, lr 0.01 (no BatchNorm) with 1 warmup epoch and
cosine decay, weight decay 5e-4, batch 128, 30 epochs, 4-pixel pad + random
crop and horizontal flips at 32x32.

Expect: no published reference for this exact setup and not run in this repo.
"""

from configs import base


def get_config():
  c = base.get_config()
  c.model = 'vgg16'
  c.model_kwargs.avgpool_size = 1
  c.dataset = 'fashion_mnist'
  c.image_size = 32
  c.augment = 'crop_pad,flip'
  c.crop_padding = 4
  c.batch_size = 128
  c.num_epochs = 30.0
  c.optimizer = 'sgd'
  c.learning_rate = 0.01
  c.momentum = 0.9
  c.weight_decay = 5e-4
  c.lr_schedule = 'cosine'
  c.warmup_epochs = 1.0
  return c
