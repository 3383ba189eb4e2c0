"""Wide ResNet-50-2 on ImageNet with torchvision's recipes.

Run:
  python -m cnn_jax.main --config=configs/wide_resnet50_2_imagenet.py --workdir=/tmp/wide_resnet50_2
  python -m cnn_jax.main --config=configs/wide_resnet50_2_imagenet.py:v2 --workdir=/tmp/wide_resnet50_2_v2

Model: torchvision's ``wide_resnet50_2`` (same layers and parameter count). Related models run with the same recipes via --config.model=NAME,
e.g. wide_resnet101_2 (torchvision 78.848% V1, 82.510% V2); see ``python -m
cnn_jax.summary --list``.

The argument picks the recipe:

* ``v1`` (default): torchvision's reference recipe of its ``IMAGENET1K_V1``
  weights (configs/imagenet.py ``torchvision_v1``): batch 256, SGD momentum
  0.9, lr 0.1, weight decay 1e-4, lr x0.1 at epochs 30 and 60, 90 epochs,
  RandomResizedCrop 224 + flip. Expect 78.468% top-1 (torchvision's
  ``_metrics``).
* ``v2``: torchvision's "new training recipe" of its ``IMAGENET1K_V2``
  weights (configs/imagenet.py ``torchvision_v2``): 600 epochs at batch 1024,
  lr 0.5, 5 warmup epochs then cosine, weight decay 2e-5 (not on BN), label
  smoothing 0.1, mixup 0.2 / CutMix 1.0, TrivialAugmentWide, random erasing
  0.1, EMA of the weights, training at 176 and evaluation at 224. Expect
  81.602% top-1 (torchvision's ``_metrics``); also
  repeated augmentation with 4 copies.

bfloat16 compute. Not run in this repo. Runtime: not measured (far beyond the
2-core CPU this repo is developed on; needs accelerators).
"""

from configs import imagenet

ARGUMENTS = imagenet.TORCHVISION_RECIPES


def get_config(arg: str = 'v1'):
  return imagenet.torchvision_config(
    'wide_resnet50_2', arg, 'configs/wide_resnet50_2_imagenet.py'
  )
