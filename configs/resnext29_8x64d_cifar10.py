"""ResNeXt-29 8x64d on CIFAR-10 (Xie et al. 2017, section 5.3).

Run:
  python -m cnn_jax.main --config=configs/resnext29_8x64d_cifar10.py --workdir=/tmp/resnext29_8x64d

Model: ``resnext29_8x64d`` (34,426,698 parameters; the paper's 34.4M): three
stages of 3 bottlenecks with 256/512/1024 output channels and cardinality 8.
--config.model=resnext29_16x64d for the 68.1M model with the same recipe.

Recipe (paper): SGD momentum 0.9, batch 128, lr 0.1 divided by 10 at epochs
150 and 225, 300 epochs, weight decay 5e-4, 4-pixel pad + random crop and
horizontal flips.

Expect: the paper reports 3.65% CIFAR-10 test error (96.35% accuracy) for
ResNeXt-29 8x64d (3.58% for 16x64d); not run in this repo. Runtime: not
measured (needs an accelerator).
"""

from configs import base


def get_config():
  c = base.get_config()
  c.model = 'resnext29_8x64d'
  c.dataset = 'cifar10'
  c.augment = 'crop_pad,flip'
  c.crop_padding = 4
  c.batch_size = 128
  c.num_epochs = 300.0
  c.optimizer = 'sgd'
  c.learning_rate = 0.1
  c.momentum = 0.9
  c.weight_decay = 5e-4
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (150, 225)
  c.lr_decay_factor = 0.1
  return c
