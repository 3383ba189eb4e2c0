"""The ImageNet recipe shared by the `*_imagenet.py` configs (not run alone).

Standard ResNet-style training (Goyal et al. 2017; torchvision's reference
recipe): Inception-style random crop + flip at 224, central 87.5% crop for
evaluation, SGD with Nesterov-free momentum 0.9, lr 0.1 per 256 images with
5 epochs of linear warmup then cosine decay, weight decay 1e-4 (not on BN or
biases), label smoothing 0.1, 90 epochs. Needs imagenet2012 prepared in TFDS
(see README: the two tar files go in the TFDS manual download directory).
"""

from configs import base


def get_config(model: str, image_size: int = 224):
  c = base.get_config()
  c.model = model
  c.dataset = 'imagenet2012'
  c.validation_examples = 10_000
  c.image_size = image_size
  c.augment = 'inception_crop,flip'
  c.eval_crop_fraction = 0.875
  c.cache = False
  c.shuffle_buffer = 16 * 1024
  c.batch_size = 1024
  c.eval_batch_size = 1024
  c.num_epochs = 90.0
  c.optimizer = 'sgd'
  c.learning_rate = 0.1
  c.lr_scaling_base_batch = 256
  c.momentum = 0.9
  c.weight_decay = 1e-4
  c.weight_decay_on_bn_and_bias = False
  c.lr_schedule = 'cosine'
  c.warmup_epochs = 5.0
  c.label_smoothing = 0.1
  c.dtype = 'bfloat16'
  c.log_every_steps = 500
  c.checkpoint_every_steps = 5000
  return c
