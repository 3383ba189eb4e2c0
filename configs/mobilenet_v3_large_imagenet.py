"""MobileNet v3 Large (1.0, 224) on ImageNet: torchvision's recipe (Howard et al. 2019).

Run:
  python -m cnn_jax.main --config=configs/mobilenet_v3_large_imagenet.py --workdir=/tmp/mobilenet_v3_large

Other widths: --config.model_kwargs.width_mult=0.75.

Recipe: torchvision's reference for its ``IMAGENET1K_V1`` weights
(``train.py --model mobilenet_v3_large --epochs 600 --opt rmsprop
--batch-size 128 --lr 0.064 --wd 0.00001 --lr-step-size 2 --lr-gamma 0.973
--auto-augment imagenet --random-erase 0.2`` on 8 GPUs): batch 1024, RMSProp
(decay 0.9, momentum 0.9), lr 0.064 (scaled linearly from 1024 images) x0.973
every 2 epochs, weight decay 1e-5 on every parameter, 600 epochs,
RandomResizedCrop 224 + flip + AutoAugment (ImageNet policy), random erasing
0.2, evaluation on the central 224 of 256; dropout 0.2 (the model's default).
PyTorch's RMSprop (epsilon 0.0316 added to the root, mean square from 0, lr
applied to the momentum buffer) is optax's with ``rmsprop_eps_in_sqrt=False``,
update for update.

The paper's recipe (section 6.1: RMSProp momentum 0.9, lr 0.1 at batch 4096
x0.99 every 3 epochs, weight decay 1e-5, 0.9999 weight EMA; 75.2% top-1) is
closer to configs/efficientnet_b0_imagenet.py's; torchvision's
``IMAGENET1K_V2`` weights (75.274%) come from a later recipe of its own
(vision issue #3995) that this config does not follow.

Expect: 74.042% top-1 (torchvision's ``_metrics`` for ``IMAGENET1K_V1``). Not
run in this repo.
"""

from configs import imagenet


def get_config(model='mobilenet_v3_large'):
  c = imagenet.get_config(model, image_size=224)
  c.augment = 'rrc,flip'
  c.auto_augment = 'autoaugment'
  c.random_erasing = 0.2
  c.random_erasing_mode = 'const'  # torchvision's RandomErasing: value 0
  c.batch_size = 1024
  c.optimizer = 'rmsprop'
  c.rmsprop_decay = 0.9
  c.rmsprop_eps = 0.0316
  c.rmsprop_eps_in_sqrt = False  # PyTorch's
  c.momentum = 0.9
  c.learning_rate = 0.064
  c.lr_scaling_base_batch = 1024
  c.lr_schedule = 'exponential'
  c.lr_decay_factor = 0.973
  c.lr_decay_epochs = 2.0
  c.warmup_epochs = 0.0
  c.weight_decay = 1e-5
  c.weight_decay_on_bn_and_bias = True
  c.label_smoothing = 0.0
  c.num_epochs = 600.0
  return c
