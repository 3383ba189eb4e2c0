"""Ablation 2 on this CPU: global batch size with linear lr scaling and warmup.

The CPU-sized version of ``batch_size_fashion_mnist.py``: ResNet-20 on
Fashion-MNIST at a fixed budget of 1 epoch (instead of 16), global batch 128,
512 and 2048, learning rate 0.1 x batch / 128 (``lr_scaling_base_batch=128``,
Goyal et al. 2017) with a linear warmup over the first 0.2 epoch and cosine
decay, one seed, data parallel over 2 XLA host devices. At a fixed epoch
budget a larger batch takes fewer steps (430, 107, 27): at 1 epoch this shows
where too few steps hurt, not the 16-epoch behaviour of the full ablation.
"""

from experiments.sweeps import batch_size_fashion_mnist as full

NAME = 'batch_size_fashion_mnist_cpu'
TITLE = 'Ablation 2 (CPU, 1 epoch): global batch size with linear lr scaling and warmup (ResNet-20, Fashion-MNIST)'
DESCRIPTION = __doc__.split('\n', 2)[2]
CONFIG = full.CONFIG
COMMON = dict(
  num_epochs=1.0,
  lr_schedule='cosine',
  learning_rate=0.1,
  lr_scaling_base_batch=128,
  warmup_epochs=0.2,
  host_devices=2,
  validation_examples=5000,
  eval_batch_size=1000,
  log_every_steps=9,
)
# Seed 0 of three sizes; on 2 host devices (host_devices) instead of 8.
RUNS = [
  r
  for r in full.RUNS
  if r.overrides['seed'] == 0 and r.overrides['batch_size'] in (128, 512, 2048)
]
COLUMNS = full.COLUMNS
PLOTS = [
  dict(p, title=p['title'].replace('16 epochs', '1 epoch')) for p in full.PLOTS
]
NOTES = """Reduced budget for a 2-core CPU (1 epoch, one seed): the full ablation is
`batch_size_fashion_mnist.py`, for an accelerator.

**What the CPU run of 2026-11-23 showed:**
- With 1 epoch the linear scaling rule fails as the batch grows: test
  accuracy 86.25% at batch 128 (429 steps), 71.36% at 512 (107 steps) and
  10.53% (chance) at 2048 (26 steps).
- At 2048 the learning rate of 1.6 is reached after 5 warmup steps and
  training diverges.
- Goyal et al.'s rule holds when the number of epochs (and so of updates
  per example) is large enough to absorb the warmup. The 16-epoch ablation
  tests that; at 1 epoch, too few updates dominate.
- Throughput fell with batch size on this CPU (498 / 279 / 221 img/s). That
  is likely cache and memory traffic of the larger activations; I did not
  investigate it.
"""
