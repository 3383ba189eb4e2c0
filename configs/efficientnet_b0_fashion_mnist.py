"""EfficientNet-B0 on Fashion-MNIST, images resized from 28x28 to 32x32.

Run:
  python -m cnn_jax.main --config=configs/efficientnet_b0_fashion_mnist.py --workdir=/tmp/efficientnet_b0_fmnist

Model: torchvision's ``efficientnet_b0`` unchanged (one input channel, 10
classes: 4.02M parameters; dropout 0.2, stochastic depth 0.2). The network
downsamples by 32, so at 32x32 its last stages and the head conv run at 1x1:
a smoke-scale setup, not a tuned small-image EfficientNet.

Recipe (our choice; no reference for this setup): as
configs/mobilenet_v2_fashion_mnist.py (SGD momentum 0.9, lr 0.1 at batch 128,
2 warm-up epochs, cosine decay over 30 epochs, pad-crop + flips) with the
EfficientNet paper's weight decay 1e-5.

Expect: no published reference for this exact setup and not run in this repo.
"""

from configs import mobilenet_v2_fashion_mnist


def get_config():
  return mobilenet_v2_fashion_mnist.get_config(
    'efficientnet_b0', weight_decay=1e-5
  )
