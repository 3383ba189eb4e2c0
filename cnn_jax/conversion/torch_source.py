"""Reads a PyTorch (torchvision / timm) model as an ordered list of layers.

A forward pass in eval mode with hooks on every Conv2d, BatchNorm2d, Linear
and LayerNorm records them in execution order, which is what
``layer_list.assemble`` pairs with our model's order. A module's own
per-channel parameter outside those layers (torchvision ConvNeXt's
``CNBlock.layer_scale``) is a layer scale, recorded when the module's forward
returns (the block multiplies its output by it last). Layout conversions are documented in ``layer_list``;
the NCHW flatten is detected here: a Linear whose 2-D input has as many
features as the *latest* 4-D module output has C*H*W elements reads a
flattened feature map (AlexNet, VGG), and its rows are permuted from (C, H, W)
to our (H, W, C) order. After global pooling (H = W = 1, or a functional
pool/flatten the hooks do not see) nothing is permuted.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import numpy as np

from cnn_jax.conversion import pretrained
from cnn_jax.conversion.layer_list import (
  ConversionError,
  RefLayer,
  nchw_flatten_to_nhwc,
)


def import_torch():
  """``import torch``, safe in a process that has already loaded TensorFlow.

  Triton's native library (which torchvision and timm import through
  ``torch._dynamo``) segfaults when it is loaded after TensorFlow's, e.g. in
  a test session or training process that imported the data pipeline
  first. The converter runs PyTorch on CPU in eager mode and never needs
  Triton, so in that case it is made unimportable (torch then treats it as
  absent) before torch is imported.
  """
  if 'tensorflow' in sys.modules and 'triton' not in sys.modules:
    sys.modules['triton'] = None
  import torch  # pylint: disable=g-import-not-at-top

  return torch


def _np(t):
  return t.detach().cpu().numpy().astype(np.float32)


def build_reference(source: str, name: str, num_classes: int = 1000, **kwargs):
  """A randomly initialized torchvision or timm model (nothing downloaded)."""
  if source == 'torchvision':
    import_torch()
    import torchvision  # pylint: disable=g-import-not-at-top

    return torchvision.models.get_model(
      name, weights=None, num_classes=num_classes, **kwargs
    )
  if source == 'timm':
    import_torch()
    import timm  # pylint: disable=g-import-not-at-top

    return timm.create_model(
      name, pretrained=False, num_classes=num_classes, **kwargs
    )
  raise ValueError(f'Unknown PyTorch source {source!r}.')


# Auxiliary classifiers torchvision builds for training only: absent from
# its released GoogLeNet weights, never run in eval mode, never converted.
_OPTIONAL_PREFIXES = ('aux1.', 'aux2.', 'AuxLogits.')


def load_weights(module, path: str) -> None:
  """Loads a state_dict file into ``module``, naming the first misfit.

  Accepts a bare state_dict or one under 'state_dict' / 'model' (training
  checkpoints), with or without DataParallel's 'module.' prefix. Raises
  ConversionError naming the first tensor the file lacks, the first it has
  that the model does not (in the file's order), or the first whose shape
  differs (with both shapes).
  """
  torch = import_torch()
  if not os.path.isfile(path):
    raise ConversionError(f'Weights file {path} does not exist.')
  try:
    if path.endswith('.safetensors'):  # timm's files on the Hugging Face Hub
      from safetensors.torch import load_file  # pylint: disable=g-import-not-at-top

      state = load_file(path, device='cpu')
    else:
      state = torch.load(path, map_location='cpu', weights_only=True)
  except Exception as e:  # pylint: disable=broad-except
    raise ConversionError(
      f'{path} is not a readable torch state_dict: {e}'
    ) from e
  for key in ('state_dict', 'model'):
    if isinstance(state, dict) and isinstance(state.get(key), dict):
      state = state[key]
  if not isinstance(state, dict):
    raise ConversionError(
      f'{path} holds a {type(state).__name__}, not a '
      'state_dict (save model.state_dict()).'
    )
  if state and all(k.startswith('module.') for k in state):
    state = {k[len('module.') :]: v for k, v in state.items()}
  # torchvision's released DenseNet files (pretrained._DENSENET_OLD_KEY).
  state = pretrained.remap_state_dict(state)
  expected = module.state_dict()
  model_name = type(module).__name__
  linears = [
    n for n, m in module.named_modules() if isinstance(m, torch.nn.Linear)
  ]
  for key, value in expected.items():
    if key not in state:
      if key.startswith(_OPTIONAL_PREFIXES):
        continue
      raise ConversionError(
        f'{path} has no tensor {key!r} (shape {tuple(value.shape)}) that '
        f'{model_name} needs: are these the weights of another model?'
      )
    if tuple(state[key].shape) != tuple(value.shape):
      hint = (
        ' (a different class count? pass --num_classes)'
        if linears and key.startswith(linears[-1] + '.')
        else ''
      )
      raise ConversionError(
        f'{path}: tensor {key!r} has shape {tuple(state[key].shape)}, the '
        f'model expects {tuple(value.shape)}{hint}.'
      )
  extra = [k for k in state if k not in expected]
  if extra:
    raise ConversionError(
      f'{path} has tensor {extra[0]!r} (shape '
      f'{tuple(state[extra[0]].shape)}) that {model_name} does not have '
      f'({len(extra)} such tensors): are these the weights of another '
      'model?'
    )
  missing_optional = [k for k in expected if k not in state]
  module.load_state_dict(state, strict=not missing_optional)


def drop_aux_heads(module) -> None:
  """Removes torchvision's auxiliary heads, as its pretrained builders do
  when ``aux_logits`` was not asked for (GoogLeNet, Inception-v3)."""
  if hasattr(module, 'aux_logits'):
    module.aux_logits = False
  for name in ('aux1', 'aux2', 'AuxLogits'):
    if getattr(module, name, None) is not None:
      setattr(module, name, None)


def randomize_batch_norm(
  module, seed: int = 0, calibration_batch: Optional[np.ndarray] = None
) -> None:
  """Random BN affine parameters and non-trivial statistics, for tests.

  Freshly initialized BN is the identity and would hide mistakes in the
  statistics. Purely random statistics, though, let activations vanish or
  explode with depth until the logits no longer depend on the input (a
  GoogLeNet's two probe images then differ by 4e-8 of the logit scale), and
  an input-stage bug passes. With a ``calibration_batch`` (NHWC), each
  layer's statistics are its input's actual mean and variance on that batch
  (upstream layers already set), moved by 0.2 standard deviations and scaled
  by 0.5-2: every layer's output stays of order one, and the statistics are
  still nothing BN would compute itself.
  """
  torch = import_torch()
  gen = torch.Generator().manual_seed(seed)
  norms = [
    m
    for m in module.modules()
    if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
  ]  # pylint: disable=protected-access
  with torch.no_grad():
    for m in norms:
      m.running_mean.copy_(
        torch.randn(m.running_mean.shape, generator=gen) * 0.1
      )
      m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
      if m.weight is not None:
        m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
        m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
  if calibration_batch is None:
    return

  def calibrate(m, inputs):
    x = inputs[0]
    dims = [d for d in range(x.dim()) if d != 1]
    mean, var = x.mean(dims), x.var(dims, unbiased=False)
    # Nearly constant channels (mostly dead ReLUs) would turn float rounding
    # into differences of order one: no variance below a tenth of the median.
    var = torch.maximum(var, 0.1 * var.median())
    shift = (
      -torch.empty(mean.shape).uniform_(0.3, 1.0, generator=gen) * var.sqrt()
    )
    factor = torch.exp(
      torch.empty(var.shape).uniform_(-0.25, 0.25, generator=gen)
    )
    m.running_mean.copy_(mean + shift)
    m.running_var.copy_(var * factor)

  handles = [m.register_forward_pre_hook(calibrate) for m in norms]
  module.eval()
  try:
    with torch.no_grad():
      module(
        torch.from_numpy(
          np.asarray(calibration_batch, np.float32).transpose(0, 3, 1, 2).copy()
        )
      )
  finally:
    for h in handles:
      h.remove()


def reference_layers(
  module, input_shape, batch: Optional[np.ndarray] = None
) -> list[RefLayer]:
  """``module``'s parameterized layers in execution order, our layout.

  ``input_shape`` is (H, W, C). Runs one eval-mode forward pass (on zeros,
  or on ``batch``).
  """
  return _reference_layers(module, input_shape, batch)[0]


def reference_layers_and_logits(
  module, batch: np.ndarray
) -> tuple[list[RefLayer], np.ndarray]:
  """``reference_layers`` and the eval-mode logits of ``batch``, one pass."""
  return _reference_layers(module, batch.shape[1:], batch)


def _reference_layers(module, input_shape, batch):
  torch = import_torch()
  names = {m: n for n, m in module.named_modules()}
  layers: list[RefLayer] = []
  last_4d: list[tuple[int, int, int]] = []  # (C, H, W) of the latest 4-D output

  def hook(m, inputs, output):
    if isinstance(output, torch.Tensor) and output.dim() == 4:
      last_4d.append(tuple(output.shape[1:]))
    name = names.get(m, type(m).__name__)
    if isinstance(m, torch.nn.Conv2d):
      t = {'kernel': _np(m.weight).transpose(2, 3, 1, 0)}
      if m.bias is not None:
        t['bias'] = _np(m.bias)
      layers.append(RefLayer('conv', name, t))
    elif isinstance(m, torch.nn.modules.batchnorm._BatchNorm):  # pylint: disable=protected-access
      t = {'mean': _np(m.running_mean), 'var': _np(m.running_var)}
      if m.weight is not None:
        t.update(scale=_np(m.weight), bias=_np(m.bias))
      # PyTorch's momentum weights the new batch; Flax's the running value.
      momentum = None if m.momentum is None else 1.0 - m.momentum
      layers.append(RefLayer('bn', name, t, epsilon=m.eps, momentum=momentum))
    elif isinstance(m, torch.nn.LayerNorm):
      t = {}
      if m.weight is not None:
        t.update(scale=_np(m.weight), bias=_np(m.bias))
      layers.append(RefLayer('ln', name, t, epsilon=m.eps))
    elif isinstance(m, torch.nn.Linear):
      kernel = _np(m.weight).T
      # Only the *latest* 4-D output can be what was flattened into this
      # layer: searching further back matches unrelated feature maps whose
      # C*H*W happens to equal in_features (MobileNet v2 at 64x64: the
      # (320, 2, 2) block output vs. the 1280 pooled features).
      chw = last_4d[-1] if last_4d else None
      if (
        chw is not None
        and inputs[0].dim() == 2
        and chw[0] * chw[1] * chw[2] == kernel.shape[0]
      ):
        kernel = nchw_flatten_to_nhwc(kernel, chw)
      last_4d.clear()  # a later dense layer reads this one's output.
      t = {'kernel': kernel}
      if m.bias is not None:
        t['bias'] = _np(m.bias)
      layers.append(RefLayer('dense', name, t))
    else:
      for key, p in m.named_parameters(recurse=False):
        key = f'{name}.{key}' if name else key
        if p.numel() != p.shape[0]:
          raise ConversionError(
            f'{key} (shape {tuple(p.shape)}) is a parameter of a '
            f'{type(m).__name__}, a layer the converter does not know.'
          )
        layers.append(RefLayer('scale', key, {'gamma': _np(p).reshape(-1)}))

  # Leaves, plus layers with children of their own (timm's BatchNormAct2d),
  # plus modules with parameters of their own (ConvNeXt's CNBlock).
  kinds = (
    torch.nn.Conv2d,
    torch.nn.modules.batchnorm._BatchNorm,  # pylint: disable=protected-access
    torch.nn.Linear,
    torch.nn.LayerNorm,
  )
  handles = [
    m.register_forward_hook(hook)
    for m in module.modules()
    if isinstance(m, kinds)
    or not list(m.children())
    or any(True for _ in m.parameters(recurse=False))
  ]
  module.eval()
  x = np.zeros((1, *input_shape), np.float32) if batch is None else batch
  try:
    with torch.no_grad():
      out = module(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
  finally:
    for h in handles:
      h.remove()
  if isinstance(out, tuple):
    out = out[0]
  return layers, out.numpy()


def reference_logits(module, batch: np.ndarray) -> np.ndarray:
  """Eval-mode logits of an NHWC batch."""
  torch = import_torch()
  module.eval()
  with torch.no_grad():
    out = module(torch.from_numpy(batch.transpose(0, 3, 1, 2).copy()))
  if isinstance(out, tuple):
    out = out[0]
  return out.numpy()
