"""ResNet-18 on ImageNet with torchvision's reference recipe.

Run:
  python -m cnn_jax.main --config=configs/resnet18_imagenet.py --workdir=/tmp/resnet18

Model: torchvision's ``resnet18`` (same layers and parameter count). Related models run with the same recipe via --config.model=NAME, e.g.
resnet34, preact_resnet18; see ``python -m cnn_jax.summary --list``.

Recipe: torchvision's classification reference with its default flags, the
recipe of its ``IMAGENET1K_V1`` weights (configs/imagenet.py
``torchvision_v1``): batch 256, SGD momentum 0.9, lr 0.1, weight decay 1e-4 on
every parameter, lr x0.1 at epochs 30 and 60, 90 epochs, RandomResizedCrop 224
+ flip, evaluation on the central 224 of 256; bfloat16 compute.

Expect: 69.758% top-1 (torchvision's ``_metrics`` for ``IMAGENET1K_V1``). Not
run in this repo.
"""

from configs import imagenet


def get_config():
  return imagenet.torchvision_v1(
    imagenet.get_config('resnet18', image_size=224)
  )
