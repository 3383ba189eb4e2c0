"""A drop-in convolution that is faster for few-channel layers on XLA:CPU.

``conv_general_dilated`` has ``jax.lax.conv_general_dilated``'s signature and
results; ``Conv`` is ``flax.linen.Conv`` using it (same parameters, names,
shapes and initializers, so checkpoints and parameter counts do not change).

Why: XLA:CPU (jaxlib 0.10) hands a convolution to YNNPACK only if it has more
than 16 input or output channels; smaller ones go to Eigen's spatial
convolution, which runs 2-5x below YNNPACK's speed on them (CIFAR ResNets'
16-channel stage, every LeNet layer, 3-channel stems). This module computes
such a stride-1 convolution on a *width-folded* view instead: ``f``
neighbouring columns are folded into the channels, (N, H, W, C) ->
(N, H, W/f, f*C), a free reshape after padding, and the kernel becomes a
(kh, ceil((kw - 1 + f) / f), f*C, f*O) kernel whose blocks are copies of the
original taps (zeros elsewhere). The folded convolution has more than 16
channels, so YNNPACK takes it; it does ``ceil((kw-1+f)/f) * f / kw`` times the
multiply-adds (4/3 for 3x3 kernels with f=2), which YNNPACK's speed more than
repays. ``f`` is the smallest such ratio for which YNNPACK accepts the fold.

The backward pass is a ``jax.custom_vjp``: the input gradient of a stride-1
convolution is itself a stride-1 convolution (of the output gradient with the
spatially flipped, in/out-transposed kernel), computed folded in the same
way; the kernel gradient is left to XLA (``jax.linear_transpose`` of the plain
convolution), which already hands it to YNNPACK with the batch as features.

Measured on a 2-core AMD EPYC (Zen 4), jaxlib 0.10.2, batch 64, CPU ms per
call, XLA's own / folded (interleaved medians; BENCHMARKS.md):

=====================  ========  ============  ==========
layer                  forward   input grad    fold f
=====================  ========  ============  ==========
3x3, 16 -> 16, 32x32   5.8 / 4.8  5.9 / 4.7    2
3x3, 3 -> 16, 32x32    4.3 / 1.0  (not needed)  2
5x5, 1 -> 6, 32x32     3.6 / 0.6  (not needed)  4
5x5, 6 -> 16, 14x14    1.0 / 0.6  3.2 / 1.8     2
=====================  ========  ============  ==========

Accuracy: each folded convolution, its input gradient and its kernel gradient
agree with a float64 computation to 3e-7 (relative norm), as XLA's own do. In
a whole ResNet-20 train step (batch 4, float32), folding any one layer changes
the parameter gradients by about 2e-6, but folding all seven few-channel
layers changed those of the first layers by up to 2.3e-3 while XLA's own path
was within 1e-6 of float64; the effect is not additive over layers (subsets
gave either 2e-6 or 2e-3) and its cause inside XLA's compilation of the
combined step was not found. That is below bfloat16's resolution and did not
change training outcomes measured here; ``cpu_tuning='none'`` turns the fold
off for bit-level comparisons.

Everything else (strides, dilations, groups, more than 16 channels, other
layouts, non-float32 dtypes: YNNPACK convolutions are float32 only) goes to
``lax.conv_general_dilated`` unchanged. On GPU and TPU the fold only adds
work, so the fast path is taken on the CPU backend only (``CPU_ONLY``).
"""
from __future__ import annotations

import contextlib
import functools
import math
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# YNNPACK takes a convolution if max(input, output channels) exceeds this
# (xla/backends/cpu/ynn_support.cc, IsConvolutionOpSupportedByYnn).
YNN_MIN_CHANNELS = 17
MAX_FOLD = 8
CPU_ONLY = True
# Off until switched on: ``cpu_tuning.configure(tuning='auto'|'fast')`` (what
# ``cnn_jax.main``, ``cnn_jax.benchmark`` and the peer benchmark call, per the
# config's ``cpu_tuning``) turns it on; off, every call is plain
# ``lax.conv_general_dilated``.
ENABLED = False


def enable(on: bool = True) -> None:
  """Switches the folded path on or off for convolutions traced from now."""
  global ENABLED
  ENABLED = bool(on)


@contextlib.contextmanager
def disabled():
  """Plain ``lax`` convolutions for what is traced inside the block.

  For code that ``vmap``s a model over a sharded axis (ghost BatchNorm): the
  batched custom VJP's kernel gradient made XLA gather the activations onto
  every device.
  """
  was = ENABLED
  enable(False)
  try:
    yield
  finally:
    enable(was)

_NHWC = ('NHWC', 'HWIO', 'NHWC')


def fold_factor(in_channels: int, out_channels: int, kernel_width: int,
                min_channels: int = YNN_MIN_CHANNELS) -> Optional[int]:
  """The fold for a stride-1 convolution, or None when not worth it.

  None if the layer already has ``min_channels`` channels; else the ``f`` in
  2..MAX_FOLD with ``max(f*C, f*O) >= min_channels`` that minimizes the extra
  multiply-adds ``ceil((kw - 1 + f) / f) * f / kw`` (smallest f on ties).
  """
  if max(in_channels, out_channels) >= min_channels or kernel_width < 2:
    return None
  best, best_ratio = None, math.inf
  for f in range(2, MAX_FOLD + 1):
    if max(f * in_channels, f * out_channels) < min_channels:
      continue
    ratio = -(-(kernel_width - 1 + f) // f) * f / kernel_width
    if ratio < best_ratio - 1e-9:
      best, best_ratio = f, ratio
  return best


def _fold_kernel_taps(kw: int, f: int) -> np.ndarray:
  """S[b, ci, co, j] = 1 where folded block tap b, in-column ci, out-column co
  read the original tap j (``j = f*b + ci - co``)."""
  kwb = -(-(kw - 1 + f) // f)
  s = np.zeros((kwb, f, f, kw), np.float32)
  for b in range(kwb):
    for ci in range(f):
      for co in range(f):
        j = f * b + ci - co
        if 0 <= j < kw:
          s[b, ci, co, j] = 1.0
  return s


def folded_conv(x, w, f: int, padding, precision=None,
                preferred_element_type=None):
  """Stride-1 NHWC/HWIO convolution of ``x`` by ``w`` on the width-folded view.

  ``padding``: ((top, bottom), (left, right)), all >= 0. Same result as
  ``lax.conv_general_dilated(x, w, (1, 1), padding, dimension_numbers=NHWC)``
  up to float rounding.
  """
  n, h, width, c = x.shape
  kh, kw, _, o = w.shape
  (pt, pb), (pl, pr) = padding
  w_out = width + pl + pr - kw + 1
  nb_out = -(-w_out // f)
  kwb = -(-(kw - 1 + f) // f)
  nb_in = nb_out + kwb - 1
  right = nb_in * f - width - pl  # >= pr: extra zero columns, sliced off.
  xp = jnp.pad(x, ((0, 0), (0, 0), (pl, right), (0, 0)))
  xf = xp.reshape(n, h, nb_in, f * c)
  taps = jnp.asarray(_fold_kernel_taps(kw, f), w.dtype)
  wf = jnp.einsum('bxyj,ijco->ibxcyo', taps, w,
                  precision=lax.Precision.HIGHEST).reshape(kh, kwb, f * c,
                                                           f * o)
  y = lax.conv_general_dilated(
      xf, wf, (1, 1), ((pt, pb), (0, 0)), dimension_numbers=_NHWC,
      precision=precision, preferred_element_type=preferred_element_type)
  y = y.reshape(n, y.shape[1], nb_out * f, o)
  return y[:, :, :w_out, :] if nb_out * f != w_out else y


def _plain(x, w, padding, precision, preferred_element_type):
  return lax.conv_general_dilated(
      x, w, (1, 1), padding, dimension_numbers=_NHWC, precision=precision,
      preferred_element_type=preferred_element_type)


def _input_grad_padding(kernel_shape, padding):
  kh, kw = kernel_shape[:2]
  (pt, pb), (pl, pr) = padding
  return ((kh - 1 - pt, kh - 1 - pb), (kw - 1 - pl, kw - 1 - pr))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5, 6))
def _fast_conv(x, w, f_fwd, f_bwd, padding, precision, preferred_element_type):
  return folded_conv(x, w, f_fwd, padding, precision, preferred_element_type)


def _fast_conv_fwd(x, w, f_fwd, f_bwd, padding, precision,
                   preferred_element_type):
  y = folded_conv(x, w, f_fwd, padding, precision, preferred_element_type)
  return y, (x, w)


def _fast_conv_bwd(f_fwd, f_bwd, padding, precision, preferred_element_type,
                   res, g):
  del f_fwd
  x, w = res
  g = g.astype(x.dtype)
  bwd_pad = _input_grad_padding(w.shape, padding)
  if f_bwd is not None and min(p for pair in bwd_pad for p in pair) >= 0:
    # d/dx of a stride-1 correlation: correlate g with the flipped kernel,
    # input and output channels swapped.
    w_t = jnp.flip(w, (0, 1)).transpose(0, 1, 3, 2)
    dx = folded_conv(g, w_t, f_bwd, bwd_pad, precision)
  else:
    dx = jax.linear_transpose(
        lambda x_: _plain(x_, w, padding, precision, None), x)(g)[0]
  dw = jax.linear_transpose(
      lambda w_: _plain(x, w_, padding, precision, None), w)(g)[0]
  return dx.astype(x.dtype), dw.astype(w.dtype)


_fast_conv.defvjp(_fast_conv_fwd, _fast_conv_bwd)


def _is_nhwc_hwio(lhs, rhs, dimension_numbers) -> bool:
  if lhs.ndim != 4 or rhs.ndim != 4:
    return False
  try:
    dn = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    want = lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
  except (TypeError, ValueError):
    return False
  return tuple(map(tuple, dn)) == tuple(map(tuple, want))


def _ones(v, n=2) -> bool:
  return v is None or tuple(v) == (1,) * n or v == 1


def _on_cpu() -> bool:
  try:
    return jax.default_backend() == 'cpu'
  except RuntimeError:
    return False


def plan(lhs, rhs, window_strides, padding, lhs_dilation=None,
         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
         batch_group_count=1, preferred_element_type=None,
         cpu_only: Optional[bool] = None):
  """(forward fold, input-gradient fold, explicit padding) or None (lax)."""
  cpu_only = CPU_ONLY if cpu_only is None else cpu_only
  if not ENABLED or (cpu_only and not _on_cpu()):
    return None
  if (feature_group_count != 1 or batch_group_count != 1 or
      not _ones(window_strides) or not _ones(lhs_dilation) or
      not _ones(rhs_dilation) or not _is_nhwc_hwio(lhs, rhs,
                                                    dimension_numbers)):
    return None
  f32 = jnp.dtype(jnp.float32)
  if (jnp.dtype(lhs.dtype) != f32 or jnp.dtype(rhs.dtype) != f32 or
      (preferred_element_type is not None and
       jnp.dtype(preferred_element_type) != f32)):
    return None
  kh, kw, c, o = rhs.shape
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(lhs.shape[1:3], (kh, kw), (1, 1), padding)
  padding = tuple((int(lo), int(hi)) for lo, hi in padding)
  if any(p < 0 for pair in padding for p in pair):
    return None
  if lhs.shape[1] + sum(padding[0]) < kh or lhs.shape[2] + sum(
      padding[1]) < kw:
    return None
  f_fwd = fold_factor(c, o, kw)
  if f_fwd is None:
    return None
  return f_fwd, fold_factor(o, c, kw), padding


def conv_general_dilated(lhs, rhs, window_strides: Sequence[int], padding,
                         lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count: int = 1,
                         batch_group_count: int = 1, precision=None,
                         preferred_element_type=None):
  """``lax.conv_general_dilated``, width-folded for few-channel convs on CPU."""
  p = plan(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
           dimension_numbers, feature_group_count, batch_group_count,
           preferred_element_type)
  if p is None:
    return lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count,
        batch_group_count=batch_group_count, precision=precision,
        preferred_element_type=preferred_element_type)
  f_fwd, f_bwd, pads = p
  return _fast_conv(lhs, rhs, f_fwd, f_bwd, pads, precision,
                    preferred_element_type)


class Conv(nn.Conv):
  """``flax.linen.Conv`` computed by :func:`conv_general_dilated`.

  Same fields, parameters ('kernel', 'bias'), shapes, initializers and
  auto-generated names ('Conv_0', ...) as ``nn.Conv``.
  """
  conv_general_dilated: Any = conv_general_dilated
