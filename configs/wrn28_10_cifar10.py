"""Wide ResNet WRN-28-10 on CIFAR-10 (Zagoruyko & Komodakis 2016).

Run:
  python -m cnn_jax.main --config=configs/wrn28_10_cifar10.py --workdir=/tmp/wrn28_10

Model: ``wrn28_10`` (36,479,194 parameters; the paper's 36.5M) with dropout
0.3 between the two convs of every pre-activation unit. Same recipe for the
other widths/depths: --config.model=wrn16_8 or wrn40_4.

Recipe (paper, section 3): SGD with Nesterov momentum 0.9, lr 0.1 multiplied
by 0.2 at epochs 60, 120 and 160, 200 epochs, batch 128, weight decay 5e-4 on
all parameters, 4-pixel pad + random crop and horizontal flips.

Expect: the paper reports 3.89% CIFAR-10 test error (96.11% accuracy) for
WRN-28-10 with dropout (median of 5 runs); not run in this repo. Runtime: not
measured (about 5.2 G multiply-adds per image forward: needs an accelerator).
"""

from configs import base


def get_config():
  c = base.get_config()
  c.model = 'wrn28_10'
  c.model_kwargs.block_dropout_rate = 0.3
  c.dataset = 'cifar10'
  c.augment = 'crop_pad,flip'
  c.crop_padding = 4
  c.batch_size = 128
  c.num_epochs = 200.0
  c.optimizer = 'sgd'
  c.learning_rate = 0.1
  c.momentum = 0.9
  c.nesterov = True
  c.weight_decay = 5e-4
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (60, 120, 160)
  c.lr_decay_factor = 0.2
  return c
