"""DenseNet-169 on ImageNet with the DenseNet paper's recipe (Huang et al. 2017).

Run:
  python -m cnn_jax.main --config=configs/densenet169_imagenet.py --workdir=/tmp/densenet169

Other depths with the same recipe: add --config.model=densenet201 (or
densenet121, densenet161, densenet264).

Recipe: as configs/densenet121_imagenet.py (batch 256, SGD Nesterov 0.9, lr 0.1
/10 at epochs 30 and 60, 90 epochs, weight decay 1e-4, 224x224).

Expect: the paper reports 23.80% top-1 error (76.20% top-1) single-crop for
DenseNet-169; torchvision's ported weights give 75.600% top-1. Not run in this
repo.
"""

from configs import densenet121_imagenet


def get_config():
  c = densenet121_imagenet.get_config()
  c.model = 'densenet169'
  return c
