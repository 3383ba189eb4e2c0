"""SENet-154 on ImageNet with the SENet paper's recipe (Hu et al. 2018).

Run:
  python -m cnn_jax.main --config=configs/senet154_imagenet.py --workdir=/tmp/senet154

Model: timm's ``senet154`` (115,088,984 parameters): 3-8-36-3 SE-ResNeXt
bottlenecks with 64 groups of 4 channels, a deep 3-conv stem, 3x3 strided
projections, and dropout 0.2 before the classifier (as the paper's model;
timm defaults to none, set --config.model_kwargs.dropout_rate=0.0 for that).

Recipe (Hu et al., section 6): SGD momentum 0.9, batch 1024, lr 0.6 (0.15 per
256 images) divided by 10 every 30 epochs, 100 epochs, random-size crop +
flip at 224. Weight decay 1e-4, label smoothing 0.1 and bfloat16 come from the
shared configs/imagenet.py; no warmup.

Expect: the paper reports 18.68% top-1 error (81.32% top-1) single-crop at
224 for SENet-154. Not run in this repo.
"""

from configs import imagenet


def get_config():
  c = imagenet.get_config('senet154', image_size=224)
  c.batch_size = 1024
  c.learning_rate = 0.15
  c.lr_scaling_base_batch = 256
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (30, 60, 90)
  c.lr_decay_factor = 0.1
  c.warmup_epochs = 0.0
  c.num_epochs = 100.0
  return c
