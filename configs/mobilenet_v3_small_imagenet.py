"""MobileNet v3 Small (1.0, 224) on ImageNet: torchvision's recipe (Howard et al. 2019).

Run:
  python -m cnn_jax.main --config=configs/mobilenet_v3_small_imagenet.py --workdir=/tmp/mobilenet_v3_small

Recipe: torchvision's, as configs/mobilenet_v3_large_imagenet.py (batch 1024,
RMSProp momentum 0.9, lr 0.064 x0.973 every 2 epochs, weight decay 1e-5, 600
epochs, AutoAugment (ImageNet policy), random erasing 0.2, dropout 0.2).

Expect: 67.668% top-1 (torchvision's ``_metrics``; the paper reports 67.4%
with its own recipe). Not run in this repo.
"""

from configs import mobilenet_v3_large_imagenet


def get_config():
  return mobilenet_v3_large_imagenet.get_config('mobilenet_v3_small')
