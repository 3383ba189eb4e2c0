"""Models as ordered lists of parameterized layers, and matching two lists.

Conversion pairs the reference's parameterized layers (conv, batch norm,
dense) with ours in *execution order*: both sides run a forward pass and
record each such layer as it is called. Layouts differ and are converted on
the reference side, where the reference's convention lives:

* conv kernels: PyTorch OIHW -> HWIO; grouped/depthwise kernels keep their
  per-group input dimension (PyTorch (C*m, 1, kh, kw) -> (kh, kw, 1, C*m)).
* dense kernels: PyTorch (out, in) -> (in, out). When a dense layer follows a
  flattened NCHW tensor (AlexNet, VGG, GoogLeNet's auxiliary heads), its input
  rows are permuted from (C, H, W) order to our (H, W, C) order.
* batch norm: weight/bias/running_mean/running_var (PyTorch), gamma/beta/
  moving_mean/moving_variance (Keras) -> scale/bias/mean/var. Epsilon and
  momentum are model hyper-parameters, set in each model's definition to the
  reference's values (PyTorch 1e-5 unless the model says otherwise, Keras
  1e-3 or 1.001e-5); they are not part of the weights.
* padding: PyTorch's symmetric padding vs TF/Keras 'SAME' (extra row/column
  at the end for even inputs with stride 2) is likewise part of each model's
  definition (``layers.ConvBNAct(padding=...)``), not of the weights.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

KINDS = ('conv', 'bn', 'dense')


@dataclasses.dataclass
class RefLayer:
  """One parameterized layer of a reference model, in our layout."""
  kind: str
  name: str  # the reference's own name for it, for error messages.
  tensors: dict[str, np.ndarray]  # kernel/bias or scale/bias/mean/var.


@dataclasses.dataclass
class OurLayer:
  kind: str
  path: tuple[str, ...]
  shapes: dict[str, tuple[int, ...]]
  collection: dict[str, str]  # tensor name -> 'params' / 'batch_stats'


class ConversionError(ValueError):
  pass


def our_layers(model: nn.Module, input_shape) -> list[OurLayer]:
  """Our model's conv/BN/dense layers in the order a forward pass calls them."""
  x = jnp.zeros((1, *input_shape), jnp.float32)
  variables = jax.eval_shape(
      lambda: model.init({'params': jax.random.key(0),
                          'dropout': jax.random.key(1)}, x, train=False))
  order = []

  def record(next_fun, args, kwargs, context):
    module = context.module
    if context.method_name == '__call__' and isinstance(
        module, (nn.Conv, nn.BatchNorm, nn.Dense)):
      order.append(tuple(module.path))
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(lambda v: model.apply(v, x, train=False), variables)
  layers, seen = [], set()
  for path in order:
    if path in seen:
      raise ConversionError(f'{"/".join(path)} is called twice: shared layers '
                            'are not supported by the converter.')
    seen.add(path)
    shapes, collection = {}, {}
    for col in ('params', 'batch_stats'):
      node = variables.get(col, {})
      for key in path:
        node = node.get(key, {}) if isinstance(node, dict) else {}
      for name, leaf in node.items():
        if hasattr(leaf, 'shape'):
          shapes[name], collection[name] = tuple(leaf.shape), col
    kind = 'bn' if 'mean' in shapes else ('conv' if len(
        shapes.get('kernel', ())) == 4 else 'dense')
    layers.append(OurLayer(kind, path, shapes, collection))
  return layers


def nchw_flatten_to_nhwc(kernel: np.ndarray, chw: tuple[int, int, int]):
  """Dense kernel (C*H*W, out) with rows in CHW order -> rows in HWC order."""
  c, h, w = chw
  if h * w == 1:
    return kernel
  return kernel.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(
      h * w * c, -1)


def assemble(ref: list[RefLayer], ours: list[OurLayer],
             skip: Optional[set[tuple[str, ...]]] = None) -> dict[str, Any]:
  """Pairs layers in order; returns ``{'params': ..., 'batch_stats': ...}``.

  ``skip`` names our layers that have no counterpart in the reference (they
  keep no value and must be filled by the caller). Raises ConversionError
  naming the first pair that does not fit.
  """
  ours = [layer for layer in ours if not skip or layer.path not in skip]
  if len(ref) != len(ours):
    kinds = lambda ls: {k: sum(l.kind == k for l in ls) for k in KINDS}
    raise ConversionError(
        f'The reference has {len(ref)} parameterized layers {kinds(ref)}, '
        f'our model {len(ours)} {kinds(ours)}.')
  out = {'params': {}, 'batch_stats': {}}
  for r, o in zip(ref, ours):
    where = '/'.join(o.path)
    if r.kind != o.kind or set(r.tensors) != set(o.shapes):
      raise ConversionError(
          f'Reference layer {r.name!r} ({r.kind}: {sorted(r.tensors)}) does '
          f'not fit our {where!r} ({o.kind}: {sorted(o.shapes)}).')
    for name, value in r.tensors.items():
      if tuple(value.shape) != o.shapes[name]:
        raise ConversionError(
            f'Reference tensor {r.name}.{name} has shape {tuple(value.shape)} '
            f'(in our layout) but our {where}/{name} has shape '
            f'{o.shapes[name]}.')
      node = out[o.collection[name]]
      for key in o.path:
        node = node.setdefault(key, {})
      node[name] = np.asarray(value, np.float32)
  return out
