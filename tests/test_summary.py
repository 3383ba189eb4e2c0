"""Tests of the model summary CLI (cnn_jax.summary) and FLOP counts (flops).

Published MAC figures: torchvision 0.29.1's ``_ops`` metadata (GMACs of one
224x224 image: resnet50 4.089, mobilenet_v2 0.301, mobilenet_v3_large 0.217,
mobilenet_v3_small 0.057, efficientnet_b0 0.386, convnext_tiny 4.456; of one
384x384 image: efficientnet_v2_s 8.366) and the MobileNet v1 paper (Table 8:
569 million mult-adds for 1.0 MobileNet-224).
"""

import re

from absl import flags
import flax.linen as nn
import pytest

from configs import base
from cnn_jax.analysis import flops, layer_table
from cnn_jax.analysis import model_stats
from cnn_jax import models
from cnn_jax import summary


def run_cli(*args: str) -> str:
  """Runs the summary CLI in-process on fresh flags; returns its output."""
  fv = flags.FlagValues()
  summary.define_flags(fv)
  fv(['summary', *args])
  return summary.run(fv)


def _total(text: str, label: str) -> int:
  match = re.search(rf'^{re.escape(label)}: ([\d,]+)', text, re.M)
  assert match, f'{label!r} not in output:\n{text}'
  return int(match.group(1).replace(',', ''))


def test_cli_model_totals_and_table():
  out = run_cli('--model=mobilenet_v2', '--depth=1')
  assert _total(out, 'Trainable params') == 3_504_872
  assert _total(out, 'BatchNorm statistics') == 34_112
  assert _total(out, 'Total (Keras count, incl. statistics)') == 3_538_984
  assert 'input: (224, 224, 3), batch 1, compute dtype float32' in out
  # One row per top-level layer; the last block and the classifier.
  assert re.search(
    r'^features_17 \(InvertedResidual\) +\(1, 7, 7, 320\) +'
    r'473,920 +4,480$',
    out,
    re.M,
  )
  assert re.search(
    r'^classifier \(Dense\) +\(1, 1000\) +1,281,000 +0$', out, re.M
  )
  assert 'Output: (1, 1000)' in out
  macs = re.search(
    r'^MACs \(convolutions \+ dense, batch 1\): ([\d,]+)', out, re.M
  )
  assert int(macs.group(1).replace(',', '')) == pytest.approx(0.301e9, rel=0.01)
  assert 'FLOPs (XLA cost analysis' in out


def test_cli_input_shape_and_num_classes():
  out = run_cli(
    '--model=lenet5',
    '--input_shape=32,32,1',
    '--num_classes=5',
    '--depth=-1',
    '--noflops',
  )
  assert 'input: (32, 32, 1)' in out
  # 61,706 with 10 classes; the output layer shrinks from 84*10+10 to 84*5+5.
  assert _total(out, 'Trainable params') == 61_706 - 850 + 425
  assert 'Output: (1, 5)' in out
  assert 'MACs' not in out and 'FLOPs' not in out


def test_cli_config():
  out = run_cli(
    '--config=configs/mobilenet_v2_fashion_mnist.py', '--noflops', '--depth=0'
  )
  # Fashion-MNIST resized to 32x32, one channel, 10 classes.
  assert 'Model: mobilenet_v2   input: (32, 32, 1)' in out
  assert _total(out, 'Trainable params') == 2_236_106
  assert 'Layer (type)' not in out  # depth 0: totals only.


def test_cli_list():
  out = run_cli('--list')
  lines = {l.split()[0]: l for l in out.splitlines()}
  assert set(lines) == set(models.known_models())
  assert '(600, 600, 3)' in lines['efficientnet_b7']
  assert '(28, 28, 1)' in lines['lenet5']


def test_cli_needs_a_model():
  with pytest.raises(Exception, match='--model'):
    run_cli()


def test_from_config_dataset_table():
  c = base.get_config()
  c.model = 'lenet5'
  for dataset, shape, classes in (
    ('mnist', (28, 28, 1), 10),
    ('cifar100', (32, 32, 3), 100),
    ('imagenet2012', (224, 224, 3), 1000),
  ):
    c.dataset = dataset
    assert summary.from_config(c)[2:4] == (shape, classes)
  c.dataset = 'synthetic'
  c.synthetic_shape = (16, 16, 3)
  c.synthetic_classes = 7
  assert summary.from_config(c)[2:4] == ((16, 16, 3), 7)
  c.image_size = 24
  c.num_classes = 3
  assert summary.from_config(c)[2:4] == ((24, 24, 3), 3)


def test_depth_limits_rows_and_parents_precede_children():
  model = models.build('efficientnet_b0')
  s = layer_table.summarize(model, (64, 64, 3), compute_flops=False)
  text1 = layer_table.format_summary(s, depth=1)
  text2 = layer_table.format_summary(s, depth=2)
  assert len(text1.splitlines()) < len(text2.splitlines())
  paths = [l.path for l in s.layers]
  for i, path in enumerate(paths):
    if len(path) > 1:  # its parent was recorded before it.
      assert path[:-1] in paths[:i]
  # Top-level rows add up to the model's totals.
  top = [l for l in s.layers if len(l.path) == 1]
  assert sum(l.params for l in top) == s.params == 5_288_548
  assert sum(l.stats for l in top) == s.stats == 42_016


# --------------------------------------------------------------------------
# FLOPs.


class _Wrap(nn.Module):
  layer: nn.Module

  @nn.compact
  def __call__(self, x, train=False):
    return self.layer(x)


def test_conv_and_dense_macs_exact():
  conv = _Wrap(
    nn.Conv(8, (3, 3), padding='VALID', use_bias=False, feature_group_count=2)
  )
  macs = 8 * 8 * 8 * (3 * 3 * 2)  # 8x8 outputs x 8 channels x window x in/g.
  assert flops.count_conv_dense_macs(conv, (10, 10, 4)) == macs
  # Without padding or bias XLA's count is exactly 2 FLOPs per MAC.
  assert flops.count_flops(conv, (10, 10, 4)) == 2 * macs
  dense = _Wrap(nn.Dense(7, use_bias=False))
  assert flops.count_conv_dense_macs(dense, (3, 5, 4)) == 3 * 5 * 7 * 4
  assert flops.count_conv_dense_macs(dense, (3, 5, 4), batch_size=2) == (
    2 * 3 * 5 * 7 * 4
  )


PUBLISHED_GMACS = {
  'mobilenet_v2': 0.301,
  'mobilenet_v3_large': 0.217,
  'mobilenet_v3_small': 0.057,
  'efficientnet_b0': 0.386,
  'mobilenetv1_100': 0.569,
  'resnet50': 4.089,
  'convnext_tiny': 4.456,
  'efficientnet_v2_s': 8.366,
}


@pytest.mark.parametrize('name', sorted(PUBLISHED_GMACS))
def test_macs_match_published(name):
  if name not in models.known_models():
    pytest.skip(f'{name} is not registered')
  spec = models.get_spec(name)
  s = layer_table.summarize(
    models.build(name, num_classes=spec.num_classes),
    spec.input_shape,
    name=name,
  )
  published = PUBLISHED_GMACS[name] * 1e9
  # Convolutions + dense layers: the papers' / torchvision's convention.
  assert s.macs == pytest.approx(published, rel=0.01)
  # XLA's whole-program count (element-wise ops in, padding taps out).
  assert s.flops / 2 == pytest.approx(published, rel=0.10)


SAMPLE = [
  'lenet5',
  'lenet5_1998',
  'resnet20',
  'densenet_uvadl',
  'alexnet',
  'googlenet_aux',
  'inception_v3_aux',
  'xception',
  'vgg11_bn',
  'mobilenet_keras',
  'efficientnet_b1',
]


@pytest.mark.parametrize('name', SAMPLE)
def test_summary_of_other_families(name):
  if name not in models.known_models():
    pytest.skip(f'{name} is not registered')
  spec = models.get_spec(name)
  s = layer_table.summarize(
    models.build(name, num_classes=spec.num_classes),
    spec.input_shape,
    name=name,
  )
  assert (s.params, s.stats) == model_stats.count_registered(name)
  assert s.output == (1, spec.num_classes)  # eval mode: no aux outputs.
  assert s.macs > 0 and s.flops > 0
  text = layer_table.format_summary(s, depth=2)
  assert f'Trainable params: {s.params:,}' in text
