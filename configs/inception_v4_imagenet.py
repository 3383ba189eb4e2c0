"""Inception-v4 on ImageNet at 299x299 (Szegedy et al. 2017).

Run:
  python -m cnn_jax.main --config=configs/inception_v4_imagenet.py --workdir=/tmp/inception_v4

Model: ``inception_v4`` = timm's ``inception_v4`` (42,679,816 parameters),
dropout 0.2 before the classifier (TF-slim's ``dropout_keep_prob=0.8``, the
network timm's weights come from). configs/inception_resnet_v2_imagenet.py
trains Inception-ResNet-v2 the same way.

Recipe (the paper, section 5: "RMSProp with decay of 0.9 and epsilon 1.0, a
learning rate of 0.045, decayed every two epochs using an exponential rate
of 0.94; model evaluations are performed using a running average of the
parameters"): configs/inception_v3_imagenet.py's, which has those and the
rest of the Inception-v3 paper's TF training (TensorFlow 1's RMSProp, label
smoothing 0.1, gradient clipping at 2.0, weight decay 4e-5 as TF-slim's
arg scope, the 0.9999 moving average with TF's ramp, 100 epochs, one
synchronous batch of 1024 with 5 warmup epochs); no auxiliary head (timm's
Inception-v4 has none).

Expect: 80.156% top-1 (timm's results table for ``inception_v4.tf_in1k``,
the port of TF-slim's checkpoint); the paper reports 20.0% top-1 single-crop
error (80.0%). Needs imagenet2012 prepared in TFDS. Computed in bfloat16. Not
run in this repo: it needs accelerators.
"""

import ml_collections

from configs import inception_v3_imagenet


def get_config(model: str = 'inception_v4'):
  c = inception_v3_imagenet.get_config()
  c.model = model
  c.model_kwargs = ml_collections.ConfigDict({'dropout': 0.2})
  return c
