"""LeNet-5 on Fashion-MNIST: the main job, a real training run on a laptop CPU.

Run:
  python -m cnn_jax.main --config=configs/lenet5_fashion_mnist.py --workdir=/tmp/lenet5

Expect: 90.82% test / 91.88% validation accuracy after 10 epochs (55k train /
5k validation images, batch 128; the run is deterministic), 1 min 47 s on an
idle 2-core CPU (measured 2026-11-23; README.md).
"""

from configs import base


def get_config():
  c = base.get_config()
  c.model = 'lenet5'
  c.dataset = 'fashion_mnist'
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
  c.checkpoint_every_steps = 1000
  return c
