"""ResNet-101 on ImageNet with the shared recipe (configs/imagenet.py).

Run:
  python -m cnn_jax.main --config=configs/resnet101_imagenet.py --workdir=/tmp/resnet101

Model: torchvision's ``resnet101`` (same layers and parameter count). Related
models run with the same recipe via --config.model=NAME, e.g. resnet152,
preact_resnet101, resnext101_32x8d, resnext101_64x4d; see ``python -m
cnn_jax.summary --list``.

Recipe: configs/imagenet.py unchanged (SGD momentum 0.9, lr 0.1 per 256
images, 5 warmup epochs then cosine decay, weight decay 1e-4 not on BN/biases,
label smoothing 0.1, 90 epochs, Inception crop + flip at 224, bfloat16).

Expect: torchvision's IMAGENET1K_V1 weights, trained 90 epochs with a step
schedule and no label smoothing, give 77.374% top-1. This recipe differs
(cosine schedule, label smoothing) and was not run in this repo. Runtime:
not measured (far beyond the 2-core CPU this repo is developed on; needs
accelerators).
"""

from configs import imagenet


def get_config():
  return imagenet.get_config('resnet101', image_size=224)
