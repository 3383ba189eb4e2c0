"""ResNet-20 on CIFAR-10 with the recipe of He et al. 2016 (section 4.2).

Run:
  python -m cnn_jax.main --config=configs/resnet20_cifar10.py --workdir=/tmp/resnet20

Model: ``resnet20`` (269,722 parameters + 2,752 BN statistics; option A
shortcuts). The other depths of the paper run with the same recipe via
--config.model=resnet32 / resnet44 / resnet56 / resnet110, and the plain
baselines via --config.model=plain20 / plain32 / plain44 / plain56.

Recipe (paper): SGD momentum 0.9, lr 0.1, weight decay 1e-4, batch 128, lr
divided by 10 at 32k and 48k iterations and stopped at 64k: with 391
iterations per 50k-image epoch that is epochs 82 and 123 of 164 (the epoch
boundaries are kept when the default 5,000-image validation split is carved
off; --config.validation_examples=0 trains on all 50k as the paper's test
runs). 4-pixel pad + random 32x32 crop and horizontal flips. (The paper warms
ResNet-110 up at lr 0.01 for 400 iterations: add --config.warmup_epochs=1.)

Expect: the paper reports 8.75% test error (91.25% accuracy) for ResNet-20
(7.51% / 7.17% / 6.97% / 6.43% for 32 / 44 / 56 / 110 layers, the last the
best of 5 runs with mean 6.61%). Not run in this repo. Runtime: the 64k
steps take many hours on a 2-core CPU (step times in BENCHMARKS.md): use an
accelerator.
"""

from configs import base


def get_config():
  c = base.get_config()
  c.model = 'resnet20'
  c.dataset = 'cifar10'
  c.augment = 'crop_pad,flip'
  c.crop_padding = 4
  c.batch_size = 128
  c.num_epochs = 164.0
  c.optimizer = 'sgd'
  c.learning_rate = 0.1
  c.momentum = 0.9
  c.weight_decay = 1e-4
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (82, 123)
  c.lr_decay_factor = 0.1
  return c
