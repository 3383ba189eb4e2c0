"""ResNet-20 (He et al. 2016, CIFAR form) on Fashion-MNIST at native 28x28x1.

Run:
  python -m cnn_jax.main --config=configs/resnet20_fashion_mnist.py --workdir=/tmp/resnet20_fmnist

Model: ``resnet20`` with a 1-channel stem (269,434 parameters for 1 channel).
The 28x28 images are not padded or resized: the net is fully convolutional up
to its global average pooling, so its three stages simply run at 28x28, 14x14
and 7x7 (instead of 32/16/8), which keeps the even sizes option A's strided
subsampling needs and costs 23% fewer FLOPs than padding to 32x32 would. The
plain baseline has its own config (plain20_fashion_mnist.py).

Recipe: the paper's CIFAR recipe (SGD momentum 0.9, lr 0.1, weight decay 1e-4,
batch 128, lr x0.1 at 50% and 75% of training) shortened to 40 epochs, with
2-pixel pad + random crop and horizontal flips.

Expect: no published reference for this exact setup and not run in this repo.
"""

from configs import base


def get_config():
  c = base.get_config()
  c.model = 'resnet20'
  c.dataset = 'fashion_mnist'
  c.augment = 'crop_pad,flip'
  c.crop_padding = 2
  c.batch_size = 128
  c.num_epochs = 40.0
  c.optimizer = 'sgd'
  c.learning_rate = 0.1
  c.momentum = 0.9
  c.weight_decay = 1e-4
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (20, 30)
  c.lr_decay_factor = 0.1
  return c
