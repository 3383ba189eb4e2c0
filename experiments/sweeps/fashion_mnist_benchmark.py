"""Reproduction 2: the Fashion-MNIST benchmark rows (test accuracy).

The rows of the Fashion-MNIST README's benchmark table that this repo has
models for, each with its Fashion-MNIST config where one exists
(resnet18 / densenet_bc_100_12 / mobilenet_v2 / vgg16 / alexnet
_fashion_mnist.py) and otherwise the CIFAR recipe on Fashion-MNIST
(WRN-28-10 from wrn28_10_cifar10.py, GoogleNet from googlenet_cifar10.py: the
UvA DL tutorial's small GoogleNet). The published rows were submitted by
different people with their own preprocessing and budgets; they are the
targets, not a controlled comparison.

Full budgets (20-40 epochs; WRN-28-10: 200 epochs, 36.5M parameters) need
an accelerator: none of these ran on the CPU of this repo's development
machine.
"""

from experiments.sweep import Run

NAME = 'fashion_mnist_benchmark'
TITLE = 'Reproduction 2: Fashion-MNIST benchmark rows'
DESCRIPTION = __doc__.split('\n', 2)[2]
CONFIG = 'configs/resnet18_fashion_mnist.py'
COMMON = dict(
  dataset='fashion_mnist', validation_examples=5000, log_every_steps=200
)
FMNIST = dict(dataset='fashion_mnist', crop_padding=2)
MODELS = {  # benchmark row -> (config, extra overrides)
  'ResNet18': ('configs/resnet18_fashion_mnist.py', {}),
  'WRN-28-10': ('configs/wrn28_10_cifar10.py', FMNIST),
  'DenseNet-BC-768K': ('configs/densenet_bc_100_12_fashion_mnist.py', {}),
  'MobileNet': ('configs/mobilenet_v2_fashion_mnist.py', {}),
  'GoogleNet': ('configs/uvadl_cifar10.py:googlenet', FMNIST),
  'VGG16': ('configs/vgg16_fashion_mnist.py', {}),
  'AlexNet': ('configs/alexnet_fashion_mnist.py', {}),
}
SEEDS = [0]
RUNS = [
  Run(f'{name}_seed{seed}', {**extra, 'seed': seed}, config=config)
  for name, (config, extra) in MODELS.items()
  for seed in SEEDS
]
PUBLISHED = {
  'ResNet18': {'test_acc': 94.9},
  'WRN-28-10': {'test_acc': 95.9},
  'DenseNet-BC-768K': {'test_acc': 95.4},
  'MobileNet': {'test_acc': 95.0},
  'GoogleNet': {'test_acc': 93.7},
  'VGG16': {'test_acc': 93.5},
  'AlexNet': {'test_acc': 89.9},
}
PUBLISHED_SOURCE = (
  'the benchmark table of the Fashion-MNIST README '
  '(github.com/zalandoresearch/fashion-mnist), test accuracy'
)
COLUMNS = ['model', 'params', 'epochs', 'val_acc', 'test_acc', 'img_s', 'wall']
PLOTS = [
  dict(
    kind='acc_vs_params',
    name='acc_vs_params',
    title='Fashion-MNIST test accuracy vs parameters',
  ),
  dict(
    kind='curves',
    name='curves',
    tags=['train_loss', 'validation_accuracy'],
    title='Fashion-MNIST: training loss and validation accuracy',
  ),
]
