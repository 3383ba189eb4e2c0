"""DenseNet-BC (L=100, k=12) on Fashion-MNIST (28x28x1, native size).

Run:
  python -m cnn_jax.main --config=configs/densenet_bc_100_12_fashion_mnist.py --workdir=/tmp/densenet_bc_fmnist

Huang et al.'s CIFAR recipe (SGD Nesterov 0.9, batch 64, lr 0.1 divided by 10
at 50% and 75% of training, weight decay 1e-4) shortened to 40 epochs, with
2-pixel pad + random crop and horizontal flips. The dense blocks run at 28x28,
14x14 and 7x7.

Expect: no published reference for this exact setup and not run in this repo.
"""

from configs import base


def get_config():
  c = base.get_config()
  c.model = 'densenet_bc_100_12'
  c.dataset = 'fashion_mnist'
  c.augment = 'crop_pad,flip'
  c.crop_padding = 2
  c.batch_size = 64
  c.num_epochs = 40.0
  c.optimizer = 'sgd'
  c.learning_rate = 0.1
  c.momentum = 0.9
  c.nesterov = True
  c.weight_decay = 1e-4
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (20, 30)
  c.lr_decay_factor = 0.1
  return c
