"""Reproduction 3b: the UvA DL tutorial's ResNet vs PlainNet (2-5-5-2) comparison.

the UvA DL tutorial's Keras comparison net: conv3x3-64 + BN-ReLU, basic units
2-5-5-2 with 64-128-256-512 channels (stride 2 in the first unit of stages
2-4, 1x1 projection + BN shortcuts), 4x4 average pooling, dense 10; the plain
form drops the shortcuts (models ``resnet30_keras`` / ``plain30_keras``).
Trained with the ResNet CIFAR recipe (SGD momentum 0.9, lr 0.1, weight decay
1e-4, batch 128; configs/resnet20_cifar10.py and resnet20_fashion_mnist.py)
on CIFAR-10 (where TFDS has it prepared) and on Fashion-MNIST (28x28 maps
to 4x4 at the last stage with 'SAME' padding). 15.6M parameters (measured
with this repo's models): accelerator runs.
"""

from experiments.sweep import Run

NAME = 'resnet_vs_plainnet_2552'
TITLE = "Reproduction 3b: the UvA DL tutorial's ResNet vs PlainNet (2-5-5-2)"
DESCRIPTION = __doc__.split('\n', 2)[2]
CONFIG = 'configs/resnet20_cifar10.py'
COMMON = dict(log_every_steps=100, eval_every_epochs=1.0)
RUNS = []
for dataset, config in (
  ('cifar10', 'configs/resnet20_cifar10.py'),
  ('fashion_mnist', 'configs/resnet20_fashion_mnist.py'),
):
  for model, family in (
    ('resnet30_keras', 'ResNet'),
    ('plain30_keras', 'PlainNet'),
  ):
    RUNS.append(
      Run(
        f'{model}_{dataset}',
        {'model': model},
        config=config,
        labels={'family': family, 'dataset': dataset},
      )
    )
PUBLISHED = {}  # the UvA DL tutorial's figures for this pair are not in this repo
COLUMNS = [
  'model',
  'dataset',
  'params',
  'epochs',
  'train_acc',
  'val_acc',
  'test_acc',
  'img_s',
  'wall',
]
PLOTS = [
  dict(
    kind='curves',
    name='curves',
    tags=['train_loss', 'train_accuracy', 'validation_accuracy'],
    title='ResNet-2552 vs PlainNet-2552',
  ),
]
NOTES = (
  "the UvA DL tutorial's own numbers for this comparison are not recorded "
  'in this repository, so no published column is shown.'
)
