"""Your own images: a folder with one subfolder per class (README "Your own data").

Run:
  python -m cnn_jax.main --config=configs/image_folder.py \\
      --config.image_folder=DIR --workdir=workdirs/my_images

DIR holds train/<class>/*.jpg|png|... (and optionally val/ and test/ laid out
alike), or just <class>/*.jpg. Without a val/ folder, 10% of the training
images are held out for validation. Every image is read as an
``image_size`` square (its central square, resized), so photos of any size
work. The class names are kept in WORKDIR/dataset.json; predict with
``python -m cnn_jax.predict --workdir=workdirs/my_images IMAGE...``.

Recipe: ResNet-18 from scratch at 128x128, random resized crops (35-100% of
the area) and flips, AdamW lr 1e-3 with 2 warmup epochs and cosine decay,
weight decay 0.05, label smoothing 0.1, 30 epochs. With few images per
class, start from converted ImageNet weights instead (README, "Weights from
torchvision, timm and Keras"): --config.init_from=CONVERTED_DIR keeps every
tensor but the classifier head.

Expect: depends on your data. Not a published recipe: a sound default for a
few hundred to a few thousand images per class.
"""

from configs import base


def get_config():
  c = base.get_config()
  c.model = 'resnet18'
  c.dataset = 'image_folder'
  c.image_size = 128
  c.validation_fraction = 0.1
  c.augment = 'rrc,flip'
  c.rrc_scale = (0.35, 1.0)
  c.batch_size = 64
  c.eval_batch_size = 64
  c.shuffle_buffer = 10_000
  c.num_epochs = 30.0
  c.optimizer = 'adamw'
  c.learning_rate = 1e-3
  c.weight_decay = 0.05
  c.weight_decay_on_bn_and_bias = False
  c.lr_schedule = 'cosine'
  c.warmup_epochs = 2.0
  c.label_smoothing = 0.1
  c.log_every_steps = 20
  c.checkpoint_every_steps = 500
  return c
