"""The seed report's ResNet (UvA DL course tutorial 5) on CIFAR-10.

Run:
  python -m cnn_jax.main --config=configs/resnet_seed_cifar10.py --workdir=/tmp/resnet_seed

Model: ``resnet_seed`` (272,378 parameters): ResNet with [3, 3, 3] basic
blocks of 16/32/64 channels; subsampling blocks use a 1x1 stride-2 conv with
bias (no BN) as shortcut. The pre-activation twin has its own config
(preact_resnet_seed_cifar10.py).

Recipe of the seed report: SGD momentum 0.9, lr 0.1, weight decay 1e-4, lr
x0.1 at epochs 100 and 150, 180 epochs, batch 128, 4-pixel pad + random crop
and horizontal flips. (The tutorial's notebook itself augments with
RandomResizedCrop(scale 0.8-1.0, ratio 0.9-1.1) + flip:
--config.augment=rrc,flip --config.rrc_scale='(0.8, 1.0)'
--config.rrc_ratio='(0.9, 1.1)'.)

Expect: the tutorial reports roughly 91-92% CIFAR-10 test accuracy for this
model; not run in this repo. Runtime: not measured.
"""
from configs import base


def get_config():
  c = base.get_config()
  c.model = 'resnet_seed'
  c.dataset = 'cifar10'
  c.augment = 'crop_pad,flip'
  c.crop_padding = 4
  c.batch_size = 128
  c.num_epochs = 180.0
  c.optimizer = 'sgd'
  c.learning_rate = 0.1
  c.momentum = 0.9
  c.weight_decay = 1e-4
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (100, 150)
  c.lr_decay_factor = 0.1
  return c
