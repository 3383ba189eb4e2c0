"""DenseNet-BC (L=100, k=12) on CIFAR-10 with Huang et al.'s recipe.

Run:
  python -m cnn_jax.main --config=configs/densenet_bc_100_12_cifar10.py --workdir=/tmp/densenet_bc_100_12

Recipe (Huang et al. 2017, section 4.2): SGD with Nesterov momentum 0.9, batch
64, lr 0.1 divided by 10 at 50% and 75% of 300 epochs (150, 225), weight decay
1e-4, standard augmentation (4-pixel pad + random crop, horizontal flip), no
dropout. Other sizes: --config.model=densenet_bc_250_24 or densenet_bc_190_40.

Expect: the paper reports 4.51% test error (95.49% accuracy) on augmented
CIFAR-10 (C10+) with 0.8M parameters; not run in this repo. Runtime: not
measured.
"""

from configs import base


def get_config():
  c = base.get_config()
  c.model = 'densenet_bc_100_12'
  c.dataset = 'cifar10'
  c.augment = 'crop_pad,flip'
  c.crop_padding = 4
  c.batch_size = 64
  c.num_epochs = 300.0
  c.optimizer = 'sgd'
  c.learning_rate = 0.1
  c.momentum = 0.9
  c.nesterov = True
  c.weight_decay = 1e-4
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (150, 225)
  c.lr_decay_factor = 0.1
  return c
