"""ResNeXt-50 32x4d on ImageNet with torchvision's recipes.

Run:
  python -m cnn_jax.main --config=configs/resnext50_32x4d_imagenet.py --workdir=/tmp/resnext50_32x4d
  python -m cnn_jax.main --config=configs/resnext50_32x4d_imagenet.py:v2 --workdir=/tmp/resnext50_32x4d_v2

Model: torchvision's ``resnext50_32x4d`` (same layers and parameter count). Related models run with the same recipes via --config.model=NAME,
e.g. resnext101_32x8d (torchvision 79.312% V1), resnext101_64x4d,
seresnext50_32x4d; see ``python -m cnn_jax.summary --list``.

The argument picks the recipe:

* ``v1`` (default): torchvision's recipe of its ``IMAGENET1K_V1`` weights
  (configs/imagenet.py ``torchvision_v1`` has it). Expect 77.618% top-1
  (torchvision's ``_metrics``).
* ``v2``: torchvision's "new training recipe" of its ``IMAGENET1K_V2``
  weights (configs/imagenet.py ``torchvision_v2`` has it). Expect
  81.198% top-1 (torchvision's ``_metrics``).

bfloat16 compute. Not run in this repo.
"""

from configs import imagenet

ARGUMENTS = imagenet.TORCHVISION_RECIPES


def get_config(arg: str = 'v1'):
  return imagenet.torchvision_config(
    'resnext50_32x4d', arg, 'configs/resnext50_32x4d_imagenet.py'
  )
