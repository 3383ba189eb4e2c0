"""RegNetX-400MF on ImageNet: torchvision's recipes (Radosavovic et al. 2020).

Run:
  python -m cnn_jax.main --config=configs/regnet_x_400mf_imagenet.py --workdir=/tmp/regnet_x_400mf
  python -m cnn_jax.main --config=configs/regnet_x_400mf_imagenet.py:v2 --workdir=/tmp/regnet_x_400mf_v2

The recipes of configs/regnet_y_400mf_imagenet.py (which describes both):

* ``v1`` (default): torchvision's documented command for its
  ``IMAGENET1K_V1`` weights of the small RegNets: 100 epochs, global batch
  1024 (8 x 128), SGD momentum 0.9, lr 0.8, weight decay 5e-5 on every
  parameter, 5 epochs of linear warmup from 0.08, cosine to 0, stepped per
  epoch; RandomResizedCrop 224 + flip; evaluation on the central 224 of 256.
* ``v2``: the new training recipe torchvision modified for its
  ``IMAGENET1K_V2`` weights, in its FixRes form (this model's recipe link is
  ``#new-recipe-with-fixres``): training at 176, evaluation on the central
  224 of 232.

Expect: 72.834% top-1 with ``v1``, 74.864% with ``v2`` (torchvision's
``_metrics``). Other RegNetX (V1 / V2 top-1): regnet_x_800mf 75.212 /
77.522, regnet_x_1_6gf 77.040 / 79.668 (same tier: ``--config.model=NAME``
alone), regnet_x_3_2gf 78.364 / 81.196, regnet_x_8gf 79.344 / 81.682,
regnet_x_16gf 80.058 / 82.716 (medium tier: with ``--config.batch_size=512
--config.learning_rate=0.4 --config.lr_scaling_base_batch=512`` for
``v1``), regnet_x_32gf 80.622 / 83.014 (large tier: ``256``, ``0.2``,
``256``). Any design point: ``--config.model_kwargs.FIELD=VALUE`` (e.g.
``--config.model_kwargs.group_width=24``).

Needs imagenet2012 prepared in TFDS. Computed in bfloat16. Not run in this
repo: it needs accelerators.
"""

from configs import imagenet
from configs import regnet_y_400mf_imagenet

ARGUMENTS = imagenet.TORCHVISION_RECIPES


def get_config(arg: str = 'v1'):
  return regnet_y_400mf_imagenet.regnet_config(
    'regnet_x_400mf', arg, 'configs/regnet_x_400mf_imagenet.py'
  )
