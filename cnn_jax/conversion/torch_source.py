"""Reads a PyTorch (torchvision / timm) model as an ordered list of layers.

A forward pass in eval mode with hooks on every Conv2d, BatchNorm2d and Linear
records them in execution order, which is what ``layer_list.assemble`` pairs
with our model's order. Layout conversions are documented in ``layer_list``.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from cnn_jax.conversion.layer_list import ConversionError, RefLayer, nchw_flatten_to_nhwc


def _np(t):
  return t.detach().cpu().numpy().astype(np.float32)


def build_reference(source: str, name: str, num_classes: int = 1000):
  """A randomly initialized torchvision or timm model (nothing downloaded)."""
  if source == 'torchvision':
    import torchvision  # pylint: disable=g-import-not-at-top
    return torchvision.models.get_model(name, weights=None,
                                        num_classes=num_classes)
  if source == 'timm':
    import timm  # pylint: disable=g-import-not-at-top
    return timm.create_model(name, pretrained=False, num_classes=num_classes)
  raise ValueError(f'Unknown PyTorch source {source!r}.')


def load_weights(module, path: str) -> None:
  """Loads a state_dict file into ``module``, naming the first misfit."""
  import torch  # pylint: disable=g-import-not-at-top
  state = torch.load(path, map_location='cpu', weights_only=True)
  if isinstance(state, dict) and 'state_dict' in state:
    state = state['state_dict']
  expected = module.state_dict()
  for key, value in expected.items():
    if key not in state:
      raise ConversionError(f'{path} has no tensor {key!r} (shape '
                            f'{tuple(value.shape)}) that the model needs.')
    if tuple(state[key].shape) != tuple(value.shape):
      raise ConversionError(
          f'{path}: tensor {key!r} has shape {tuple(state[key].shape)}, the '
          f'model expects {tuple(value.shape)}.')
  extra = sorted(set(state) - set(expected))
  if extra:
    raise ConversionError(f'{path} has tensors the model does not: {extra[:5]}')
  module.load_state_dict(state)


def randomize_batch_norm(module, seed: int = 0) -> None:
  """Non-trivial BN statistics, so a test exercises them."""
  import torch  # pylint: disable=g-import-not-at-top
  gen = torch.Generator().manual_seed(seed)
  for m in module.modules():
    if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):  # pylint: disable=protected-access
      with torch.no_grad():
        m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
        m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
        if m.weight is not None:
          m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
          m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


def reference_layers(module, input_shape, batch: Optional[np.ndarray] = None
                     ) -> list[RefLayer]:
  """``module``'s conv/BN/linear layers in execution order, our layout.

  ``input_shape`` is (H, W, C). Runs one eval-mode forward pass.
  """
  import torch  # pylint: disable=g-import-not-at-top
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
      layers.append(RefLayer('bn', name, t))
    elif isinstance(m, torch.nn.Linear):
      kernel = _np(m.weight).T
      # Only the *latest* 4-D output can be what was flattened into this
      # layer: searching further back matches unrelated feature maps whose
      # C*H*W happens to equal in_features (MobileNet v2 at 64x64: the
      # (320, 2, 2) block output vs. the 1280 pooled features).
      chw = last_4d[-1] if last_4d else None
      if (chw is not None and inputs[0].dim() == 2
          and chw[0] * chw[1] * chw[2] == kernel.shape[0]):
        kernel = nchw_flatten_to_nhwc(kernel, chw)
      last_4d.clear()  # a later dense layer reads this one's output.
      t = {'kernel': kernel}
      if m.bias is not None:
        t['bias'] = _np(m.bias)
      layers.append(RefLayer('dense', name, t))

  # Leaves, plus layers with children of their own (timm's BatchNormAct2d).
  kinds = (torch.nn.Conv2d, torch.nn.modules.batchnorm._BatchNorm,  # pylint: disable=protected-access
           torch.nn.Linear)
  handles = [m.register_forward_hook(hook) for m in module.modules()
             if isinstance(m, kinds) or not list(m.children())]
  module.eval()
  x = np.zeros((1, *input_shape), np.float32) if batch is None else batch
  try:
    with torch.no_grad():
      module(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
  finally:
    for h in handles:
      h.remove()
  return layers


def reference_logits(module, batch: np.ndarray) -> np.ndarray:
  """Eval-mode logits of an NHWC batch."""
  import torch  # pylint: disable=g-import-not-at-top
  module.eval()
  with torch.no_grad():
    out = module(torch.from_numpy(batch.transpose(0, 3, 1, 2).copy()))
  if isinstance(out, tuple):
    out = out[0]
  return out.numpy()
