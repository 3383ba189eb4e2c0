"""ConvNeXt-T on ImageNet: torchvision's recipe of its ``IMAGENET1K_V1`` weights.

Run:
  python -m cnn_jax.main --config=configs/convnext_tiny_imagenet.py --workdir=/tmp/convnext_tiny

Recipe: torchvision's documented command (references/classification,
"ConvNeXt", the weights' ``recipe`` link), 8 GPUs::

  train.py --model convnext_tiny --batch-size 128 --opt adamw --lr 1e-3
  --lr-scheduler cosineannealinglr --lr-warmup-epochs 5 --lr-warmup-method
  linear --auto-augment ta_wide --epochs 600 --random-erase 0.1
  --label-smoothing 0.1 --mixup-alpha 0.2 --cutmix-alpha 1.0 --weight-decay
  0.05 --norm-weight-decay 0.0 --train-crop-size 176 --model-ema
  --val-resize-size 232 --ra-sampler --ra-reps 4

It is torchvision's new recipe (configs/imagenet.py ``torchvision_v2``) with
AdamW (betas 0.9/0.999, eps 1e-8) at lr 1e-3 per 1,024 images and weight
decay 0.05 on every parameter but the LayerNorms' (``norm_weight_decay=0``:
biases and LayerScale decay, as torchvision's). Here, as there: global batch
1,024 (8 x 128), RandomResizedCrop 176 + flips, TrivialAugmentWide, random
erasing 0.1, mixup 0.2 / CutMix 1.0, label smoothing 0.1, 5 epochs of linear
warmup from lr x 0.01, then cosine decay to 0 over 595, both stepped once per
epoch (``lr_per_epoch``), repeated augmentation x4, torchvision's EMA
(``torchvision_ema``: every 32 steps, decay 1 - 2e-5 x 1024 x 32 / 600,
restarted during the warmup), 600 epochs; stochastic depth 0.1 and
LayerScale 1e-6 (model defaults). Evaluation on the central 224 of 232
(``eval_image_size``, ``eval_crop_fraction``); torchvision then tuned the
resize of each released model (236 for T, 230 for S, 232 for B and L: the
weights' transforms, which ``cnn_jax.convert`` records) and reported top-1
there. Computed in bfloat16.

Expect: 82.520% top-1 (torchvision's ``_metrics``). Other sizes with the
same recipe: --config.model=convnext_small (83.616%), convnext_base
(84.062%), convnext_large (84.414%).

Needs imagenet2012 prepared in TFDS. Not run in this repo: it needs
accelerators.
"""

from configs import imagenet


def convnext_config(model: str = 'convnext_tiny'):
  """torchvision's ConvNeXt recipe (above) for ``model``."""
  c = imagenet.torchvision_v2(imagenet.get_config(model))
  c.optimizer = 'adamw'
  c.b1, c.b2 = 0.9, 0.999
  c.learning_rate = 1e-3
  c.lr_scaling_base_batch = 1024
  c.weight_decay = 0.05
  c.norm_weight_decay = 0.0
  c.lr_per_epoch = True
  return imagenet.torchvision_ema(c)


def get_config():
  return convnext_config('convnext_tiny')
