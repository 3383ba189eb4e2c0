"""EfficientNet-B6 on ImageNet at 528x528 (Tan & Le 2019).

Run:
  python -m cnn_jax.main --config=configs/efficientnet_b6_imagenet.py --workdir=/tmp/efficientnet_b6

Model: B0 scaled by width 1.8, depth 2.6, resolution 528, dropout 0.5.
Recipe: as configs/efficientnet_b0_imagenet.py (RMSProp decay 0.9, momentum
0.9, epsilon 1e-3; lr 0.016 per 256 images, 5 warm-up epochs, x0.97 every 2.4
epochs; weight decay 1e-5; label smoothing 0.1; 350 epochs; stochastic depth
0.2; evaluation crop 528/560). AutoAugment (ImageNet policy),
weight EMA 0.9999.

Expect: the paper reports 84.0% top-1; torchvision's weights give
84.008%. Not run in this repo.
"""

from configs import efficientnet_b0_imagenet


def get_config():
  return efficientnet_b0_imagenet.efficientnet_config('b6')
