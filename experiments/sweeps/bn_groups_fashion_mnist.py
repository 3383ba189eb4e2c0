"""Ablation 3: cross-device BatchNorm vs per-device ('ghost') BatchNorm.

ResNet-20 on Fashion-MNIST, global batch 256 over 8 devices (32 per device),
16 epochs. ``bn_group_size=0``: BatchNorm statistics over the whole global
batch of 256 (cross-device BN, synchronized by XLA). ``bn_group_size=32``:
statistics per group of 32 examples, i.e. per device (the behaviour of plain
``pmap`` BN without ``axis_name``); 16 and 8: smaller "ghost" batches
(Hoffer et al. 2017). Accuracy and training speed.
"""

from experiments.sweep import grid

NAME = 'bn_groups_fashion_mnist'
TITLE = 'Ablation 3: cross-device vs per-device (ghost) BatchNorm (ResNet-20, Fashion-MNIST)'
DESCRIPTION = __doc__.split('\n', 2)[2]
CONFIG = 'configs/resnet20_fashion_mnist.py'
COMMON = dict(
  batch_size=256,
  num_devices=8,
  host_devices=8,  # on a CPU: 8 XLA host devices (no effect on GPUs)
  num_epochs=16.0,
  lr_boundaries=(8, 12),
  learning_rate=0.2,
  validation_examples=5000,
  eval_batch_size=1000,
  log_every_steps=50,
)
RUNS = grid(
  'bngroup{bn_group_size}_seed{seed}',
  {'bn_group_size': [0, 32, 16, 8], 'seed': [0, 1]},
  labels=lambda c: {
    'BN statistics over': (
      'global batch (256)'
      if c['bn_group_size'] == 0
      else f'groups of {c["bn_group_size"]}'
    )
  },
)
COLUMNS = [
  'BN statistics over',
  'bn_group_size',
  'val_acc',
  'test_acc',
  'img_s',
  'wall',
]
PLOTS = [
  dict(
    kind='bars',
    name='bars',
    metrics=['test_acc', 'img_s'],
    title='BatchNorm statistics: accuracy and speed',
  ),
  dict(
    kind='curves', name='curves', tags=['train_loss', 'validation_accuracy']
  ),
]
NOTES = (
  "Not run on the CPU of this repo's development machine (16 epochs x "
  '8 runs). Run it on an accelerator.'
)
