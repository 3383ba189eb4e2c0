"""ResNet-50 (v1.5, torchvision's resnet50) on ImageNet: torchvision's recipes.

Run:
  python -m cnn_jax.main --config=configs/resnet50_imagenet.py --workdir=/tmp/resnet50
  python -m cnn_jax.main --config=configs/resnet50_imagenet.py:v2 --workdir=/tmp/resnet50_v2

The argument picks the recipe (the architecture is the same; not
configs/resnet50v2_imagenet.py, which is the pre-activation ResNet-v2):

* ``v1`` (default): torchvision's recipe of its ``IMAGENET1K_V1`` weights
  (configs/imagenet.py ``torchvision_v1`` has it). Expect 76.130% top-1
  (torchvision's ``_metrics``).
* ``v2``: torchvision's "new training recipe" of its ``IMAGENET1K_V2``
  weights (configs/imagenet.py ``torchvision_v2`` has it). Expect
  80.858% top-1 (torchvision's ``_metrics``).

Needs ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar in the manual
directory (--config.manual_dir=DIR; without them the error message says
where): the first run prepares them with TFDS's builder. Other depths with
the same recipes: --config.model=resnet101 (torchvision 77.374% V1, 81.886%
V2), resnet152 (78.312% / 82.284%). Both computed in bfloat16. Not run in this
repo: it needs accelerators (about 4 h on 8 V100s for 90 epochs in Goyal et
al.; on the 2-core CPU here one step of batch 32 takes ~34 s).
"""

from configs import imagenet

ARGUMENTS = imagenet.TORCHVISION_RECIPES


def get_config(arg: str = 'v1'):
  return imagenet.torchvision_config(
    'resnet50', arg, 'configs/resnet50_imagenet.py'
  )
