"""The benchmark CLIs run end to end and report consistent figures.

Speed itself is not asserted (figures go to BENCHMARKS.md); these tests check
that the tools measure what they say: the step's images/s follow from its
median step time, the FLOP count matches the model's, the PyTorch twin has our
parameter count, and the input pipeline reads the real dataset.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from cnn_jax import benchmark
from cnn_jax.ops import onednn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, tmp_path, timeout=600):
  out = tmp_path / 'figures.json'
  env = dict(os.environ, PYTHONPATH=ROOT)
  env.pop('XLA_FLAGS', None)
  proc = subprocess.run(
    [sys.executable, '-m', *args, f'--json_out={out}'],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=timeout,
    check=False,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(out.read_text()), proc.stdout


def test_benchmark_cli_train_eval_and_input(tmp_path):
  r, stdout = _run(
    [
      'cnn_jax.benchmark',
      '--config=configs/lenet5_fashion_mnist.py',
      '--config.batch_size=64',
      '--config.host_devices=2',
      '--steps=4',
      '--warmup=1',
      '--input_batches=4',
    ],
    tmp_path,
  )
  train, ev = r['train'], r['eval']
  assert r['devices'] == 2  # --config.host_devices split the CPU.
  assert train['images_per_s'] == pytest.approx(
    64e3 / train['step_ms_median'], rel=1e-6
  )
  assert train['compile_s'] > 0 and ev['images_per_s'] > 0
  # A train step costs about 3 forward passes; XLA's count for LeNet-5's
  # forward is 2 x its 0.4 MMACs per image (+ activations, pooling, loss).
  assert 2.5 < train['flops_per_image'] / ev['flops_per_image'] < 4.0
  assert (
    r['input']['images_per_s'] > 0 and r['input']['images_per_s_per_core'] > 0
  )
  # Per device, a step holds at least C1's output (6x28x28 float32 per
  # image) of its share of the batch (training: 32 of 64, eval: 256 of 512)
  # and the train step the params and SGD momentum (61,706 floats each).
  c1 = 6 * 28 * 28 * 4
  assert train['program_memory_bytes'] > 32 * c1 + 2 * 61_706 * 4
  assert ev['program_memory_bytes'] > 256 * c1
  assert 'train step program:' in stdout
  convs = r['convolutions']
  if onednn.available():  # LeNet-5's 3 convs x 3 passes, less C1's input
    assert convs['onednn_calls']['train'] == 8  # gradient; eval: 3.
    assert convs['onednn_calls']['eval'] == 3
    # Its 2 average poolings: forward and backward each in training.
    assert convs['onednn_pool_calls'] == {'train': 4, 'eval': 2}
    assert convs['onednn']['version'].startswith('oneDNN 3.')
  assert (
    '--xla_force_host_platform_device_count=2' in r['cpu_tuning']['xla_flags']
  )
  assert 'img/s' in stdout and 'FLOPs/step' in stdout


def test_peak_flops_table_resolves_device_kinds():
  assert (
    benchmark.peak_flops_per_device('NVIDIA H100 80GB HBM3', 'bfloat16')
    == 989e12
  )
  assert benchmark.peak_flops_per_device('NVIDIA H200', 'bfloat16') == 989e12
  # The PCIe card's peak, not the SXM's the shorter key gives.
  assert (
    benchmark.peak_flops_per_device('NVIDIA H100 PCIe', 'bfloat16') == 756e12
  )
  assert benchmark.peak_flops_per_device('TPU v5 lite', 'bfloat16') == 197e12
  assert benchmark.peak_flops_per_device('cpu', 'float32') is None


@pytest.mark.skipif(
  importlib.util.find_spec('torch') is None,
  reason='torch is not installed (setup.sh --reference)',
)
def test_torch_peer_times_both_sides_of_the_same_model(tmp_path):
  r, stdout = _run(
    [
      'experiments.benchmarks.torch_peer',
      '--model=lenet5',
      '--batch_size=32',
      '--rounds=2',
      '--steps=3',
      '--warmup=1',
      '--compile=off',
    ],
    tmp_path,
  )
  assert r['params'] == 61_706  # asserted equal on both sides by the tool.
  ours, theirs = r['ours'], r['theirs']
  assert r['ratio_ours_over_theirs'] == pytest.approx(
    ours['step_ms_median'] / theirs['step_ms_median']
  )
  assert len(r['rounds']) == 2 and not theirs['compiled']
  assert 'ours / pytorch step time' in stdout


def test_step_profile_groups_op_events_by_kind():
  from experiments.benchmarks import step_profile  # pylint: disable=g-import-not-at-top

  events = [
    {'ph': 'X', 'name': 'onednn_conv_call.3', 'dur': 40},
    {'ph': 'X', 'name': 'onednn_conv_call.17', 'dur': 60},
    {'ph': 'X', 'name': 'wrapped_reduce-window.2', 'dur': 25},
    {'ph': 'X', 'name': 'ThunkExecutor::Execute', 'dur': 500},
    {'ph': 'X', 'name': '$benchmark.py:305 train_once', 'dur': 900},
    {'ph': 'i', 'name': 'ynn_fusion.1', 'dur': 7},
  ]
  assert step_profile.op_time_by_kind(events) == {
    'onednn_conv_call': 100,
    'wrapped_reduce-window': 25,
  }


def test_conv_passes_finds_every_convolution_and_times_both_sides():
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  from cnn_jax import models  # pylint: disable=g-import-not-at-top
  from experiments.benchmarks import conv_passes  # pylint: disable=g-import-not-at-top

  if not onednn.available():
    pytest.skip('the oneDNN library is not built here')
  pytest.importorskip('torch')
  model = models.build('resnet20', num_classes=10)
  layers = conv_passes.model_convolutions(model, (2, 28, 28, 1), jnp.float32)
  # ResNet-20: the stem and 3 stages of 3 units of 2 convolutions, option A
  # shortcuts (no convolution); 6 distinct shapes.
  assert sum(count for _, count in layers) == 19
  assert [conv_passes.label(spec) for spec, _ in layers] == [
    '28x28 1->16 k3x3 s1x1',
    '28x28 16->16 k3x3 s1x1',
    '28x28 16->32 k3x3 s2x2',
    '14x14 32->32 k3x3 s1x1',
    '14x14 32->64 k3x3 s2x2',
    '7x7 64->64 k3x3 s1x1',
  ]
  spec = layers[2][0]
  ours = conv_passes.ours(spec, jnp.float32)
  theirs = conv_passes.pytorch(spec, 'float32')
  # The same three results on both sides (PyTorch's NCHW, ours NHWC).
  assert tuple(ours['forward']().shape) == (2, 14, 14, 32)
  assert tuple(theirs['forward']().shape) == (2, 32, 14, 14)
  assert tuple(ours['backward_data']().shape) == spec['x']
  assert tuple(ours['backward_weights']().shape) == spec['w']
  assert theirs['backward_weights']()[1].shape == (32, 16, 3, 3)
