"""The seed report's ResNetPreAct (UvA DL course tutorial 5) on CIFAR-10.

Run:
  python -m cnn_jax.main --config=configs/preact_resnet_seed_cifar10.py --workdir=/tmp/preact_resnet_seed

Model: ``preact_resnet_seed`` (272,250 parameters): the seed's ResNet with
pre-activation blocks (BN-ReLU-conv-BN-ReLU-conv, He et al. 2016 "Identity
Mappings"); subsampling shortcuts are BN-ReLU-conv1x1 (stride 2, no bias) of
their own; no BN-ReLU after the stem conv or before the pooling. The
post-activation twin has its own config (resnet_seed_cifar10.py).

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
  c.model = 'preact_resnet_seed'
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
