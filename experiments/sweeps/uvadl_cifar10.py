"""Reproduction 1: the UvA DL tutorial's CIFAR-10 table (GoogleNet, ResNet,
ResNetPreAct, DenseNet), each with the recipe of its configs/*_cifar10.py.

The four models of the UvA DL course tutorial 5 ("Inception, ResNet and
DenseNet"), 180 epochs each (batch 128, lr x0.1 at epochs 100 and 150, 4-pixel
pad + random crop and flips, 5,000 training images held out for validation).
Runs wherever TFDS has ``cifar10`` prepared (``tfds build cifar10``); where
it is not, the runner reports the runs as 'not run'. A full run takes about
64k steps per model: an accelerator job.
"""

from experiments.sweep import Run

NAME = 'uvadl_cifar10'
TITLE = "Reproduction 1: the UvA DL tutorial's CIFAR-10 table"
DESCRIPTION = __doc__.split('\n', 2)[2]
CONFIG = 'configs/uvadl_cifar10.py:resnet'
COMMON = dict(validation_examples=5000, log_every_steps=200)
MODELS = {  # group name in the tutorial's table -> config
  'GoogleNet': 'configs/uvadl_cifar10.py:googlenet',
  'ResNet': 'configs/uvadl_cifar10.py:resnet',
  'ResNetPreAct': 'configs/uvadl_cifar10.py:preact_resnet',
  'DenseNet': 'configs/uvadl_cifar10.py:densenet',
}
SEEDS = [0]
RUNS = [
  Run(f'{name}_seed{seed}', {'seed': seed}, config=config)
  for name, config in MODELS.items()
  for seed in SEEDS
]
PUBLISHED = {
  'GoogleNet': {'val_acc': 90.40, 'test_acc': 89.70, 'params': 260_650},
  'ResNet': {'val_acc': 91.84, 'test_acc': 91.06, 'params': 272_378},
  'ResNetPreAct': {'val_acc': 91.80, 'test_acc': 91.07, 'params': 272_250},
  'DenseNet': {'val_acc': 90.72, 'test_acc': 90.23, 'params': 239_146},
}
PUBLISHED_SOURCE = (
  'the UvA DL tutorial (UvA DL course tutorial 5, "Inception, '
  'ResNet and DenseNet"), CIFAR-10 validation / test '
  'accuracy and parameter counts'
)
COLUMNS = ['model', 'params', 'epochs', 'val_acc', 'test_acc', 'img_s', 'wall']
PLOTS = [
  dict(
    kind='curves',
    name='curves',
    tags=['train_loss', 'validation_accuracy'],
    title='CIFAR-10: training loss and validation accuracy',
  ),
  dict(
    kind='acc_vs_params',
    name='acc_vs_params',
    title='CIFAR-10 test accuracy vs parameters',
  ),
]
