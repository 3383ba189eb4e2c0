"""The four models of the UvA DL course's tutorial 5 on CIFAR-10, each with
the tutorial's recipe. The argument picks the model (big_vision style)::

  python -m cnn_jax.main --config=configs/uvadl_cifar10.py:resnet
  python -m cnn_jax.main --config=configs/uvadl_cifar10.py:densenet \\
      --config.num_epochs=20

| arg | model | parameters | optimizer |
|---|---|---:|---|
| ``googlenet`` | ``googlenet_uvadl``: 3x3 conv-64 stem, eight inception blocks (conv-BN-ReLU branches 1x1, 1x1-3x3, 1x1-5x5, maxpool-1x1), two 3/2 max pools, linear 128 -> 10 | 260,650 | AdamW (the tutorial's "Adam" option builds ``torch.optim.AdamW``) lr 1e-3, wd 1e-4 |
| ``resnet`` | ``resnet_uvadl``: [3, 3, 3] basic blocks of 16/32/64 channels; subsampling shortcuts are a 1x1 stride-2 conv with bias, no BN | 272,378 | SGD momentum 0.9, lr 0.1, wd 1e-4 |
| ``preact_resnet`` | ``preact_resnet_uvadl``: the same with pre-activation blocks; subsampling shortcuts BN-ReLU-conv1x1 of their own; no BN-ReLU after the stem or before the pooling | 272,250 | SGD momentum 0.9, lr 0.1, wd 1e-4 |
| ``densenet`` | ``densenet_uvadl``: four blocks of 6 layers, growth 16, bottleneck 2 x 16 | 239,146 | Adam lr 1e-3, (coupled) L2 1e-4 |

Common recipe: lr x0.1 at epochs 100 and 150 of 180, batch 128, random crop
with 4-pixel padding + horizontal flip. (The tutorial's notebook itself
augments with RandomResizedCrop(scale 0.8-1.0, ratio 0.9-1.1) + flip:
``--config.augment=rrc,flip --config.image_size=32
--config.rrc_scale='(0.8, 1.0)' --config.rrc_ratio='(0.9, 1.1)'``.)

Expect (the tutorial's CIFAR-10 test accuracy after 180 epochs): GoogleNet
89.70%, ResNet 91.06%, PreActResNet 91.07%, DenseNet 90.23%; not run on
CIFAR-10 in this repo (Fashion-MNIST runs: experiments/results/).
"""

from configs import base

MODELS = {
  'googlenet': ('googlenet_uvadl', dict(optimizer='adamw', learning_rate=1e-3)),
  'resnet': ('resnet_uvadl', dict(optimizer='sgd', learning_rate=0.1)),
  'preact_resnet': (
    'preact_resnet_uvadl',
    dict(optimizer='sgd', learning_rate=0.1),
  ),
  'densenet': ('densenet_uvadl', dict(optimizer='adam', learning_rate=1e-3)),
}


ARGUMENTS = tuple(MODELS)


def get_config(arg: str = 'resnet'):
  if arg not in MODELS:
    raise ValueError(
      f'configs/uvadl_cifar10.py:{arg}: the argument is one of '
      f'{", ".join(MODELS)}.'
    )
  model, optimizer = MODELS[arg]
  c = base.get_config()
  c.model = model
  c.dataset = 'cifar10'
  c.augment = 'crop_pad,flip'
  c.crop_padding = 4
  c.batch_size = 128
  c.num_epochs = 180.0
  c.momentum = 0.9
  c.weight_decay = 1e-4
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (100, 150)
  c.lr_decay_factor = 0.1
  for k, v in optimizer.items():
    c[k] = v
  return c
