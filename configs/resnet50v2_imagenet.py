"""ResNet-50 v2 (pre-activation, Keras' ResNet50V2) on ImageNet.

Run:
  python -m cnn_jax.main --config=configs/resnet50v2_imagenet.py --workdir=/tmp/resnet50v2

Model: ``resnet50v2`` = ``keras.applications.ResNet50V2`` (25,613,800
parameters counting BN statistics, as Keras does): pre-activation bottlenecks
(He et al. 2016, "Identity Mappings in Deep Residual Networks") with each
stage's stride in its last unit, Keras' BN settings. Same recipe for the
deeper ones: --config.model=resnet101v2 or resnet152v2; for timm-style
pre-activation nets: --config.model=preact_resnet50.

Recipe: configs/imagenet.py unchanged (SGD momentum 0.9, lr 0.1 per 256
images, 5 warmup epochs then cosine decay, weight decay 1e-4 not on BN/biases,
label smoothing 0.1, 90 epochs, Inception crop + flip at 224, bfloat16).

Expect: the Keras applications table lists 76.0% top-1 for ResNet50V2's
ImageNet weights (trained with another recipe). Not run in this repo.
"""

from configs import imagenet


def get_config():
  return imagenet.get_config('resnet50v2', image_size=224)
