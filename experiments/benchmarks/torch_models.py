"""PyTorch twins of cnn_jax models, for side-by-side speed measurements.

Each twin has exactly the parameter count of the cnn_jax model of the same
name (``tests/test_benchmark.py`` checks it), the same layer order and the same
conventions (option-A shortcuts append the new zero channels after the old
ones, as ``cnn_jax.models.blocks.residual.pad_identity`` does; BatchNorm
epsilon 1e-5). Initialization does not matter for speed and is torch's.

* ``lenet5``: conv5x5-6, tanh, 2x2 average pool, conv5x5-16, tanh, pool,
  conv5x5-120, tanh, dense 84, tanh, dense classes; 28x28 inputs zero-padded
  to 32x32 (61,706 parameters for 10 classes).
* ``resnet20/32/44/56/110``: He et al. 2016 CIFAR ResNets, 3x3 conv16 stem,
  three stages of 16/32/64-channel basic blocks, option-A shortcuts
  (ResNet-20: 269,722 parameters).
* ``resnet18/34/50/101/152``: torchvision's own definitions.
* ``googlenet_uvadl`` and ``densenet_uvadl``: the small GoogleNet and DenseNet
  of the UvA deep learning course, tutorial 5 ("Inception, ResNet and
  DenseNet"), as ``cnn_jax.models.googlenet`` / ``densenet`` define them
  (260,650 and 239,146 parameters for 10 classes).
* ``mobilenet_v2``: torchvision's (2,236,682 parameters for 10 classes; the
  peer benchmark runs it on 32x32 inputs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LeNet5(nn.Module):
  def __init__(self, num_classes: int = 10, in_channels: int = 1):
    super().__init__()
    self.c1 = nn.Conv2d(in_channels, 6, 5)
    self.c3 = nn.Conv2d(6, 16, 5)
    self.c5 = nn.Conv2d(16, 120, 5)
    self.f6 = nn.Linear(120, 84)
    self.output = nn.Linear(84, num_classes)

  def forward(self, x):
    pad_h, pad_w = max(0, 32 - x.shape[2]), max(0, 32 - x.shape[3])
    if pad_h or pad_w:
      x = F.pad(
        x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
      )
    x = F.avg_pool2d(torch.tanh(self.c1(x)), 2)
    x = F.avg_pool2d(torch.tanh(self.c3(x)), 2)
    x = torch.tanh(self.c5(x)).flatten(1)
    x = torch.tanh(self.f6(x))
    return self.output(x)


class _PadIdentity(nn.Module):
  """Option A: strided subsampling, new channels zero-filled after the old."""

  def __init__(self, features: int, stride: int):
    super().__init__()
    self.features, self.stride = features, stride

  def forward(self, x):
    if self.stride > 1:
      x = x[:, :, :: self.stride, :: self.stride]
    extra = self.features - x.shape[1]
    return F.pad(x, (0, 0, 0, 0, 0, extra)) if extra else x


class BasicBlockA(nn.Module):
  def __init__(self, in_features: int, features: int, stride: int):
    super().__init__()
    self.conv1 = nn.Conv2d(in_features, features, 3, stride, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(features)
    self.conv2 = nn.Conv2d(features, features, 3, 1, 1, bias=False)
    self.bn2 = nn.BatchNorm2d(features)
    self.shortcut = (
      nn.Identity()
      if stride == 1 and in_features == features
      else _PadIdentity(features, stride)
    )

  def forward(self, x):
    y = F.relu(self.bn1(self.conv1(x)))
    y = self.bn2(self.conv2(y))
    return F.relu(y + self.shortcut(x))


class CifarResNet(nn.Module):
  def __init__(self, n: int, num_classes: int = 10, in_channels: int = 3):
    super().__init__()
    self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(16)
    blocks, features = [], 16
    for width, stride in ((16, 1), (32, 2), (64, 2)):
      for i in range(n):
        blocks.append(BasicBlockA(features, width, stride if i == 0 else 1))
        features = width
    self.layers = nn.Sequential(*blocks)
    self.fc = nn.Linear(64, num_classes)

  def forward(self, x):
    x = F.relu(self.bn1(self.conv1(x)))
    x = self.layers(x)
    return self.fc(x.mean((2, 3)))


def _conv_bn_relu(c_in: int, c_out: int, k: int, bias: bool = True):
  return nn.Sequential(
    nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=bias),
    nn.BatchNorm2d(c_out),
    nn.ReLU(inplace=True),
  )


class InceptionBlock(nn.Module):
  """1x1 | 1x1-3x3 | 1x1-5x5 | 3x3/1 max-pool-1x1, concatenated."""

  def __init__(self, c_in: int, widths):
    super().__init__()
    c1, c3r, c3, c5r, c5, proj = widths
    self.b1 = _conv_bn_relu(c_in, c1, 1)
    self.b3 = nn.Sequential(
      _conv_bn_relu(c_in, c3r, 1), _conv_bn_relu(c3r, c3, 3)
    )
    self.b5 = nn.Sequential(
      _conv_bn_relu(c_in, c5r, 1), _conv_bn_relu(c5r, c5, 5)
    )
    self.pool = nn.Sequential(
      nn.MaxPool2d(3, 1, 1), _conv_bn_relu(c_in, proj, 1)
    )

  def forward(self, x):
    return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.pool(x)], 1)


# cnn_jax.models.googlenet.INCEPTION_CIFAR: widths or a 3x3/2 max pool.
_INCEPTION_CIFAR = (
  (16, 32, 32, 16, 8, 8),
  (24, 32, 48, 16, 12, 12),
  'pool',
  (24, 32, 48, 16, 12, 12),
  (16, 32, 48, 16, 16, 16),
  (16, 32, 48, 16, 16, 16),
  (32, 32, 48, 16, 24, 24),
  'pool',
  (32, 48, 64, 16, 16, 16),
  (32, 48, 64, 16, 16, 16),
)


class GoogleNetCifar(nn.Module):
  def __init__(self, num_classes: int = 10, in_channels: int = 3):
    super().__init__()
    layers, c = [_conv_bn_relu(in_channels, 64, 3)], 64
    for spec in _INCEPTION_CIFAR:
      if spec == 'pool':
        layers.append(nn.MaxPool2d(3, 2, 1))
      else:
        layers.append(InceptionBlock(c, spec))
        c = spec[0] + spec[2] + spec[4] + spec[5]
    self.features = nn.Sequential(*layers)
    self.fc = nn.Linear(c, num_classes)

  def forward(self, x):
    return self.fc(self.features(x).mean((2, 3)))


class DenseLayer(nn.Module):
  """BN-ReLU-1x1 conv (bn_size * growth)-BN-ReLU-3x3 conv (growth); new
  features concatenated before the old ones."""

  def __init__(self, c_in: int, growth: int, bn_size: int):
    super().__init__()
    self.net = nn.Sequential(
      nn.BatchNorm2d(c_in),
      nn.ReLU(inplace=True),
      nn.Conv2d(c_in, bn_size * growth, 1, bias=False),
      nn.BatchNorm2d(bn_size * growth),
      nn.ReLU(inplace=True),
      nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False),
    )

  def forward(self, x):
    return torch.cat([self.net(x), x], 1)


class DenseNetSeed(nn.Module):
  """3x3 conv-32 stem (bias), four blocks of 6 layers (growth 16, bottleneck
  32), BN-ReLU-1x1 conv-avg-pool transitions halving the channels."""

  def __init__(
    self,
    num_classes: int = 10,
    in_channels: int = 3,
    growth: int = 16,
    blocks=(6, 6, 6, 6),
    bn_size: int = 2,
    c_init: int = 32,
  ):
    super().__init__()
    layers, c = [nn.Conv2d(in_channels, c_init, 3, padding=1)], c_init
    for i, n in enumerate(blocks):
      for _ in range(n):
        layers.append(DenseLayer(c, growth, bn_size))
        c += growth
      if i < len(blocks) - 1:
        layers += [
          nn.BatchNorm2d(c),
          nn.ReLU(inplace=True),
          nn.Conv2d(c, c // 2, 1, bias=False),
          nn.AvgPool2d(2),
        ]
        c //= 2
    layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
    self.features = nn.Sequential(*layers)
    self.fc = nn.Linear(c, num_classes)

  def forward(self, x):
    return self.fc(self.features(x).mean((2, 3)))


_CIFAR_DEPTHS = {
  'resnet20': 3,
  'resnet32': 5,
  'resnet44': 7,
  'resnet56': 9,
  'resnet110': 18,
}
_TORCHVISION = ('resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152')

_TORCHVISION_ANY = _TORCHVISION + (
  'mobilenet_v2',
  'convnext_tiny',
  'regnet_y_400mf',
  'efficientnet_v2_s',
  'shufflenet_v2_x1_0',
)

MODELS = (
  ('lenet5', 'googlenet_uvadl', 'densenet_uvadl')
  + tuple(_CIFAR_DEPTHS)
  + _TORCHVISION_ANY
)


def build(name: str, num_classes: int = 10, in_channels: int = 3) -> nn.Module:
  """The PyTorch twin of cnn_jax model ``name``."""
  if name == 'lenet5':
    return LeNet5(num_classes, in_channels)
  if name in _CIFAR_DEPTHS:
    return CifarResNet(_CIFAR_DEPTHS[name], num_classes, in_channels)
  if name == 'googlenet_uvadl':
    return GoogleNetCifar(num_classes, in_channels)
  if name == 'densenet_uvadl':
    return DenseNetSeed(num_classes, in_channels)
  if name in _TORCHVISION_ANY:
    import torchvision  # pylint: disable=g-import-not-at-top

    if in_channels != 3:
      raise ValueError(f'{name}: torchvision models take 3 channels.')
    return getattr(torchvision.models, name)(num_classes=num_classes)
  raise ValueError(f'No PyTorch twin for {name!r}; known: {", ".join(MODELS)}')


def count_params(model: nn.Module) -> int:
  """Trainable parameters (BatchNorm running statistics are buffers)."""
  return sum(p.numel() for p in model.parameters() if p.requires_grad)
