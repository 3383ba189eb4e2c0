"""Ablation 2: global batch size with the linear scaling rule and warmup.

ResNet-20 on Fashion-MNIST at a fixed budget of 16 epochs, global batch 128 to
4096, learning rate 0.1 x batch / 128 (``lr_scaling_base_batch=128``, Goyal et
al. 2017, "Accurate, Large Minibatch SGD") with a 2-epoch linear warmup from 0
and /10 at epochs 8 and 12. Same code path for every size: data parallel over
8 devices (GPUs, or XLA host devices on a CPU), BatchNorm over the global
batch. The question: does accuracy hold as the batch grows at a fixed epoch
budget (Goyal et al.: up to 8k on ImageNet), and where does it break?
"""

from experiments.sweep import grid

NAME = 'batch_size_fashion_mnist'
TITLE = 'Ablation 2: global batch size with linear lr scaling and warmup (ResNet-20, Fashion-MNIST)'
DESCRIPTION = __doc__.split('\n', 2)[2]
CONFIG = 'configs/resnet20_fashion_mnist.py'
COMMON = dict(
  num_epochs=16.0,
  lr_boundaries=(8, 12),
  learning_rate=0.1,
  lr_scaling_base_batch=128,
  warmup_epochs=2.0,
  num_devices=8,
  host_devices=8,  # on a CPU: 8 XLA host devices (no effect on GPUs)
  validation_examples=5000,
  eval_batch_size=1000,
  log_every_steps=50,
)
RUNS = grid(
  'batch{batch_size}_seed{seed}',
  {'batch_size': [128, 256, 512, 1024, 2048, 4096], 'seed': [0, 1]},
  labels=lambda c: {'lr': round(0.1 * c['batch_size'] / 128, 4)},
)
COLUMNS = ['batch_size', 'lr', 'steps', 'val_acc', 'test_acc', 'img_s', 'wall']
PLOTS = [
  dict(
    kind='acc_vs',
    name='acc_vs_batch',
    x='batch_size',
    logx=True,
    metric='test_acc',
    xlabel='global batch size (log scale)',
    title='Test accuracy vs batch size at 16 epochs (linear lr scaling)',
  ),
  dict(
    kind='curves',
    name='curves',
    tags=['train_loss', 'validation_accuracy'],
    title='Training loss and validation accuracy per batch size',
  ),
]
NOTES = (
  "Not run on the CPU of this repo's development machine: 16 epochs x "
  '12 runs of ResNet-20 take days there. Run it on an accelerator '
  '(`python -m experiments.sweep experiments/sweeps/batch_size_fashion_mnist.py`).'
)
