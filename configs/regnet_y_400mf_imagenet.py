"""RegNetY-400MF on ImageNet: torchvision's recipes (Radosavovic et al. 2020).

Run:
  python -m cnn_jax.main --config=configs/regnet_y_400mf_imagenet.py --workdir=/tmp/regnet_y_400mf
  python -m cnn_jax.main --config=configs/regnet_y_400mf_imagenet.py:v2 --workdir=/tmp/regnet_y_400mf_v2

The argument picks the recipe (``regnet_config`` below builds both):

* ``v1`` (default): torchvision's documented command for its RegNet
  ``IMAGENET1K_V1`` weights (references/classification/README.md, "RegNet"),
  8 GPUs::

    train.py --model $MODEL --epochs 100 --batch-size 128 --wd 0.00005
    --lr=0.8 --lr-scheduler=cosineannealinglr --lr-warmup-method=linear
    --lr-warmup-epochs=5 --lr-warmup-decay=0.1

  for the small models (lr 0.4 for regnet_y_400mf, as that README notes),
  ``--batch-size 64 --lr=0.4`` for the medium and ``--batch-size 32
  --lr=0.2`` for the large ones (``TIERS``). Here: the global batch (8 x
  128 = 1024 for the small models) with the lr scaled linearly from it, SGD
  momentum 0.9, weight decay 5e-5 on every parameter (torchvision's default:
  no ``--norm-weight-decay``), 5 epochs of linear warmup from 0.1 x lr, then
  cosine decay to 0 over the other 95, both stepped once per epoch as
  torchvision's schedulers (``lr_per_epoch``); RandomResizedCrop 224 and
  flips, no label smoothing; evaluation on the central 224 of 256.
* ``v2``: the recipe of torchvision's ``IMAGENET1K_V2`` RegNet weights, which
  torchvision describes as "a modified version" of its new training recipe
  (configs/imagenet.py ``torchvision_v2``: 600 epochs, lr 0.5 per 1024,
  TrivialAugmentWide, mixup/CutMix, random erasing, label smoothing, EMA,
  repeated augmentation, weight decay 2e-5 off BatchNorm) without publishing
  the modifications; this is that recipe as documented. The weights'
  ``recipe`` link decides the training size: ``#new-recipe`` trains at 224,
  ``#new-recipe-with-fixres`` (regnet_x_400mf/800mf/1_6gf) at 176 (FixRes);
  both evaluate on the central 224 of 232. Schedulers stepped per epoch.

Expect: 74.046% top-1 with ``v1``, 75.804% with ``v2`` (torchvision's
``_metrics`` of ``IMAGENET1K_V1`` / ``IMAGENET1K_V2``).

Other RegNets: configs/regnet_x_400mf_imagenet.py, or this file with
``--config.model=NAME`` and, for ``v1``, the model's tier from ``TIERS``
(medium: ``--config.batch_size=512 --config.learning_rate=0.4
--config.lr_scaling_base_batch=512``; large: ``256``, ``0.2``, ``256``).
Top-1 to expect (V1 / V2): regnet_y_800mf 76.420 / 78.828, regnet_y_1_6gf
77.950 / 80.876, regnet_y_3_2gf 78.948 / 81.982, regnet_y_8gf 80.032 /
82.828, regnet_y_16gf 80.424 / 82.886, regnet_y_32gf 80.878 / 83.368
(``TOP1``); regnet_y_128gf has only SWAG weights (pretrained on 3.6B
Instagram images; 86.068% with a linear head at 224, 88.228% fine-tuned at
384), no ImageNet recipe.

Any point of the design space: ``--config.model_kwargs.FIELD=VALUE`` for the
fields of ``DESIGN_SPACE`` (unset: the named model's), e.g.
``--config.model_kwargs.depth=20 --config.model_kwargs.w_a=30.0``.

Needs imagenet2012 prepared in TFDS. Computed in bfloat16. Not run in this
repo: it needs accelerators.
"""

import ml_collections
from ml_collections import config_dict

from configs import imagenet

ARGUMENTS = imagenet.TORCHVISION_RECIPES

# RegNet design parameters (cnn_jax/models/regnet.py) and their types: unset
# model_kwargs placeholders, so each can be set on the command line.
DESIGN_SPACE = {
  'depth': int,
  'w_0': int,
  'w_a': float,
  'w_m': float,
  'group_width': int,
  'bottleneck_multiplier': float,
  'se_ratio': float,
}

# torchvision's README tiers for the V1 recipe: (per-GPU batch on 8 GPUs,
# lr at 8x that batch).
_SMALL, _MEDIUM, _LARGE = (128, 0.8), (64, 0.4), (32, 0.2)
TIERS = {
  'regnet_x_400mf': _SMALL,
  'regnet_x_800mf': _SMALL,
  'regnet_x_1_6gf': _SMALL,
  'regnet_x_3_2gf': _MEDIUM,
  'regnet_x_8gf': _MEDIUM,
  'regnet_x_16gf': _MEDIUM,
  'regnet_x_32gf': _LARGE,
  'regnet_y_400mf': (128, 0.4),  # the README: 0.4 to reach the paper's
  'regnet_y_800mf': _SMALL,
  'regnet_y_1_6gf': _SMALL,
  'regnet_y_3_2gf': _MEDIUM,
  'regnet_y_8gf': _MEDIUM,
  'regnet_y_16gf': _LARGE,
  'regnet_y_32gf': _LARGE,
}

# torchvision's _metrics (ImageNet-1K top-1) of IMAGENET1K_V1 / _V2.
TOP1 = {
  'regnet_x_400mf': (72.834, 74.864),
  'regnet_x_800mf': (75.212, 77.522),
  'regnet_x_1_6gf': (77.040, 79.668),
  'regnet_x_3_2gf': (78.364, 81.196),
  'regnet_x_8gf': (79.344, 81.682),
  'regnet_x_16gf': (80.058, 82.716),
  'regnet_x_32gf': (80.622, 83.014),
  'regnet_y_400mf': (74.046, 75.804),
  'regnet_y_800mf': (76.420, 78.828),
  'regnet_y_1_6gf': (77.950, 80.876),
  'regnet_y_3_2gf': (78.948, 81.982),
  'regnet_y_8gf': (80.032, 82.828),
  'regnet_y_16gf': (80.424, 82.886),
  'regnet_y_32gf': (80.878, 83.368),
}

# V2 weights whose recipe link is '#new-recipe-with-fixres': trained at 176.
FIXRES = ('regnet_x_400mf', 'regnet_x_800mf', 'regnet_x_1_6gf')


def design_space() -> ml_collections.ConfigDict:
  """``model_kwargs`` with every RegNet design parameter unset."""
  return ml_collections.ConfigDict(
    {k: config_dict.placeholder(t) for k, t in DESIGN_SPACE.items()}
  )


def regnet_config(model: str, recipe: str, config_file: str):
  """``model`` with torchvision's recipe ``recipe`` ('v1' or 'v2')."""
  c = imagenet.torchvision_config(model, recipe, config_file)
  c.model_kwargs = design_space()
  c.lr_per_epoch = True
  if recipe == 'v1':
    per_gpu, lr = TIERS[model]
    c.batch_size = 8 * per_gpu
    c.lr_scaling_base_batch = 8 * per_gpu
    c.learning_rate = lr
    c.weight_decay = 5e-5
    c.lr_schedule = 'cosine'
    c.lr_boundaries = ()
    c.warmup_epochs = 5.0
    c.warmup_start_factor = 0.1
    c.num_epochs = 100.0
  elif model not in FIXRES:
    c.image_size = 224
  return c


def get_config(arg: str = 'v1'):
  return regnet_config(
    'regnet_y_400mf', arg, 'configs/regnet_y_400mf_imagenet.py'
  )
