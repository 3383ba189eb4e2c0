"""The ImageNet recipe shared by the `*_imagenet.py` configs (not run alone).

Standard ResNet-style training (Goyal et al. 2017; torchvision's reference
recipe): Inception-style random crop + flip at 224, central 87.5% crop for
evaluation, SGD with Nesterov-free momentum 0.9, lr 0.1 per 256 images with
5 epochs of linear warmup then cosine decay, weight decay 1e-4 (not on BN or
biases), label smoothing 0.1, 90 epochs. Needs ImageNet's two ILSVRC2012 tars
in the manual directory (``--config.manual_dir``): the first run prepares
them with TFDS's builder.
"""

from configs import base


def get_config(model: str, image_size: int = 224):
  c = base.get_config()
  c.model = model
  c.dataset = 'imagenet2012'
  c.validation_examples = 10_000
  c.image_size = image_size
  c.augment = 'inception_crop,flip'
  c.eval_crop_fraction = 0.875
  c.cache = False
  c.shuffle_buffer = 16 * 1024
  c.batch_size = 1024
  c.eval_batch_size = 1024
  c.num_epochs = 90.0
  c.optimizer = 'sgd'
  c.learning_rate = 0.1
  c.lr_scaling_base_batch = 256
  c.momentum = 0.9
  c.weight_decay = 1e-4
  c.weight_decay_on_bn_and_bias = False
  c.lr_schedule = 'cosine'
  c.warmup_epochs = 5.0
  c.label_smoothing = 0.1
  c.dtype = 'bfloat16'
  c.log_every_steps = 500
  c.checkpoint_every_steps = 5000
  return c


def torchvision_v1(c):
  """torchvision's classification reference, default flags (the recipe of its
  ``IMAGENET1K_V1`` ResNet/ResNeXt/Wide-ResNet weights): 8 GPUs x batch 32,
  SGD momentum 0.9, lr 0.1, weight decay 1e-4 on every parameter, lr x0.1 at
  epochs 30 and 60, 90 epochs, RandomResizedCrop 224 + flip, evaluation on
  the central 224 of 256; no warmup, label smoothing, EMA or mixing."""
  c.augment = 'rrc,flip'
  c.batch_size = 256
  c.learning_rate = 0.1
  c.lr_scaling_base_batch = 256
  c.momentum = 0.9
  c.weight_decay = 1e-4
  c.weight_decay_on_bn_and_bias = True
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (30, 60)
  c.lr_decay_factor = 0.1
  c.warmup_epochs = 0.0
  c.label_smoothing = 0.0
  c.num_epochs = 90.0
  return c


def torchvision_v2(c):
  """torchvision's "new training recipe" (the blog post "How to Train
  State-of-the-Art Models Using TorchVision's Latest Primitives"; the recipe of
  its ``IMAGENET1K_V2`` ResNet-50, ResNeXt-50 and Wide-ResNet-50 weights)::

    train.py --batch-size 128 (x 8 GPUs) --lr 0.5 --lr-scheduler
    cosineannealinglr --lr-warmup-epochs 5 --lr-warmup-method linear
    --auto-augment ta_wide --epochs 600 --random-erase 0.1 --weight-decay
    0.00002 --norm-weight-decay 0.0 --label-smoothing 0.1 --mixup-alpha 0.2
    --cutmix-alpha 1.0 --train-crop-size 176 --model-ema --val-resize-size
    232 --ra-sampler --ra-reps 4

  Here: batch 1024, lr 0.5 per 1024, 5 warmup epochs then cosine, 600
  epochs, TrivialAugmentWide, random erasing 0.1 (torchvision's: zeros
  after normalization), weight decay 2e-5 on every parameter but the
  BatchNorm ones (``norm_weight_decay=0``), label smoothing 0.1, mixup 0.2 /
  CutMix 1.0 (one of the two per batch), training at 176, and torchvision's
  EMA (``torchvision_ema``).
  Evaluation at 224: the central 224/232 of the image, resized to 224
  (``eval_image_size``). Repeated augmentation with 4 copies
  (``aug_repeats``; torchvision's RASampler spreads the copies of an image
  over the GPUs of one step, ours sit side by side in the same global batch:
  the same examples per step). The warmup starts at lr x 0.01
  (``--lr-warmup-decay``'s default) and rises per step, where torchvision's
  rises per epoch.
  """
  c.augment = 'rrc,flip'
  c.image_size = 176
  c.eval_image_size = 224
  c.eval_crop_fraction = 224 / 232
  c.auto_augment = 'trivialaugment'
  c.random_erasing = 0.1
  c.random_erasing_mode = 'const'  # torchvision's RandomErasing: value 0
  c.batch_size = 1024
  c.learning_rate = 0.5
  c.lr_scaling_base_batch = 1024
  c.momentum = 0.9
  c.weight_decay = 2e-5
  c.weight_decay_on_bn_and_bias = False
  c.norm_weight_decay = 0.0
  c.lr_schedule = 'cosine'
  c.warmup_epochs = 5.0
  c.warmup_start_factor = 0.01
  c.label_smoothing = 0.1
  c.mixup_alpha = 0.2
  c.cutmix_alpha = 1.0
  c.mix_prob = 1.0
  c.mix_switch_prob = 0.5
  c.aug_repeats = 4
  c.num_epochs = 600.0
  return torchvision_ema(c)


def torchvision_ema(c, decay: float = 0.99998, every: int = 32):
  """torchvision's ``--model-ema`` as its reference script runs it (defaults
  ``--model-ema-decay 0.99998 --model-ema-steps 32``): the average of the
  weights and BatchNorm statistics is updated every 32 steps with ``alpha =
  (1 - decay) * batch * 32 / epochs`` (so that its horizon is a fixed share
  of the run), and restarts from the weights at every update of the lr
  warmup epochs. Reads ``c.batch_size`` and ``c.num_epochs``: call it after
  setting them (and again after changing them)."""
  alpha = min(1.0, (1.0 - decay) * c.batch_size * every / c.num_epochs)
  c.ema_decay = 1.0 - alpha
  c.ema_every_steps = every
  c.ema_warmup = False
  c.ema_reset_in_warmup = True
  return c


TORCHVISION_RECIPES = ('v1', 'v2')


def torchvision_config(model: str, recipe: str, config_file: str):
  """``model`` at 224 with torchvision's recipe ``recipe`` ('v1' or 'v2'):
  the ``get_config`` of a config file that takes the recipe as argument."""
  recipes = {'v1': torchvision_v1, 'v2': torchvision_v2}
  if recipe not in recipes:
    raise ValueError(
      f'{config_file}:{recipe}: the argument is the recipe, one '
      f'of {", ".join(TORCHVISION_RECIPES)}.'
    )
  return recipes[recipe](get_config(model, image_size=224))
