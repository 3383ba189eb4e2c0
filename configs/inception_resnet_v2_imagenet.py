"""Inception-ResNet-v2 on ImageNet at 299x299 (Szegedy et al. 2017).

Run:
  python -m cnn_jax.main --config=configs/inception_resnet_v2_imagenet.py --workdir=/tmp/inception_resnet_v2

Model: ``inception_resnet_v2`` = timm's ``inception_resnet_v2``
(55,843,464 parameters), dropout 0.2 (TF-slim's keep probability 0.8). The
Keras form: --config.model=inception_resnet_v2_keras.

Recipe: the paper's, as configs/inception_v4_imagenet.py (RMSProp decay 0.9,
epsilon 1.0, lr 0.045 x0.94 every two epochs, evaluation of the weights'
moving average; the rest from configs/inception_v3_imagenet.py).

Expect: 80.462% top-1 (timm's results table for
``inception_resnet_v2.tf_in1k``, the port of TF-slim's checkpoint); the paper
reports 19.9% top-1 single-crop error (80.1%), Keras' documentation 80.3%.
Needs imagenet2012 prepared in TFDS. Computed in bfloat16. Not run in this
repo: it needs accelerators.
"""

from configs import inception_v4_imagenet


def get_config():
  return inception_v4_imagenet.get_config('inception_resnet_v2')
