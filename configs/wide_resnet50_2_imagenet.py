"""Wide ResNet-50-2 on ImageNet with torchvision's recipes.

Run:
  python -m cnn_jax.main --config=configs/wide_resnet50_2_imagenet.py --workdir=/tmp/wide_resnet50_2
  python -m cnn_jax.main --config=configs/wide_resnet50_2_imagenet.py:v2 --workdir=/tmp/wide_resnet50_2_v2

Model: torchvision's ``wide_resnet50_2`` (same layers and parameter count). Related models run with the same recipes via --config.model=NAME,
e.g. wide_resnet101_2 (torchvision 78.848% V1, 82.510% V2); see ``python -m
cnn_jax.summary --list``.

The argument picks the recipe:

* ``v1`` (default): torchvision's recipe of its ``IMAGENET1K_V1`` weights
  (configs/imagenet.py ``torchvision_v1`` has it). Expect 78.468% top-1
  (torchvision's ``_metrics``).
* ``v2``: torchvision's "new training recipe" of its ``IMAGENET1K_V2``
  weights (configs/imagenet.py ``torchvision_v2`` has it). Expect
  81.602% top-1 (torchvision's ``_metrics``).

bfloat16 compute. Not run in this repo.
"""

from configs import imagenet

ARGUMENTS = imagenet.TORCHVISION_RECIPES


def get_config(arg: str = 'v1'):
  return imagenet.torchvision_config(
    'wide_resnet50_2', arg, 'configs/wide_resnet50_2_imagenet.py'
  )
