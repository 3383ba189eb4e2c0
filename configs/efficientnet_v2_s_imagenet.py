"""EfficientNetV2-S on ImageNet: torchvision's recipe of its ``IMAGENET1K_V1``
weights.

Run:
  python -m cnn_jax.main --config=configs/efficientnet_v2_s_imagenet.py --workdir=/tmp/efficientnet_v2_s

Recipe: torchvision's documented command (references/classification,
"EfficientNet-V2", the weights' ``recipe`` link)::

  train.py --model efficientnet_v2_s --batch-size 128 --lr 0.5
  --lr-scheduler cosineannealinglr --lr-warmup-epochs 5 --lr-warmup-method
  linear --auto-augment ta_wide --epochs 600 --random-erase 0.1
  --label-smoothing 0.1 --mixup-alpha 0.2 --cutmix-alpha 1.0 --weight-decay
  0.00002 --norm-weight-decay 0.0 --train-crop-size 300 --model-ema
  --val-crop-size 384 --val-resize-size 384 --ra-sampler --ra-reps 4

with the released weights trained on 32 GPUs at ``--batch-size 32`` (a
global batch of 1,024, as the command's 8 x 128). It is torchvision's new
recipe (configs/imagenet.py ``torchvision_v2``: SGD momentum 0.9, lr 0.5 per
1,024 images, weight decay 2e-5 on every parameter but the BatchNorm ones,
TrivialAugmentWide, random erasing 0.1, mixup 0.2 / CutMix 1.0, label
smoothing 0.1, repeated augmentation x4, torchvision's EMA, 600 epochs) at
EfficientNetV2's sizes: RandomResizedCrop 300 for training, the whole
384x384 resized image for evaluation (resize 384, crop 384). 5 epochs of
linear warmup from lr x 0.01, then cosine decay, stepped once per epoch
(``lr_per_epoch``); dropout 0.2 and stochastic depth 0.2 (model defaults).
Computed in bfloat16.

Expect: 84.228% top-1 (torchvision's ``_metrics``). EfficientNetV2-M with
the same recipe: --config.model=efficientnet_v2_m --config.image_size=384
--config.eval_image_size=480 (85.112%). torchvision's EfficientNetV2-L
weights are ported from the paper's (85.808%), not trained with a recipe of
its own.

Needs imagenet2012 prepared in TFDS. Not run in this repo: it needs
accelerators.
"""

from configs import imagenet


def get_config():
  c = imagenet.torchvision_v2(imagenet.get_config('efficientnet_v2_s'))
  c.image_size = 300
  c.eval_image_size = 384
  c.eval_crop_fraction = 1.0  # resize to 384, crop 384: the whole image
  c.lr_per_epoch = True
  return imagenet.torchvision_ema(c)
