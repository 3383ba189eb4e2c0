"""RegNetY-400MF with a stride-1 stem (``regnet_y_400mf_cifar``) on
Fashion-MNIST at its native 28x28.

Run:
  python -m cnn_jax.main --config=configs/regnet_fashion_mnist.py --workdir=/tmp/regnet_fmnist

Model: the 400MF design point of RegNetY (depth 16, w_0 48, w_a 27.89, w_m
2.09, group width 8, SE 0.25: stages of 48/104/208/440 channels) with a
3x3 stride-1 stem, so the stages run at 14/7/4/2 px; one input channel, 10
classes. The model is a point of the RegNet design space: every design
parameter can be set, e.g. ``--config.model_kwargs.depth=10
--config.model_kwargs.w_a=20.0`` (a shallower, narrower RegNet), and ``--config.model=regnet_x_400mf_cifar`` takes
RegNetX-400MF's point instead.

Recipe (our choice; no reference for this setup): SGD momentum 0.9, lr 0.1
at batch 128, 1 warm-up epoch then cosine decay over 20 epochs, weight decay
5e-5 (the RegNet paper's) on every parameter, 2-pixel pad + random crop and
horizontal flips.

Expect: no published reference for this setup and not run in this repo.
"""

from configs import base
from configs import regnet_y_400mf_imagenet


def get_config():
  c = base.get_config()
  c.model = 'regnet_y_400mf_cifar'
  c.model_kwargs = regnet_y_400mf_imagenet.design_space()
  c.dataset = 'fashion_mnist'
  c.augment = 'crop_pad,flip'
  c.crop_padding = 2
  c.batch_size = 128
  c.num_epochs = 20.0
  c.optimizer = 'sgd'
  c.learning_rate = 0.1
  c.momentum = 0.9
  c.lr_schedule = 'cosine'
  c.warmup_epochs = 1.0
  c.weight_decay = 5e-5
  return c
