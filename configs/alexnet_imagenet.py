"""AlexNet (torchvision's single-tower form) on ImageNet, torchvision's recipe.

Run:
  python -m cnn_jax.main --config=configs/alexnet_imagenet.py --workdir=/tmp/alexnet

Model: ``alexnet`` = torchvision.models.alexnet (61,100,840 parameters): conv
64-192-384-256-256, no LRN, adaptive average pool to 6x6, dropout 0.5 before
fc6 and fc7.

Recipe: torchvision's reference for AlexNet and VGG (references/classification,
"AlexNet and VGG"): the network has no BatchNorm, so lr 0.01 per 256 images
instead of 0.1; SGD momentum 0.9, weight decay 1e-4 on all weights, lr x0.1 at
epochs 30 and 60, 90 epochs, no warmup, no label smoothing. Data as in
configs/imagenet.py (Inception crop + flip at 224, central 87.5% crop).

Expect: torchvision's IMAGENET1K_V1 weights (trained with that recipe) give
56.522% top-1 / 79.066% top-5; not run in this repo.
"""

from configs import imagenet


def get_config():
  c = imagenet.get_config('alexnet', image_size=224)
  c.learning_rate = 0.01
  c.lr_scaling_base_batch = 256
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (30, 60)
  c.lr_decay_factor = 0.1
  c.warmup_epochs = 0.0
  c.label_smoothing = 0.0
  c.weight_decay_on_bn_and_bias = True
  return c
