"""MNASNet-B1 on ImageNet (Tan et al. 2019): the recipes behind torchvision's
weights.

Run:
  python -m cnn_jax.main --config=configs/mnasnet_imagenet.py --workdir=/tmp/mnasnet1_0
  python -m cnn_jax.main --config=configs/mnasnet_imagenet.py:1_3 --workdir=/tmp/mnasnet1_3

The argument is the depth multiplier (``0_5``, ``0_75``, ``1_0`` (default),
``1_3``); each gets the recipe of its torchvision weights:

* ``0_5``, ``1_0``: the contributor's trainer (1e100/mnasnet_trainer, its
  ``train.py`` table): SGD with Nesterov momentum 0.9, batch 1000 / 740, lr
  1.0 / 0.5, 5 epochs of linear warmup from a tenth of it then cosine to 0,
  stepped per epoch, 300 / 330 epochs, weight decay 0 / 1e-5 on every
  parameter, no label smoothing; RandomResizedCrop 224 + flip, evaluation on
  the central 224 of 256. (Its training logs name other values for the
  released runs: 250 epochs at lr 1.0 for 0.5, 300 at 0.7 for 1.0.)
* ``0_75``, ``1_3``: torchvision's new training recipe (the command of
  pytorch/vision#6019, the same as ShuffleNet V2 x1.5's; configs/imagenet.py
  ``torchvision_v2``).

The paper's own recipe (RMSProp decay and momentum 0.9, lr rising to 0.256
at batch 4096 over 5 epochs then x0.97 every 2.4 epochs, weight decay 1e-5,
Inception preprocessing) is close to configs/efficientnet_b0_imagenet.py's,
which grew out of it.

Expect (torchvision's ``_metrics``, top-1): 67.734% (0.5), 71.180% (0.75),
73.456% (1.0), 76.506% (1.3); pytorch/vision#829 cites the paper's 67.8% and
74.0% for 0.5 and 1.0. Needs imagenet2012 prepared in TFDS. Computed in
bfloat16. Not run in this repo: it needs accelerators.
"""

from configs import imagenet

MULTIPLIERS = ('0_5', '0_75', '1_0', '1_3')
ARGUMENTS = ('1_0', '1_3')  # one per recipe, for tests/test_configs.py
CONFIG = 'configs/mnasnet_imagenet.py'
# (batch, lr, epochs, weight decay) of 1e100/mnasnet_trainer's train.py.
TRAINER = {'0_5': (1000, 1.0, 300, 0.0), '1_0': (740, 0.5, 330, 1e-5)}


def get_config(arg: str = '1_0'):
  if arg not in MULTIPLIERS:
    raise ValueError(
      f'{CONFIG}:{arg}: the argument is the depth multiplier, one of '
      f'{", ".join(MULTIPLIERS)}.'
    )
  model = f'mnasnet{arg}'
  if arg not in TRAINER:
    return imagenet.torchvision_config(model, 'v2', CONFIG)
  batch, lr, epochs, weight_decay = TRAINER[arg]
  c = imagenet.get_config(model, image_size=224)
  c.augment = 'rrc,flip'
  c.batch_size = batch
  c.optimizer = 'sgd'
  c.momentum = 0.9
  c.nesterov = True
  c.learning_rate = lr
  c.lr_scaling_base_batch = batch
  c.lr_schedule = 'cosine'
  c.warmup_epochs = 5.0
  c.warmup_start_factor = 0.1
  c.lr_per_epoch = True
  c.num_epochs = float(epochs)
  c.weight_decay = weight_decay
  c.weight_decay_on_bn_and_bias = True
  c.label_smoothing = 0.0
  return c
