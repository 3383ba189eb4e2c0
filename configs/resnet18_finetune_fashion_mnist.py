"""Fine-tunes a converted torchvision ResNet-18 on Fashion-MNIST (new head).

Run (from the repository root): convert, then train from the conversion.

  python -m cnn_jax.convert --source=torchvision --model=resnet18 \\
      --weights=/path/to/resnet18-f37072fd.pth --out=/tmp/resnet18_converted
  python -m cnn_jax.main --config=configs/resnet18_finetune_fashion_mnist.py \\
      --config.init_from=/tmp/resnet18_converted --workdir=/tmp/resnet18_ft

``--weights`` is a torchvision ``resnet18`` state_dict you already have
(e.g. IMAGENET1K_V1, ``resnet18-f37072fd.pth``); without it the conversion
keeps torchvision's random initialization, which runs the same commands but
gives nothing to transfer. Nothing is downloaded.

Model: ``resnet18`` with its ImageNet stem (7x7/2 conv + 3x3/2 max pool), so
every converted tensor fits. ``init_from`` copies every tensor whose shape
matches; the 1000-class ``fc`` does not fit the 10 classes and starts fresh
(``train.init_from_checkpoint``).

Data: 28x28 grayscale images repeated to 3 channels (``grayscale_to_rgb``),
resized to 64x64 (the stages then run at 16, 8, 4 and 2 pixels) and
normalized with ImageNet's mean and std, as the converted weights expect.

Recipe: SGD momentum 0.9, lr 0.01 (a tenth of a from-scratch run: the
features are pretrained), cosine decay over 3 epochs, weight decay 1e-4,
batch 128, horizontal flips.

Expect: not run to completion in this repo (tests/test_convert.py runs 20
steps at 32x32 to check that it works end to end).
"""

from configs import base


def get_config():
  c = base.get_config()
  c.model = 'resnet18'
  c.dataset = 'fashion_mnist'
  c.grayscale_to_rgb = True
  c.image_size = 64
  c.mean = (0.485, 0.456, 0.406)  # ImageNet's, as torchvision trained with.
  c.std = (0.229, 0.224, 0.225)
  c.augment = 'flip'
  c.init_from = None  # --config.init_from=DIR written by cnn_jax.convert.
  c.batch_size = 128
  c.num_epochs = 3.0
  c.optimizer = 'sgd'
  c.learning_rate = 0.01
  c.momentum = 0.9
  c.weight_decay = 1e-4
  c.lr_schedule = 'cosine'
  return c
