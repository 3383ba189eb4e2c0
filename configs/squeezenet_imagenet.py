"""SqueezeNet on ImageNet (Iandola et al. 2016): the recipe behind
torchvision's weights.

Run:
  python -m cnn_jax.main --config=configs/squeezenet_imagenet.py --workdir=/tmp/squeezenet1_0
  python -m cnn_jax.main --config=configs/squeezenet_imagenet.py:1_1 --workdir=/tmp/squeezenet1_1

The argument is the version (``1_0`` (default) or ``1_1``). Recipe: the one
torchvision's weights were trained with (pytorch/vision#49: PyTorch's
ImageNet example, ``--epochs 100 --lr 0.01 --weight-decay 0.0002
--batch-size 128``): SGD momentum 0.9, lr 0.01 at batch 128, x0.1 every 30
epochs, weight decay 2e-4 on every parameter, 100 epochs; RandomResizedCrop
224 + flip, evaluation on the central 224 of 256; dropout 0.5 before the
classifier conv (the model's). configs/imagenet.py ``torchvision_v1`` with
that lr, decay, batch and length.

Expect: 58.092% (1.0) and 58.178% (1.1) top-1 (torchvision's ``_metrics``;
the paper reports 57.5% for 1.0 with Caffe). Needs imagenet2012 prepared in
TFDS. Computed in bfloat16. Not run in this repo: it needs accelerators.
"""

from configs import imagenet

ARGUMENTS = ('1_0', '1_1')
CONFIG = 'configs/squeezenet_imagenet.py'


def get_config(arg: str = '1_0'):
  if arg not in ARGUMENTS:
    raise ValueError(
      f'{CONFIG}:{arg}: the argument is the version, 1_0 or 1_1.'
    )
  c = imagenet.torchvision_config(f'squeezenet{arg}', 'v1', CONFIG)
  c.batch_size = 128
  c.learning_rate = 0.01
  c.lr_scaling_base_batch = 128
  c.weight_decay = 2e-4
  c.lr_boundaries = (30, 60, 90)
  c.num_epochs = 100.0
  return c
