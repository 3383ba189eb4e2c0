"""MobileNet v3 Small (1.0, 224) on ImageNet (Howard et al. 2019).

Run:
  python -m cnn_jax.main --config=configs/mobilenet_v3_small_imagenet.py --workdir=/tmp/mobilenet_v3_small

Recipe: the paper's, as configs/mobilenet_v3_large_imagenet.py (RMSProp
momentum 0.9, lr 0.1 at batch 4096 decayed x0.99 every 3 epochs, weight decay
1e-5, dropout 0.2; decay 0.9, epsilon 1e-3, 5 warm-up epochs, 350 epochs and
label smoothing 0.1 from the TPU reference code).

Expect: the paper reports 67.4% top-1; torchvision's weights give 67.668%.
Not run in this repo. Runtime: not measured (needs accelerators).
"""

from configs import mobilenet_v3_large_imagenet


def get_config():
  return mobilenet_v3_large_imagenet.get_config('mobilenet_v3_small')
