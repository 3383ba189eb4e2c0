"""Plain-20 (He et al. 2016's plain baseline) on Fashion-MNIST at 28x28x1.

Run:
  python -m cnn_jax.main --config=configs/plain20_fashion_mnist.py --workdir=/tmp/plain20_fmnist

Model: ``plain20``: ResNet-20's layers without the shortcut additions (same
269,434 parameters for 1 channel, option A shortcuts having none), at native
28x28 (stages at 28/14/7; see resnet20_fashion_mnist.py, whose recipe this
shares so that the two runs compare residual vs plain).

Recipe: the paper's CIFAR recipe (SGD momentum 0.9, lr 0.1, weight decay 1e-4,
batch 128, lr x0.1 at 50% and 75% of training) shortened to 40 epochs, with
2-pixel pad + random crop and horizontal flips.

Expect: no published reference for this exact setup and not run in this repo.
"""

from configs import base


def get_config():
  c = base.get_config()
  c.model = 'plain20'
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
