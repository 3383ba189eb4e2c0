"""FLOPs of one forward pass, from XLA's cost analysis (nothing is run).

``jax.jit(apply).lower(abstract_variables, abstract_input).cost_analysis()``
asks XLA to cost the un-optimized HLO of one evaluation-mode forward pass; the
inputs are ``jax.ShapeDtypeStruct``s, so no parameters are materialized and
nothing is compiled or executed (EfficientNet-B7 at 600x600 costs a trace
and a lowering: about 2-3 s on the 2-core CPU this repo is developed on).

Conventions:
  * XLA counts a multiply-accumulate as 2 FLOPs, so ``macs = flops / 2``.
  * XLA's count differs from the figures in papers and in torchvision's
    ``_ops`` metadata (GMACs of convolutions and dense layers) both ways: it
    adds the element-wise work (BatchNorm, activations, SE gates, residual
    adds, pooling), and it counts a convolution's MACs only where the window
    overlaps the input, not the zero padding (a 3x3 'SAME' conv on a 4x4 map:
    100 MACs, not 144). Padded 3x3 convolutions
    dominate ResNets and VGGs (ResNet-50: 3.97 G flops / 2 vs 4.09 GMACs
    published), element-wise work dominates MobileNets and EfficientNets
    (MobileNet v2: 0.316 vs 0.301; EfficientNet-B0: 0.407 vs 0.386).
  * ``count_conv_dense_macs`` counts what the papers count instead: it walks
    the traced program (jaxpr) and sums the multiply-accumulates of every
    convolution and matrix product, nothing else.
  * Evaluation mode (BatchNorm with running statistics, no dropout), batch 1
    unless asked otherwise.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.extend.core as jex_core
import jax.numpy as jnp

from cnn_jax.analysis import model_stats
from cnn_jax.ops import conv


def _flops_from(cost: Any) -> float | None:
  # jax has returned a dict, or a list with one dict per computation.
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else None
  if not cost or 'flops' not in cost:
    return None
  return float(cost['flops'])


def trace_forward(
  model, input_shape, batch_size: int = 1, dtype=jnp.float32, interceptor=None
) -> jax.stages.Traced:
  """Traces one eval-mode forward pass on abstract inputs (nothing runs).

  ``interceptor`` (optional) is installed with ``nn.intercept_methods`` while
  tracing, e.g. to record every submodule's output (``cnn_jax.summary``).
  """
  variables = model_stats.abstract_variables(model, input_shape)
  x = jax.ShapeDtypeStruct((batch_size, *input_shape), dtype)
  # XLA's own convolutions, which XLA's cost analysis and the jaxpr MAC count
  # see (a oneDNN custom call on CPU would count as 0); same variables.
  model = conv.WithConvImpl(model, conv_impl='xla')

  def forward(variables, x):
    rngs = {'dropout': jax.random.key(0)}
    if interceptor is None:
      return model.apply(variables, x, train=False, rngs=rngs)
    with nn.intercept_methods(interceptor):
      return model.apply(variables, x, train=False, rngs=rngs)

  return jax.jit(forward).trace(variables, x)


def traced_flops(traced: jax.stages.Traced) -> float:
  """XLA's FLOP count of a traced function (lowered, not compiled)."""
  lowered = traced.lower()
  flops = _flops_from(lowered.cost_analysis())
  if flops is None:  # Some backends cost only compiled executables.
    flops = _flops_from(lowered.compile().cost_analysis())
  if flops is None:
    raise RuntimeError('XLA cost analysis reported no FLOPs.')
  return flops


def traced_conv_dense_macs(traced: jax.stages.Traced) -> int:
  """MACs of the convolutions and dot products in a traced function."""
  return _jaxpr_macs(traced.jaxpr.jaxpr)


def count_flops(
  model, input_shape, batch_size: int = 1, dtype=jnp.float32
) -> float:
  """FLOPs of ``model`` (eval mode) on a batch of ``(H, W, C)`` inputs."""
  return traced_flops(trace_forward(model, input_shape, batch_size, dtype))


def sub_jaxprs(value):
  """The jaxprs inside an equation's parameter value (pjit, custom_vjp,
  scan bodies, cond branches), as plain ``Jaxpr``s."""
  if isinstance(value, jex_core.ClosedJaxpr):
    yield value.jaxpr
  elif isinstance(value, jex_core.Jaxpr):
    yield value
  elif isinstance(value, (list, tuple)):
    for v in value:
      yield from sub_jaxprs(v)


def _jaxpr_macs(jaxpr) -> int:
  total = 0
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == 'conv_general_dilated':
      out = eqn.outvars[0].aval.shape
      rhs = eqn.invars[1].aval.shape
      out_features = rhs[eqn.params['dimension_numbers'].rhs_spec[0]]
      # Each output element takes kh * kw * (in / groups) MACs.
      total += math.prod(out) * (math.prod(rhs) // out_features)
    elif name == 'dot_general':
      (lhs_contract, _), _ = eqn.params['dimension_numbers']
      lhs = eqn.invars[0].aval.shape
      total += math.prod(eqn.outvars[0].aval.shape) * math.prod(
        lhs[d] for d in lhs_contract
      )
    else:
      subs = [
        _jaxpr_macs(j) for v in eqn.params.values() for j in sub_jaxprs(v)
      ]
      if subs:
        if name == 'cond':  # One branch runs.
          total += max(subs)
        else:
          total += sum(subs) * eqn.params.get('length', 1)  # scan: length
  return total


def count_conv_dense_macs(model, input_shape, batch_size: int = 1) -> int:
  """MACs of the convolutions and matrix products only (papers' convention).

  Traces the eval-mode forward pass to a jaxpr (abstractly, nothing runs) and
  sums ``output elements x kernel window x input channels / groups`` over
  convolutions and ``output elements x contracted size`` over dot products.
  """
  return traced_conv_dense_macs(trace_forward(model, input_shape, batch_size))
