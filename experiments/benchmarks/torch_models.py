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
      x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2,
                    pad_h - pad_h // 2))
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
      x = x[:, :, ::self.stride, ::self.stride]
    extra = self.features - x.shape[1]
    return F.pad(x, (0, 0, 0, 0, 0, extra)) if extra else x


class BasicBlockA(nn.Module):

  def __init__(self, in_features: int, features: int, stride: int):
    super().__init__()
    self.conv1 = nn.Conv2d(in_features, features, 3, stride, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(features)
    self.conv2 = nn.Conv2d(features, features, 3, 1, 1, bias=False)
    self.bn2 = nn.BatchNorm2d(features)
    self.shortcut = (nn.Identity() if stride == 1 and in_features == features
                     else _PadIdentity(features, stride))

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


_CIFAR_DEPTHS = {'resnet20': 3, 'resnet32': 5, 'resnet44': 7, 'resnet56': 9,
                 'resnet110': 18}
_TORCHVISION = ('resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152')

MODELS = ('lenet5',) + tuple(_CIFAR_DEPTHS) + _TORCHVISION


def build(name: str, num_classes: int = 10, in_channels: int = 3) -> nn.Module:
  """The PyTorch twin of cnn_jax model ``name``."""
  if name == 'lenet5':
    return LeNet5(num_classes, in_channels)
  if name in _CIFAR_DEPTHS:
    return CifarResNet(_CIFAR_DEPTHS[name], num_classes, in_channels)
  if name in _TORCHVISION:
    import torchvision  # pylint: disable=g-import-not-at-top
    if in_channels != 3:
      raise ValueError(f'{name}: torchvision models take 3 channels.')
    return getattr(torchvision.models, name)(num_classes=num_classes)
  raise ValueError(f'No PyTorch twin for {name!r}; known: {", ".join(MODELS)}')


def count_params(model: nn.Module) -> int:
  """Trainable parameters (BatchNorm running statistics are buffers)."""
  return sum(p.numel() for p in model.parameters() if p.requires_grad)
