"""LeNet-5 (modern form) on MNIST.

Run:
  python -m cnn_jax.main --config=configs/lenet5_mnist.py --workdir=/tmp/lenet5_mnist

Model: ``lenet5`` (61,706 parameters): conv5x5-6, avg-pool, conv5x5-16,
avg-pool, conv5x5-120, dense 84, dense 10, tanh; 28x28 digits are zero-padded
to 32x32 as in the paper. For the paper's form (partial C3 table, trainable
subsampling, RBF output) use --config.model=lenet5_1998.

Recipe: the one of configs/lenet5_fashion_mnist.py (SGD Nesterov momentum 0.9,
lr 0.05 with cosine decay, weight decay 1e-4, batch 128, 10 epochs, no
augmentation).

Expect: LeCun et al. 1998 report 0.95% test error (99.05% accuracy) for the
1998 LeNet-5 without distortions, trained 20 epochs with a different
optimizer; not run in this repo.
"""

from configs import base


def get_config():
  c = base.get_config()
  c.model = 'lenet5'
  c.dataset = 'mnist'
  c.validation_examples = 5000
  c.batch_size = 128
  c.num_epochs = 10.0
  c.optimizer = 'sgd'
  c.learning_rate = 0.05
  c.momentum = 0.9
  c.nesterov = True
  c.weight_decay = 1e-4
  c.lr_schedule = 'cosine'
  c.log_every_steps = 200
  return c
