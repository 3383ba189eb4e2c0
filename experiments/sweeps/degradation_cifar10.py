"""Reproduction 3: He et al. 2016's degradation experiment on CIFAR-10 (Fig. 6).

Plain-20/32/44/56 against ResNet-20/32/44/56 with the paper's recipe
(configs/resnet20_cifar10.py: SGD momentum 0.9, lr 0.1, weight decay 1e-4,
batch 128, lr /10 at 32k and 48k iterations, 64k iterations; 45k/5k
train/validation split). The figure puts training error (dashed) and
held-out error (bold) of every depth in one panel per family, the shape of
the paper's Figure 6: deeper plain nets have *higher* training error, deeper
ResNets lower. Runs wherever TFDS has ``cifar10`` prepared; otherwise the
table reads 'not run'.
"""

from experiments.sweep import Run

NAME = 'degradation_cifar10'
TITLE = 'Reproduction 3: plain vs residual nets at depths 20-56 on CIFAR-10 (He et al. 2016, Fig. 6)'
DESCRIPTION = __doc__.split('\n', 2)[2]
CONFIG = 'configs/resnet20_cifar10.py'
COMMON = dict(log_every_steps=200, eval_every_epochs=2.0)
DEPTHS = [20, 32, 44, 56]
FAMILIES = {'plain': 'plain', 'resnet': 'ResNet'}
RUNS = [
  Run(f'{fam}{d}', {'model': f'{fam}{d}'}, labels={'family': label, 'depth': d})
  for fam, label in FAMILIES.items()
  for d in DEPTHS
]
# Table 6 of the paper (test error %, CIFAR-10 test set, trained on 50k; the
# plain nets appear only in Figure 6, without numbers).
PUBLISHED = {
  'plain20': {'test_err': 'Fig. 6 only'},
  'plain56': {'test_err': 'Fig. 6 only (> plain-20)'},
  'resnet20': {'test_err': 8.75},
  'resnet32': {'test_err': 7.51},
  'resnet44': {'test_err': 7.17},
  'resnet56': {'test_err': 6.97},
}
PUBLISHED_SOURCE = (
  'He et al. 2016, "Deep Residual Learning for Image '
  'Recognition", Table 6 (CIFAR-10 test error) and Fig. 6'
)
COLUMNS = [
  'model',
  'depth',
  'params',
  'epochs',
  'train_acc',
  'val_err',
  'test_err',
  'img_s',
  'wall',
]
PLOTS = [
  dict(
    kind='degradation',
    name='fig6',
    families={'plain': 'plain-net', 'ResNet': 'ResNet'},
    eval_name='validation (5k held-out)',
    title='CIFAR-10: training (dashed) and validation (bold) error',
  ),
  dict(
    kind='acc_vs',
    name='error_vs_depth',
    x='depth',
    series='family',
    metric='test_err',
    title='CIFAR-10 test error vs depth',
  ),
]
