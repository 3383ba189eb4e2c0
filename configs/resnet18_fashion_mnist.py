"""ResNet-18 adapted to small images, on Fashion-MNIST at native 28x28x1.

Run:
  python -m cnn_jax.main --config=configs/resnet18_fashion_mnist.py --workdir=/tmp/resnet18_fmnist

Model: torchvision's ``resnet18`` with ``small_input_stem=True``: the 7x7/2
conv + max pool stem becomes a 3x3 stride-1 conv (the usual CIFAR
adaptation), so the four stages run at 28, 14, 7 and 4 pixels instead of
collapsing a 28x28 image to 1x1. 11.17M parameters with 10 classes and one
input channel.

Recipe: SGD momentum 0.9, lr 0.1, weight decay 5e-4, batch 128, cosine decay
over 30 epochs, 2-pixel pad + random crop and horizontal flips.

Expect: no published reference for this exact setup and not run in this repo.
"""

from configs import base


def get_config():
  c = base.get_config()
  c.model = 'resnet18'
  c.model_kwargs.small_input_stem = True
  c.dataset = 'fashion_mnist'
  c.augment = 'crop_pad,flip'
  c.crop_padding = 2
  c.batch_size = 128
  c.num_epochs = 30.0
  c.optimizer = 'sgd'
  c.learning_rate = 0.1
  c.momentum = 0.9
  c.weight_decay = 5e-4
  c.lr_schedule = 'cosine'
  return c
