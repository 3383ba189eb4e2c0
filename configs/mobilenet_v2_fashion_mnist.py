"""MobileNet v2 (1.0) on Fashion-MNIST, images resized from 28x28 to 32x32.

Run:
  python -m cnn_jax.main --config=configs/mobilenet_v2_fashion_mnist.py --workdir=/tmp/mobilenet_v2_fmnist

Model: torchvision's ``mobilenet_v2`` unchanged (ImageNet stem with stride 2,
one input channel, 10 classes: 2.24M parameters). The network downsamples by
32, so at 32x32 its last stages and the 1x1 conv to 1280 channels run at 1x1:
this is a smoke-scale setup, not a tuned small-image MobileNet (those
remove early strides).

Recipe (our choice; no reference for this setup): SGD momentum 0.9, lr 0.1
at batch 128 with 2 warm-up epochs then cosine decay over 30 epochs, weight
decay 4e-5 (the paper's, not on BN or biases), 2-pixel pad + random crop and
horizontal flips.

Expect: no published reference for this exact setup and not run in this repo.
"""

from configs import base


def get_config(model='mobilenet_v2', weight_decay=4e-5):
  c = base.get_config()
  c.model = model
  c.dataset = 'fashion_mnist'
  c.image_size = 32
  c.augment = 'crop_pad,flip'
  c.crop_padding = 2
  c.batch_size = 128
  c.num_epochs = 30.0
  c.optimizer = 'sgd'
  c.learning_rate = 0.1
  c.momentum = 0.9
  c.lr_schedule = 'cosine'
  c.warmup_epochs = 2.0
  c.weight_decay = weight_decay
  c.weight_decay_on_bn_and_bias = False
  return c
