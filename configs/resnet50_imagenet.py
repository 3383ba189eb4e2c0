"""ResNet-50 (v1.5, torchvision's resnet50) on ImageNet: the reference recipe.

Run:
  python -m cnn_jax.main --config=configs/resnet50_imagenet.py --workdir=/tmp/resnet50

Needs imagenet2012 prepared in TFDS (the two ILSVRC2012 tar files in the TFDS
manual download directory; the error message says where). Variants with the
same recipe: --config.model=resnet101, resnext50_32x4d, wide_resnet50_2, ...;
`--config.model_kwargs.zero_init_residual=True` starts each block as identity.

Recipe: configs/imagenet.py (SGD momentum 0.9, lr 0.1 per 256 images with 5
warmup epochs then cosine decay, weight decay 1e-4 not on BN/biases, label
smoothing 0.1, 90 epochs, Inception crop + flip at 224, bfloat16 compute).

Expect: about 76-77% top-1 (torchvision's 90-epoch step-schedule recipe gives
76.13%; Goyal et al. 2017 report 76.3% at batch 8k with this kind of recipe).
Not run in this repo: it needs accelerators (about 4 h on 8 V100s in Goyal et
al.; on the 2-core CPU here one step of batch 32 takes ~34 s).
"""

from configs import imagenet


def get_config():
  return imagenet.get_config('resnet50', image_size=224)
