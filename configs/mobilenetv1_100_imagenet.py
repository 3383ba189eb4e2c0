"""MobileNet v1 (1.0, 224) on ImageNet (Howard et al. 2017).

Run:
  python -m cnn_jax.main --config=configs/mobilenetv1_100_imagenet.py --workdir=/tmp/mobilenetv1_100

Other widths and resolutions with the same recipe:
--config.model=mobilenetv1_075 (or mobilenetv1_050, mobilenetv1_025, mobilenetv1_125, mobilenet_keras) and
--config.image_size=192 (or 160, 128): the network is fully convolutional up to
the global pool, so the resolution multiplier is just the input size.

Recipe: the paper trains "with RMSprop and asynchronous gradient descent
similar to Inception V3", with less regularization and augmentation than
Inception (no label smoothing, no side heads, smaller range of crop sizes),
but gives no numbers. Used here: Inception-v3's (Szegedy et al. 2016)
RMSProp decay 0.9, epsilon 1.0, lr 0.045 per 32 images decayed by 0.94 every
2 epochs, global-norm gradient clipping at 2.0, 100 epochs; weight decay 4e-5
(TF-slim's MobileNet default; the paper puts little or none on the depthwise
filters, which this config does not single out); no label smoothing;
Inception crops limited to at least 25% of the image (our choice: the paper
gives no figure). Not reproduced: asynchronous training.

Expect: the paper reports 70.6% top-1 for 1.0 MobileNet-224 (0.75: 68.4%,
0.5: 63.7%, 0.25: 50.6%). Not run in this repo.
"""

from configs import imagenet


def get_config():
  c = imagenet.get_config('mobilenetv1_100', image_size=224)
  c.batch_size = 32
  c.optimizer = 'rmsprop'
  c.rmsprop_decay = 0.9
  c.rmsprop_eps = 1.0
  c.rmsprop_initial_scale = 1.0  # TensorFlow 1: mean square from 1
  c.momentum = 0.9
  c.learning_rate = 0.045
  c.lr_scaling_base_batch = 32
  c.lr_schedule = 'exponential'
  c.lr_decay_factor = 0.94
  c.lr_decay_epochs = 2.0
  c.warmup_epochs = 0.0
  c.grad_clip_norm = 2.0
  c.weight_decay = 4e-5
  c.weight_decay_on_bn_and_bias = False
  c.label_smoothing = 0.0
  c.rrc_scale = (0.25, 1.0)
  c.num_epochs = 100.0
  return c
