"""NASNet-A Large (6 @ 4032) on ImageNet at 331x331 (Zoph et al. 2018).

Run:
  python -m cnn_jax.main --config=configs/nasnetalarge_imagenet.py --workdir=/tmp/nasnetalarge

Recipe: as configs/nasnetamobile_imagenet.py (RMSProp decay 0.9, epsilon 1.0,
lr 0.04 per 32 images decayed by 0.97 every 2.4 epochs, label smoothing 0.1,
weight decay 4e-5, dropout 0.5, auxiliary head with loss weight 0.4) at
331x331, plus ScheduledDropPath with TF-slim's keep probability 0.7 for Large
(``drop_path_rate=0.3`` in the last cell, linear in the cell's depth and in
training progress; TF-slim ramps over its fixed 250k steps, this config over
the run's length). The epoch count is not in the paper; this config keeps the
Mobile config's 600 epochs.

Expect: the paper reports 82.7% top-1 (Keras' ported weights 82.5%, timm's
82.63%). Not run in this repo.
"""

from configs import nasnetamobile_imagenet


def get_config():
  c = nasnetamobile_imagenet.get_config()
  c.model = 'nasnetalarge'
  c.image_size = 331
  c.model_kwargs.drop_path_rate = 0.3
  return c
