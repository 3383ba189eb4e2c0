r"""Our train step against PyTorch's, same model, batch and precision, one run.

Run::

  python -m experiments.benchmarks.torch_peer --model=resnet20 \
      --batch_size=128 [--dtype=bfloat16] [--rounds=5] [--steps=10] \
      [--warmup=3] [--compile=auto|on|off] [--host_devices=N] \
      [--image_size=N] [--conv_impl=auto|xla] [--cpu_tuning=auto|none] \
      [--json_out=FILE]

Both sides train the model on one random batch (shaped like the model's
native input: 28x28x1 for LeNet-5, 32x32x3 for CIFAR ResNets, 224x224x3 for
ImageNet ResNets), SGD with momentum 0.9, lr 0.1, softmax cross-entropy:

* ours: ``cnn_jax.benchmark.StepBench``, i.e. the trainer's own
  ``compile_steps`` over the device mesh with donation (``--host_devices``
  and ``--cpu_tuning`` as in ``cnn_jax.benchmark``), convolutions by oneDNN
  on a CPU (``--conv_impl=xla``: XLA's own, for comparison);
* theirs: the twin from ``experiments.benchmarks.torch_models`` (exactly our
  parameter count, asserted), PyTorch's CPU/GPU best practice: channels_last,
  ``torch.autocast`` to bfloat16 when ``--dtype=bfloat16``,
  ``torch.compile`` when it works here (``--compile=auto`` tries it and falls
  back to eager mode, saying so), ``torch.set_num_threads(cores)``,
  ``zero_grad(set_to_none=True)``, on CUDA when one is visible (with
  ``torch.backends.cudnn.benchmark``: cuDNN picks the fastest convolution
  algorithms for the fixed shapes, as XLA's autotuner does for ours).

The two are timed in alternating rounds in one process (``--rounds`` rounds of
``--steps`` steps each, every step timed to completion), so that both see the
same machine load; the table gives each side's median step time over all its
steps, images/s and our/their ratio of step times (< 1: we are faster).
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any, Optional

import os

from absl import app, flags


# Idle OpenMP threads sleep instead of spinning (set OMP_WAIT_POLICY=ACTIVE to
# override): on a shared, loaded host, spinning threads made PyTorch's step
# 3-4x slower (ResNet-20: 4.8 s vs 1.3 s at load 13 on 2 cores).
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

# PyTorch first: importing triton (torch.optim and torch.compile do) after
# JAX's XLA backend has started crashes the process (clashing LLVM symbols).
import torch  # pylint: disable=g-bad-import-order
import torch._dynamo  # noqa: F401  pylint: disable=g-bad-import-order,unused-import

try:
  import triton  # noqa: F401  pylint: disable=g-bad-import-order,unused-import
except ImportError:
  pass

from experiments.benchmarks.peer_config import jax_config  # pylint: disable=g-bad-import-order

FLAGS = flags.FLAGS
flags.DEFINE_string('model', 'resnet20', 'Model name (cnn_jax registry).')
flags.DEFINE_integer('batch_size', 128, 'Global batch size.')
flags.DEFINE_enum(
  'dtype', 'float32', ['float32', 'bfloat16'], 'Compute dtype on both sides.'
)
flags.DEFINE_integer('num_classes', 0, "0: the model's registered count.")
flags.DEFINE_integer('rounds', 5, 'Alternating timing rounds.')
flags.DEFINE_integer('steps', 10, 'Timed steps per side per round.')
flags.DEFINE_integer('warmup', 3, 'Untimed steps per side before round 1.')
flags.DEFINE_enum(
  'compile', 'auto', ['auto', 'on', 'off'], 'torch.compile the PyTorch step.'
)
flags.DEFINE_integer(
  'image_size',
  0,
  'Square inputs of this size instead of '
  "the model's registered input (e.g. 32 for "
  'mobilenet_v2 at CIFAR size).',
)
flags.DEFINE_integer(
  'host_devices',
  0,
  'Ours, CPU: split the host into this many XLA devices (0: leave as is).',
)
flags.DEFINE_enum(
  'cpu_tuning',
  'auto',
  ['auto', 'none'],
  'Ours: XLA:CPU settings (cnn_jax.ops.cpu_tuning).',
)
flags.DEFINE_enum(
  'conv_impl',
  'auto',
  ['auto', 'xla'],
  "Ours: oneDNN convolutions and pooling on CPU (auto) or XLA's.",
)
flags.DEFINE_integer('torch_threads', 0, '0: all cores of this process.')
flags.DEFINE_string('json_out', '', 'Also write the figures here.')


class TorchStep:
  """One SGD step of the PyTorch twin on a fixed random batch."""

  def __init__(
    self,
    model: str,
    batch_size: int,
    input_shape,
    num_classes: int,
    dtype: str = 'float32',
    compile_mode: str = 'auto',
    threads: int = 0,
  ):
    import torch  # pylint: disable=g-import-not-at-top
    from cnn_jax import benchmark  # pylint: disable=g-import-not-at-top
    from experiments.benchmarks import torch_models  # pylint: disable=g-import-not-at-top

    self.torch = torch
    torch.set_num_threads(threads or benchmark.cpu_count())
    self.device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if self.device.type == 'cuda':
      torch.backends.cudnn.benchmark = True
    h, w, c = input_shape
    net = torch_models.build(model, num_classes, c)
    self.num_params = torch_models.count_params(net)
    self.net = net.to(self.device, memory_format=torch.channels_last)
    self.opt = torch.optim.SGD(self.net.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    self.x = torch.randn(batch_size, c, h, w, generator=g).to(
      self.device, memory_format=torch.channels_last
    )
    self.y = torch.randint(0, num_classes, (batch_size,), generator=g).to(
      self.device
    )
    self.autocast = dtype == 'bfloat16'
    self.compiled = False
    self.compile_error: Optional[str] = None
    self._step = self._eager_step
    if compile_mode in ('auto', 'on'):
      try:
        t = time.perf_counter()
        self._step = torch.compile(self._eager_step)
        self._step()
        self._sync()
        self.compile_s = time.perf_counter() - t
        self.compiled = True
      except Exception as e:  # pylint: disable=broad-except
        if compile_mode == 'on':
          raise
        self.compile_error = f'{type(e).__name__}: {str(e)[:200]}'
        self._step = self._eager_step

  def _eager_step(self):
    torch = self.torch
    self.opt.zero_grad(set_to_none=True)
    with torch.autocast(
      self.device.type, dtype=torch.bfloat16, enabled=self.autocast
    ):
      logits = self.net(self.x)
    loss = torch.nn.functional.cross_entropy(logits.float(), self.y)
    loss.backward()
    self.opt.step()
    return loss

  def _sync(self):
    if self.device.type == 'cuda':
      self.torch.cuda.synchronize()

  def __call__(self):
    loss = self._step()
    loss.item() if self.device.type == 'cpu' else self._sync()  # pylint: disable=expression-not-assigned


def compare(
  model: str,
  batch_size: int,
  dtype: str = 'float32',
  *,
  rounds: int = 5,
  steps: int = 10,
  warmup: int = 3,
  compile_mode: str = 'auto',
  num_classes: int = 0,
  torch_threads: int = 0,
  image_size: int = 0,
  conv_impl: str = 'auto',
) -> dict[str, Any]:
  """Times our and PyTorch's train steps in alternating rounds."""
  from cnn_jax import benchmark, models  # pylint: disable=g-import-not-at-top
  from cnn_jax.analysis import model_stats  # pylint: disable=g-import-not-at-top

  shape = None
  if image_size:
    shape = (image_size, image_size, models.get_spec(model).input_shape[2])
  config = jax_config(model, batch_size, dtype, num_classes, shape)
  config.conv_impl = conv_impl
  ours = benchmark.StepBench(config)
  t = time.perf_counter()
  ours.compile_train()
  our_compile = time.perf_counter() - t
  our_params = model_stats.tree_size(ours.state.params)
  theirs = TorchStep(
    model,
    batch_size,
    ours.info.image_shape,
    ours.num_classes,
    dtype,
    compile_mode,
    torch_threads,
  )
  if theirs.num_params != our_params:
    raise AssertionError(
      f'{model}: PyTorch twin has {theirs.num_params:,} '
      f'parameters, ours {our_params:,}.'
    )
  for _ in range(warmup):
    ours.train_once()
    theirs()
  ours_t, theirs_t, per_round = [], [], []
  for _ in range(rounds):
    a = benchmark.time_steps(ours.train_once, steps, 0, batch_size).times
    b = benchmark.time_steps(theirs, steps, 0, batch_size).times
    ours_t += a
    theirs_t += b
    per_round.append(
      {
        'ours_ms': 1e3 * statistics.median(a),
        'theirs_ms': 1e3 * statistics.median(b),
      }
    )
  our_ms = 1e3 * statistics.median(ours_t)
  their_ms = 1e3 * statistics.median(theirs_t)
  import torch  # pylint: disable=g-import-not-at-top

  return {
    'model': model,
    'batch_size': batch_size,
    'dtype': dtype,
    'image_shape': list(ours.info.image_shape),
    'params': our_params,
    'ours': {
      'step_ms_median': our_ms,
      'images_per_s': batch_size / our_ms * 1e3,
      'compile_s': our_compile,
      'devices': int(ours.mesh.devices.size),
      'device_kind': ours.mesh.devices.flat[0].device_kind,
      'flops_per_step': ours.train_flops,
    },
    'theirs': {
      'step_ms_median': their_ms,
      'images_per_s': batch_size / their_ms * 1e3,
      'torch': torch.__version__,
      'device': str(theirs.device),
      'threads': torch.get_num_threads(),
      'compiled': theirs.compiled,
      'compile_error': theirs.compile_error,
      'channels_last': True,
      'autocast_bf16': theirs.autocast,
      'omp_wait_policy': os.environ.get('OMP_WAIT_POLICY'),
    },
    'convolutions': benchmark.conv_record(config, ours),
    'ratio_ours_over_theirs': our_ms / their_ms,
    'rounds': per_round,
    'steps_per_round': steps,
    'warmup': warmup,
  }


def _conv_label(c: dict[str, Any]) -> str:
  if any(c.get('onednn_calls', {}).values()):
    return c.get('onednn', {}).get('version', 'oneDNN')
  return 'XLA'


def format_result(r: dict[str, Any]) -> str:
  o, t = r['ours'], r['theirs']
  torch_mode = 'torch.compile' if t['compiled'] else 'eager'
  lines = [
    f'{r["model"]} batch {r["batch_size"]} {r["dtype"]} '
    f'{r["image_shape"]} ({r["params"]:,} params both sides)',
    f'{"":<10}{"ms/step":>10}{"img/s":>10}  notes',
    f'{"ours":<10}{o["step_ms_median"]:>10.1f}{o["images_per_s"]:>10.0f}  '
    f'{o["devices"]} x {o["device_kind"]}, compile {o["compile_s"]:.1f} s, '
    f'convs: {_conv_label(r.get("convolutions", {}))}',
    f'{"pytorch":<10}{t["step_ms_median"]:>10.1f}{t["images_per_s"]:>10.0f}  '
    f'torch {t["torch"]} {t["device"]} {torch_mode}, {t["threads"]} threads,'
    f' channels_last{", autocast bf16" if t["autocast_bf16"] else ""}',
    f'ours / pytorch step time: {r["ratio_ours_over_theirs"]:.2f}x '
    f'({"faster" if r["ratio_ours_over_theirs"] < 1 else "slower"}); per '
    'round ms (ours/theirs): '
    + ', '.join(
      f'{x["ours_ms"]:.0f}/{x["theirs_ms"]:.0f}' for x in r['rounds']
    ),
  ]
  if t['compile_error']:
    lines.append(f'torch.compile failed, eager used: {t["compile_error"]}')
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  from cnn_jax.ops import cpu_tuning  # pylint: disable=g-import-not-at-top

  cpu_tuning.configure(host_devices=FLAGS.host_devices, tuning=FLAGS.cpu_tuning)
  from cnn_jax import benchmark  # pylint: disable=g-import-not-at-top

  r = compare(
    FLAGS.model,
    FLAGS.batch_size,
    FLAGS.dtype,
    rounds=FLAGS.rounds,
    steps=FLAGS.steps,
    warmup=FLAGS.warmup,
    compile_mode=FLAGS.compile,
    num_classes=FLAGS.num_classes,
    torch_threads=FLAGS.torch_threads,
    image_size=FLAGS.image_size,
    conv_impl=FLAGS.conv_impl,
  )
  r['machine'] = benchmark.machine_info()
  r['cpu_tuning'] = cpu_tuning.describe()
  print(format_result(r))
  print(
    f'load average {r["machine"].get("load_avg")}, '
    f'XLA_FLAGS={r["cpu_tuning"].get("xla_flags")!r}'
  )
  if FLAGS.json_out:
    with open(FLAGS.json_out, 'w') as f:
      json.dump(r, f, indent=2, sort_keys=True)


if __name__ == '__main__':
  app.run(main)
