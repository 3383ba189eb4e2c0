"""The seed report's DenseNet (UvA DL course tutorial 5) on CIFAR-10.

Run:
  python -m cnn_jax.main --config=configs/densenet_seed_cifar10.py --workdir=/tmp/densenet_seed

Model: densenet_seed (239,146 parameters): four blocks of 6 layers, growth 16,
bottleneck 2 x 16. Recipe of the seed report: Adam lr 1e-3 with (coupled) L2
weight decay 1e-4, lr x0.1 at epochs 100 and 150, 180 epochs, batch 128,
random crop with 4-pixel padding + horizontal flip. (The tutorial's notebook
itself augments with RandomResizedCrop(scale 0.8-1.0, ratio 0.9-1.1) + flip:
--config.augment=rrc,flip --config.rrc_scale='(0.8, 1.0)'
--config.rrc_ratio='(0.9, 1.1)'.)

Expect: the tutorial reports roughly 90-91% CIFAR-10 test accuracy for this
model; not run in this repo. Runtime: not measured.
"""
from configs import base


def get_config():
  c = base.get_config()
  c.model = 'densenet_seed'
  c.dataset = 'cifar10'
  c.augment = 'crop_pad,flip'
  c.crop_padding = 4
  c.batch_size = 128
  c.num_epochs = 180.0
  c.optimizer = 'adam'
  c.learning_rate = 1e-3
  c.weight_decay = 1e-4
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (100, 150)
  c.lr_decay_factor = 0.1
  return c
