"""ShuffleNet V2 on ImageNet (Ma et al. 2018): the recipes behind
torchvision's weights.

Run:
  python -m cnn_jax.main --config=configs/shufflenet_v2_imagenet.py --workdir=/tmp/shufflenet_v2_x1_0
  python -m cnn_jax.main --config=configs/shufflenet_v2_imagenet.py:x2_0 --workdir=/tmp/shufflenet_v2_x2_0

The argument is the width (``x0_5``, ``x1_0`` (default), ``x1_5``, ``x2_0``);
each gets the recipe of its torchvision weights:

* ``x0_5``, ``x1_0``: weights trained "to reproduce closely the results of
  the paper", with the authors' recipe (the ShuffleNet papers and their code,
  megvii-model/ShuffleNet-Series): batch 1024, SGD momentum 0.9, lr 0.5
  decayed linearly to 0 per step over 300,000 steps (240 epochs), weight
  decay 4e-5 on kernels only, label smoothing 0.1; RandomResizedCrop 224,
  ColorJitter(0.4, 0.4, 0.4) and flips; evaluation on the central 224 of
  256. After the last step the code recomputes the BatchNorm statistics over
  one more epoch of training batches with the final weights (1,250 batches
  of 1024: ``precise_bn_steps``). Its inputs are BGR in 0-255 without
  normalization; the dataset's mean and std here (a fixed affine map of the
  input, which BatchNorm after the first conv absorbs).
* ``x1_5``, ``x2_0``: torchvision's new training recipe (its documented
  command: ``--batch-size=128 --lr=0.5 --lr-scheduler=cosineannealinglr
  --lr-warmup-epochs=5 --lr-warmup-method=linear --auto-augment=ta_wide
  --epochs=600 --random-erase=0.1 --weight-decay=0.00002
  --norm-weight-decay=0.0 --label-smoothing=0.1 --mixup-alpha=0.2
  --cutmix-alpha=1.0 --train-crop-size=176 --model-ema --val-resize-size=232
  --ra-sampler --ra-reps=4`` on 8 GPUs; configs/imagenet.py
  ``torchvision_v2``).

Expect (torchvision's ``_metrics``, top-1): 60.552% (x0.5), 69.362% (x1.0),
72.996% (x1.5), 76.230% (x2.0); the paper reports 60.3% / 69.4% / 72.6% /
74.9%. Needs imagenet2012 prepared in TFDS. Computed in bfloat16. Not run in
this repo: it needs accelerators.
"""

from configs import imagenet

WIDTHS = ('x0_5', 'x1_0', 'x1_5', 'x2_0')
ARGUMENTS = ('x1_0', 'x2_0')  # one per recipe, for tests/test_configs.py
CONFIG = 'configs/shufflenet_v2_imagenet.py'


def authors_recipe(c):
  """The ShuffleNet authors' recipe (above) on config ``c``."""
  c.augment = 'rrc,flip'
  c.color_jitter = 0.4
  c.batch_size = 1024
  c.optimizer = 'sgd'
  c.momentum = 0.9
  c.nesterov = False
  c.learning_rate = 0.5
  c.lr_scaling_base_batch = 1024
  c.lr_schedule = 'linear'
  c.warmup_epochs = 0.0
  c.num_train_steps = 300_000
  c.weight_decay = 4e-5
  c.weight_decay_on_bn_and_bias = False
  c.label_smoothing = 0.1
  c.precise_bn_steps = 1250
  return c


def get_config(arg: str = 'x1_0'):
  if arg not in WIDTHS:
    raise ValueError(
      f'{CONFIG}:{arg}: the argument is the width, one of {", ".join(WIDTHS)}.'
    )
  model = f'shufflenet_v2_{arg}'
  if arg in ('x1_5', 'x2_0'):
    return imagenet.torchvision_config(model, 'v2', CONFIG)
  return authors_recipe(imagenet.get_config(model, image_size=224))
