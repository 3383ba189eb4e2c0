"""EfficientNet-B2 on ImageNet at 260x260 (Tan & Le 2019).

Run:
  python -m cnn_jax.main --config=configs/efficientnet_b2_imagenet.py --workdir=/tmp/efficientnet_b2

Model: B0 scaled by width 1.1, depth 1.2, resolution 260, dropout 0.3.
Recipe: as configs/efficientnet_b0_imagenet.py (RMSProp decay 0.9, momentum
0.9, epsilon 1e-3; lr 0.016 per 256 images, 5 warm-up epochs, x0.97 every 2.4
epochs; weight decay 1e-5; label smoothing 0.1; 350 epochs; stochastic depth
0.2; evaluation crop 260/292). AutoAugment (ImageNet policy),
weight EMA 0.9999.

Expect: the paper reports 80.1% top-1; torchvision's weights give
80.608%. Not run in this repo.
"""

from configs import efficientnet_b0_imagenet


def get_config():
  return efficientnet_b0_imagenet.efficientnet_config('b2')
