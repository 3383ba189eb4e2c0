"""SE-ResNet-50 on ImageNet with the SENet paper's recipe (Hu et al. 2018).

Run:
  python -m cnn_jax.main --config=configs/seresnet50_imagenet.py --workdir=/tmp/seresnet50

Model: timm's ``seresnet50`` (28,088,024 parameters): ResNet-50 v1.5 with a
squeeze-and-excitation module (reduction 16) on every bottleneck branch. Use
--config.model=seresnext50_32x4d for SE-ResNeXt-50 32x4d with the same recipe.

Recipe (Hu et al., section 6): SGD momentum 0.9, batch 1024, lr 0.6 (0.15 per
256 images) divided by 10 every 30 epochs, 100 epochs, random-size crop +
flip at 224. Weight decay 1e-4 (not on BN/biases), label smoothing 0.1 and
bfloat16 come from the shared configs/imagenet.py; no warmup.

Expect: the paper reports 23.29% top-1 error (76.71% top-1) single-crop for
SE-ResNet-50 (their re-implemented ResNet-50: 24.80%). Not run in this repo.
"""

from configs import imagenet


def get_config():
  c = imagenet.get_config('seresnet50', image_size=224)
  c.batch_size = 1024
  c.learning_rate = 0.15
  c.lr_scaling_base_batch = 256
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (30, 60, 90)
  c.lr_decay_factor = 0.1
  c.warmup_epochs = 0.0
  c.num_epochs = 100.0
  return c
