"""ResNet-101 on ImageNet with torchvision's recipes.

Run:
  python -m cnn_jax.main --config=configs/resnet101_imagenet.py --workdir=/tmp/resnet101
  python -m cnn_jax.main --config=configs/resnet101_imagenet.py:v2 --workdir=/tmp/resnet101_v2

Model: torchvision's ``resnet101`` (same layers and parameter count). Related models run with the same recipes via --config.model=NAME,
e.g. preact_resnet101, resnext101_32x8d (torchvision 79.312% V1, 82.834% V2);
see ``python -m cnn_jax.summary --list``.

The argument picks the recipe:

* ``v1`` (default): torchvision's recipe of its ``IMAGENET1K_V1`` weights
  (configs/imagenet.py ``torchvision_v1`` has it). Expect 77.374% top-1
  (torchvision's ``_metrics``).
* ``v2``: torchvision's "new training recipe" of its ``IMAGENET1K_V2``
  weights (configs/imagenet.py ``torchvision_v2`` has it). Expect
  81.886% top-1 (torchvision's ``_metrics``).

bfloat16 compute. Not run in this repo.
"""

from configs import imagenet

ARGUMENTS = imagenet.TORCHVISION_RECIPES


def get_config(arg: str = 'v1'):
  return imagenet.torchvision_config(
    'resnet101', arg, 'configs/resnet101_imagenet.py'
  )
