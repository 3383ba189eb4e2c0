"""AlexNet (torchvision's variant) on Fashion-MNIST, images resized to 64x64.

Run:
  python -m cnn_jax.main --config=configs/alexnet_fashion_mnist.py --workdir=/tmp/alexnet_fmnist

Model: torchvision's ``alexnet`` with one input channel. At 64x64 the 11x11/4
stem and three max-pools leave a 1x1x256 map; torchvision's adaptive pooling
would copy it 36 times into the 9216-wide fc6, so this config pools to 1x1
instead (``model_kwargs.avgpool_size=1``): FC 256-4096-4096-10, 20.3M
parameters. --config.model_kwargs.avgpool_size=6 restores torchvision's head
(and --config.image_size=224 the d2l.ai "AlexNet on Fashion-MNIST" setting).

Recipe: SGD momentum 0.9, lr 0.01 (no BatchNorm) with cosine decay, weight
decay 5e-4, batch 128, 20 epochs, 4-pixel pad + random crop and horizontal
flips at 64x64.

Expect: no published reference for this exact setup and not run in this repo.
"""

from configs import base


def get_config():
  c = base.get_config()
  c.model = 'alexnet'
  c.model_kwargs.avgpool_size = 1
  c.dataset = 'fashion_mnist'
  c.image_size = 64
  c.augment = 'crop_pad,flip'
  c.crop_padding = 4
  c.batch_size = 128
  c.num_epochs = 20.0
  c.optimizer = 'sgd'
  c.learning_rate = 0.01
  c.momentum = 0.9
  c.weight_decay = 5e-4
  c.lr_schedule = 'cosine'
  return c
