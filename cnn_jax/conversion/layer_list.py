"""Models as lists of parameterized layers, and pairing two such lists.

Conversion pairs the reference's parameterized layers (conv, batch norm,
dense, layer norm, layer scale) with ours (by execution order or by data
flow, below). Layouts differ and are converted on the reference side, where
the reference's convention lives:

* conv kernels: PyTorch OIHW -> HWIO; grouped/depthwise kernels keep their
  per-group input dimension (PyTorch (C*m, 1, kh, kw) -> (kh, kw, 1, C*m)).
* dense kernels: PyTorch (out, in) -> (in, out). When a dense layer follows a
  flattened NCHW tensor (AlexNet, VGG, GoogLeNet's auxiliary heads), its input
  rows are permuted from (C, H, W) order to our (H, W, C) order.
* batch norm: weight/bias/running_mean/running_var (PyTorch), gamma/beta/
  moving_mean/moving_variance (Keras) -> scale/bias/mean/var. Epsilon and
  momentum are model hyper-parameters, set in each model's definition to the
  reference's values (PyTorch 1e-5 unless the model says otherwise, Keras
  1e-3 or 1.001e-5); they are not part of the weights, but each pair is
  checked: an epsilon that differs is a ConversionError (it changes the
  function), a momentum that differs is reported (``momentum_mismatches``;
  it changes only fine-tuning). Momentum is compared in Flax's convention,
  which weights the running value: PyTorch's ``momentum=0.1`` is Flax's 0.9,
  Keras' 0.99 is Flax's 0.99.
* layer norm (``ln``): weight/bias (PyTorch), gamma/beta (Keras) -> scale/bias;
  its epsilon is checked like BatchNorm's.
* layer scale (``scale``, ``layers.LayerScale``): a per-channel factor that
  the references keep as a bare parameter of the block (torchvision's
  ``CNBlock.layer_scale``, shape (C, 1, 1)) or as its own layer (Keras'
  ``LayerScale``) -> gamma (C,).
* padding: PyTorch's symmetric padding vs TF/Keras 'SAME' (extra row/column
  at the end for even inputs with stride 2) is likewise part of each model's
  definition (``layers.ConvBNAct(padding=...)``), not of the weights.

Two ways to pair the layers:

* ``assemble(ref, ours)``: by position in execution order. PyTorch forward
  hooks give the reference's execution order, which is ours wherever our
  module calls its layers in the reference's ``forward`` order.
* ``assemble_by_dataflow(ref, model, batch)``: by *data flow*, for references
  whose layer list is not in our call order (a Keras functional model lists
  its layers in a depth-first walk of the graph, and its application code
  builds e.g. the ResNet shortcut before the main branch, while we call it
  after). Our model runs once on a probe batch; each time it calls a
  conv/BN/dense layer, the reference layer with the same input activation
  (within ``rtol``) and weight shapes provides the weights, so every later
  input is again comparable. An input may also match the reference layer's
  input before a separate ZeroPadding2D (``RefLayer.input_alternatives``),
  which we fold into the conv's padding. Parallel branches that read the
  same tensor with the same weight shapes (Inception's 1x1 reductions,
  NASNet's two 3x3 separable convs on ``p``) cannot be told apart by their
  input: those ties go to the reference's call order (``RefLayer`` order),
  which must then match ours (a wrong guess shows up one layer later as an
  input that matches nothing). A layer whose input matches no reference
  input pinpoints where the wiring differs.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.models import layers as layers_lib

KINDS = ('conv', 'bn', 'dense', 'ln', 'scale')

# Our layers that hold weights, and their kind.
_OUR_KINDS = (
  (nn.BatchNorm, 'bn'),
  (nn.LayerNorm, 'ln'),
  (layers_lib.LayerScale, 'scale'),
  (nn.Conv, 'conv'),
  (nn.Dense, 'dense'),
)
_OUR_TYPES = tuple(t for t, _ in _OUR_KINDS)


def _our_kind(module: nn.Module) -> str:
  return next(kind for t, kind in _OUR_KINDS if isinstance(module, t))


@dataclasses.dataclass
class RefLayer:
  """One parameterized layer of a reference model, in our layout."""

  kind: str
  name: str  # the reference's own name for it, for error messages.
  tensors: dict[str, np.ndarray]  # kernel/bias or scale/bias/mean/var.
  # For ``assemble_by_dataflow``: the layer's input on the probe batch (NHWC
  # or (N, features)), or ``input_from``: the index of the reference layer
  # whose output (as computed by *our* matched layer) is this one's input --
  # the pointwise half of a Keras SeparableConv2D, which has no tensor of its
  # own between depthwise and pointwise.
  input: Optional[np.ndarray] = None
  input_from: Optional[int] = None
  # Other tensors our layer may see as its input instead: the input before a
  # ZeroPadding2D that the reference applies as a separate layer and we as
  # the conv's own padding.
  input_alternatives: tuple[np.ndarray, ...] = ()
  # BatchNorm hyper-parameters in Flax's convention (``momentum`` weights the
  # running average: PyTorch's 0.1 is 0.9), checked against ours.
  epsilon: Optional[float] = None
  momentum: Optional[float] = None


@dataclasses.dataclass
class OurLayer:
  kind: str
  path: tuple[str, ...]
  shapes: dict[str, tuple[int, ...]]
  collection: dict[str, str]  # tensor name -> 'params' / 'batch_stats'
  epsilon: Optional[float] = None  # norm layers only.
  momentum: Optional[float] = None


class ConversionError(ValueError):
  pass


def our_layers(model: nn.Module, input_shape) -> list[OurLayer]:
  """Our model's parameterized layers in the order a forward pass calls them."""
  x = jnp.zeros((1, *input_shape), jnp.float32)
  variables = jax.eval_shape(
    lambda: model.init(
      {'params': jax.random.key(0), 'dropout': jax.random.key(1)},
      x,
      train=False,
    )
  )
  order = []

  def record(next_fun, args, kwargs, context):
    module = context.module
    if context.method_name == '__call__' and isinstance(module, _OUR_TYPES):
      order.append(
        (
          tuple(module.path),
          _our_kind(module),
          getattr(module, 'epsilon', None),
          getattr(module, 'momentum', None),
        )
      )
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(lambda v: model.apply(v, x, train=False), variables)
  layers, seen = [], set()
  for path, kind, epsilon, momentum in order:
    if path in seen:
      raise ConversionError(
        f'{"/".join(path)} is called twice: shared layers '
        'are not supported by the converter.'
      )
    seen.add(path)
    shapes, collection = {}, {}
    for col in ('params', 'batch_stats'):
      node = variables.get(col, {})
      for key in path:
        node = node.get(key, {}) if isinstance(node, dict) else {}
      for name, leaf in node.items():
        if hasattr(leaf, 'shape'):
          shapes[name], collection[name] = tuple(leaf.shape), col
    layers.append(OurLayer(kind, path, shapes, collection, epsilon, momentum))
  return layers


# XLA options for one-off CPU runs (the conversion's forward passes): LLVM's
# optimizations triple the compile time of a large model and save nothing
# on a batch of two small images.
_QUICK_COMPILE = {
  'xla_backend_optimization_level': 0,
  'xla_llvm_disable_expensive_passes': True,
}


def run_once(fn, *args):
  """``jax.jit(fn)(*args)``, compiled for a single run (see _QUICK_COMPILE)."""
  lowered = jax.jit(fn).lower(*args)
  try:
    compiled = lowered.compile(_QUICK_COMPILE)
  except Exception:  # pylint: disable=broad-except
    compiled = lowered.compile()  # an XLA without these options.
  return compiled(*args)


def nchw_flatten_to_nhwc(kernel: np.ndarray, chw: tuple[int, int, int]):
  """Dense kernel (C*H*W, out) with rows in CHW order -> rows in HWC order."""
  c, h, w = chw
  if h * w == 1:
    return kernel
  return (
    kernel.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(h * w * c, -1)
  )


def assemble(
  ref: list[RefLayer],
  ours: list[OurLayer],
  skip: Optional[set[tuple[str, ...]]] = None,
) -> dict[str, Any]:
  """Pairs layers in order; returns ``{'params': ..., 'batch_stats': ...}``.

  ``skip`` names our layers that have no counterpart in the reference (they
  keep no value and must be filled by the caller). Raises ConversionError
  naming the first pair that does not fit.
  """
  ours = [layer for layer in ours if not skip or layer.path not in skip]
  kinds = lambda ls: {k: sum(l.kind == k for l in ls) for k in KINDS}  # noqa: E731
  counts = (
    f'The reference has {len(ref)} parameterized layers {kinds(ref)}, '
    f'our model {len(ours)} {kinds(ours)}.'
  )
  out = {'params': {}, 'batch_stats': {}}
  for i, (r, o) in enumerate(zip(ref, ours)):
    error = _fit_error(r, o)
    if error:
      raise ConversionError(
        f'Layer {i + 1}: {error}'
        + (f' {counts}' if len(ref) != len(ours) else '')
      )
    for name, value in r.tensors.items():
      node = out[o.collection[name]]
      for key in o.path:
        node = node.setdefault(key, {})
      node[name] = np.asarray(value, np.float32)
  if len(ref) != len(ours):
    first = (
      f'reference layer {ref[len(ours)].name!r}'
      if len(ref) > len(ours)
      else f'our {"/".join(ours[len(ref)].path)!r}'
    )
    raise ConversionError(f'{counts} The first without a counterpart: {first}.')
  return out


def _relative_difference(a: np.ndarray, b: np.ndarray) -> float:
  """max|a - b| / max|b|, without an absolute floor.

  Random weights with untrained BatchNorm can shrink activations to 1e-19
  (Keras' MobileNet at 224): a floor would make every such tensor "equal".
  """
  diff, scale = np.max(np.abs(a - b)), np.max(np.abs(b))
  if scale == 0:
    return 0.0 if diff == 0 else np.inf
  return float(diff / scale)


def _fit_error(r: RefLayer, o: OurLayer) -> Optional[str]:
  """Why reference layer ``r`` cannot fill our layer ``o`` (None if it can)."""
  where = '/'.join(o.path)
  if r.kind != o.kind or set(r.tensors) != set(o.shapes):
    return (
      f'Reference layer {r.name!r} ({r.kind}: {sorted(r.tensors)}) does '
      f'not fit our {where!r} ({o.kind}: {sorted(o.shapes)}).'
    )
  for name, value in r.tensors.items():
    if tuple(value.shape) != o.shapes[name]:
      return (
        f'Reference tensor {r.name}.{name} has shape '
        f'{tuple(value.shape)} (in our layout) but our {where}/{name} '
        f'has shape {o.shapes[name]}.'
      )
  if (
    r.epsilon is not None
    and o.epsilon is not None
    and not np.isclose(r.epsilon, o.epsilon, rtol=1e-6, atol=0)
  ):
    # Part of the function, not of the weights: our model must set it.
    norm = 'BatchNorm' if r.kind == 'bn' else 'LayerNorm'
    return (
      f'Reference {norm} {r.name!r} has epsilon {r.epsilon:g} but '
      f'our {where!r} has {o.epsilon:g}: the model definition must use '
      "the reference's epsilon."
    )
  return None


def momentum_mismatches(pairs) -> list[str]:
  """BatchNorm momenta (Flax convention) that differ from the reference's.

  They do not change the eval-mode function, only how fine-tuning updates
  the statistics, so the converter reports them instead of refusing.
  """
  out = []
  for r, o in pairs:
    if (
      r.momentum is not None
      and o.momentum is not None
      and not np.isclose(r.momentum, o.momentum, rtol=1e-6, atol=0)
    ):
      out.append(
        f'{"/".join(o.path)}: {o.momentum:g} (reference '
        f'{r.name}: {r.momentum:g})'
      )
  return out


def assemble_by_dataflow(
  ref: list[RefLayer],
  model: nn.Module,
  batch: np.ndarray,
  rtol: float = 1e-3,
  pairs: Optional[list] = None,
) -> tuple[dict[str, Any], np.ndarray]:
  """Pairs layers by their input activations on ``batch`` (see module doc).

  Every ``RefLayer`` needs ``input`` (its input on ``batch``) or
  ``input_from`` (then it pairs with the layer we call right after the one
  paired with ``ref[input_from]``). Our model runs once, jitted: at each of
  its conv/BN/dense layers a host callback receives the layer's input, picks
  the reference layer and returns its tensors, which the layer then uses.

  Returns ``({'params', 'batch_stats'}, our_logits)``; the logits are those
  of our model with the assembled variables, in eval mode. ``pairs``, if
  given, receives the (RefLayer, OurLayer) pairs in our call order. Raises
  ConversionError at the first of our layers whose input matches no unused
  reference layer or whose match has differently shaped weights (naming the
  tensor and both shapes), or if layers are left unpaired on either side.
  """
  from jax.experimental import io_callback  # pylint: disable=g-import-not-at-top

  batch = jnp.asarray(batch, jnp.float32)
  shapes = jax.eval_shape(
    lambda: model.init(
      {'params': jax.random.key(0), 'dropout': jax.random.key(1)},
      batch,
      train=False,
    )
  )
  variables = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
  used: dict[int, tuple[str, ...]] = {}  # ref index -> our path.
  ours: dict[tuple[str, ...], OurLayer] = {}
  call_order: dict[tuple[str, ...], int] = {}
  seen: set[tuple[str, ...]] = set()
  last = [None]  # ref index paired with our previous layer call.
  errors: list[Exception] = []

  def ref_inputs(r: RefLayer) -> list[np.ndarray]:
    return [a for a in (r.input, *r.input_alternatives) if a is not None]

  def match(o: OurLayer, x: np.ndarray) -> int:
    where = '/'.join(o.path)
    inputs_match, nearest = [], (np.inf, None)
    for i, r in enumerate(ref):
      if i in used or r.kind != o.kind:
        continue
      if r.input_from is not None:
        if r.input_from == last[0]:
          inputs_match.append(i)
        continue
      diffs = [
        _relative_difference(x, rx)
        for rx in ref_inputs(r)
        if tuple(rx.shape) == x.shape
      ]
      if not diffs:
        continue
      if min(diffs) <= rtol:
        inputs_match.append(i)
      elif min(diffs) < nearest[0]:
        nearest = (min(diffs), r.name)
    for i in inputs_match:  # ties: the reference's order.
      if _fit_error(ref[i], o) is None:
        return i
    if inputs_match:
      raise ConversionError(_fit_error(ref[inputs_match[0]], o))
    hint = (
      f' The nearest unused one, {nearest[1]!r}, differs by '
      f'{nearest[0]:.3g} (relative).'
      if nearest[1]
      else ''
    )
    raise ConversionError(
      f'Our layer {where!r} ({o.kind}, {o.shapes}) gets an input {x.shape} '
      f"that matches no unused reference {o.kind} layer's input: the "
      f'models are wired differently here or just before (a layer without '
      f'weights: padding, pooling, activation, concatenation order).{hint}'
    )

  def intercept(next_fun, args, kwargs, context):
    module = context.module
    if context.method_name != '__call__' or not isinstance(module, _OUR_TYPES):
      return next_fun(*args, **kwargs)
    path = tuple(module.path)
    if path in seen:
      raise ConversionError(
        f'{"/".join(path)} is called twice: shared '
        'layers are not supported by the converter.'
      )
    seen.add(path)
    o_shapes, collection = {}, {}
    for col, tree in module.variables.items():
      for name, leaf in tree.items():
        if hasattr(leaf, 'shape'):
          o_shapes[name], collection[name] = tuple(leaf.shape), col
    o = OurLayer(
      _our_kind(module),
      path,
      o_shapes,
      collection,
      getattr(module, 'epsilon', None),
      getattr(module, 'momentum', None),
    )
    ours[path] = o
    call_order[path] = len(call_order)
    structs = {
      n: jax.ShapeDtypeStruct(s, jnp.float32) for n, s in o_shapes.items()
    }

    def host(x):
      try:
        if errors:  # an earlier layer failed: finish quickly, report that.
          raise ConversionError('(an earlier layer failed)')
        i = match(o, np.asarray(x, np.float32))
      except ConversionError as e:
        errors.append(e)
        return {n: np.zeros(s.shape, s.dtype) for n, s in structs.items()}
      used[i] = o.path
      last[0] = i
      return {n: np.asarray(ref[i].tensors[n], np.float32) for n in structs}

    values = io_callback(host, structs, args[0], ordered=True)
    for name, value in values.items():
      module.put_variable(collection[name], name, value)
    return next_fun(*args, **kwargs)

  def run(v, x):
    with nn.intercept_methods(intercept):
      return model.apply(v, x, train=False, mutable=True)

  logits, assembled = run_once(run, variables, batch)
  if errors:
    raise errors[0]
  left = [r.name for i, r in enumerate(ref) if i not in used]
  if left:
    raise ConversionError(
      f'{len(left)} reference layers have no counterpart in our model, '
      f'starting with {left[:5]}.'
    )
  # Every variable must come from the reference (a layer type the converter
  # does not know would otherwise keep its zero placeholder silently).
  unset = [
    jax.tree_util.keystr(p)
    for p, _ in jax.tree_util.tree_flatten_with_path(variables)[0]
    if p[1:-1] and tuple(k.key for k in p[1:-1]) not in seen
  ]
  if unset:
    raise ConversionError(
      f'Our variables {unset[:5]} belong to no layer the converter '
      f'knows ({", ".join(KINDS)}): it cannot fill them.'
    )
  out = {
    'params': jax.tree.map(np.asarray, dict(assembled.get('params', {}))),
    'batch_stats': jax.tree.map(
      np.asarray, dict(assembled.get('batch_stats', {}))
    ),
  }
  if isinstance(logits, (tuple, list)):
    logits = logits[0]
  if pairs is not None:
    pairs.extend(
      sorted(
        ((ref[i], ours[p]) for i, p in used.items()),
        key=lambda pair: call_order[pair[1].path],
      )
    )
  return out, np.asarray(logits)
