"""Ablation 4: float32 vs bfloat16 compute.

ResNet-20 on Fashion-MNIST, 16 epochs, batch 128, ``dtype`` float32 or
bfloat16 (the compute dtype of convolutions, matmuls and BatchNorm; the
parameters, the optimizer state and the loss stay float32). Accuracy and
speed. bfloat16 pays off on accelerators with bf16 units (TPU, Ampere+
GPUs); on a CPU without them it is emulated and usually slower.
"""

from experiments.sweep import grid

NAME = 'precision_fashion_mnist'
TITLE = 'Ablation 4: float32 vs bfloat16 compute (ResNet-20, Fashion-MNIST)'
DESCRIPTION = __doc__.split('\n', 2)[2]
CONFIG = 'configs/resnet20_fashion_mnist.py'
COMMON = dict(
  num_epochs=16.0,
  lr_boundaries=(8, 12),
  validation_examples=5000,
  eval_batch_size=1000,
  log_every_steps=50,
)
RUNS = grid(
  '{dtype}_seed{seed}', {'dtype': ['float32', 'bfloat16'], 'seed': [0, 1]}
)
COLUMNS = ['dtype', 'val_acc', 'test_acc', 'val_loss', 'img_s', 'wall']
PLOTS = [
  dict(
    kind='bars',
    name='bars',
    metrics=['test_acc', 'img_s'],
    title='float32 vs bfloat16: accuracy and speed',
  ),
  dict(
    kind='curves', name='curves', tags=['train_loss', 'validation_accuracy']
  ),
]
NOTES = (
  "Not run on the CPU of this repo's development machine (16 epochs x "
  '4 runs). Run it on an accelerator.'
)
