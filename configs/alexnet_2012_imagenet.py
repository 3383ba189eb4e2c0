"""AlexNet as in Krizhevsky et al. 2012 (one tower), the paper's recipe.

Run:
  python -m cnn_jax.main --config=configs/alexnet_2012_imagenet.py --workdir=/tmp/alexnet_2012

Model: ``alexnet_2012`` (62,378,344 parameters): 227x227 input, conv 96-256-
384-384-256 with LRN (k=2, n=5, alpha=1e-4, beta=0.75) after conv1 and conv2,
FC 4096-4096-1000 with dropout 0.5 after fc6 and fc7. The paper's two-GPU
split (grouped conv2/4/5, 60,965,224 parameters):
--config.model_kwargs.two_tower=True.

Recipe (paper, section 5): SGD batch 128, momentum 0.9, weight decay 5e-4, lr
0.01 divided by 10 three times (when validation error stopped improving; here
at fixed epochs 30, 60 and 80), about 90 epochs. The paper trains on random
224 crops of 256x256 images with flips and PCA colour noise; this repo uses
the shared Inception crop + flip at 227 and has no PCA lighting.

Expect: the paper reports 40.7% top-1 / 18.2% top-5 validation error for one
CNN (59.3% top-1 accuracy, 10-crop test, two-tower); not run in this repo.
"""

from configs import imagenet


def get_config():
  c = imagenet.get_config('alexnet_2012', image_size=227)
  c.batch_size = 128
  c.eval_batch_size = 512
  c.learning_rate = 0.01
  c.lr_scaling_base_batch = 128
  c.momentum = 0.9
  c.weight_decay = 5e-4
  c.weight_decay_on_bn_and_bias = True
  c.lr_schedule = 'multistep'
  c.lr_boundaries = (30, 60, 80)
  c.lr_decay_factor = 0.1
  c.warmup_epochs = 0.0
  c.label_smoothing = 0.0
  return c
