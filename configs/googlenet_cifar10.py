"""The seed report's small GoogleNet (UvA DL course tutorial 5) on CIFAR-10.

Run:
  python -m cnn_jax.main --config=configs/googlenet_cifar10.py --workdir=/tmp/googlenet_cifar

Model: ``googlenet_cifar`` (260,650 parameters): 3x3 conv-64 stem, eight
inception blocks (conv-BN-ReLU branches 1x1 | 1x1-3x3 | 1x1-5x5 | maxpool-1x1)
with two 3/2 max-pools, global average pooling, linear 128 -> 10.

Recipe of the seed report: AdamW (the tutorial's "Adam" option builds
torch.optim.AdamW) lr 1e-3, weight decay 1e-4, lr x0.1 at epochs 100 and 150,
180 epochs, batch 128, random crop with 4-pixel padding + horizontal flip.
(The tutorial's notebook itself augments with RandomResizedCrop(scale 0.8-1.0,
ratio 0.9-1.1) + flip: --config.augment=rrc,flip --config.image_size=32
--config.rrc_scale='(0.8, 1.0)' --config.rrc_ratio='(0.9, 1.1)'.)

Expect: the tutorial reports roughly 90% CIFAR-10 test accuracy for this
model; not run in this repo. Runtime: not measured.
"""
from configs import base


def get_config():
  c = base.get_config()
  c.model = 'googlenet_cifar'
  c.dataset = 'cifar10'
  c.augment = 'crop_pad,flip'
  c.crop_padding = 4
  c.batch_size = 128
  c.num_epochs = 180.0
  c.optimizer = 'adamw'
  c.learning_rate = 1e-3
  c.weight_decay = 1e-4
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (100, 150)
  c.lr_decay_factor = 0.1
  return c
