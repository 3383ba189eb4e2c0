"""ShuffleNet V2 1.0x with a stride-1 stem (``shufflenet_v2_x1_0_cifar``) on
Fashion-MNIST at its native 28x28.

Run:
  python -m cnn_jax.main --config=configs/shufflenet_v2_fashion_mnist.py --workdir=/tmp/shufflenet_v2_fmnist

Model: torchvision's ShuffleNet V2 1.0x whose stem conv has stride 1 and no
max-pool, so its three stages run at 14, 7 and 4 px; one input channel, 10
classes (1.26M parameters).

Recipe (our choice; no reference for this setup): the ShuffleNet authors'
optimizer (SGD momentum 0.9, weight decay 4e-5 on kernels only, label
smoothing 0.1, lr decayed linearly to 0) at lr 0.1 for batch 128 with one
warmup epoch, 30 epochs, 2-pixel pad + random crop and horizontal flips.

Expect: no published reference for this setup and not run in this repo.
"""

from configs import base


def get_config():
  c = base.get_config()
  c.model = 'shufflenet_v2_x1_0_cifar'
  c.dataset = 'fashion_mnist'
  c.augment = 'crop_pad,flip'
  c.crop_padding = 2
  c.batch_size = 128
  c.num_epochs = 30.0
  c.optimizer = 'sgd'
  c.momentum = 0.9
  c.learning_rate = 0.1
  c.lr_schedule = 'linear'
  c.warmup_epochs = 1.0
  c.weight_decay = 4e-5
  c.weight_decay_on_bn_and_bias = False
  c.label_smoothing = 0.1
  return c
