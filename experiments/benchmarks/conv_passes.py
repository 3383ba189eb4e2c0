"""A model's convolutions, pass by pass: ours (oneDNN via jax.ffi) vs PyTorch.

Run::

  python -m experiments.benchmarks.conv_passes --model=resnet30_keras \
      --image_size=28 --channels=1 [--dtype=bfloat16] [--batch_size=128] \
      [--rounds=3] [--repeats=5]

Finds the model's distinct convolutions (shape, stride, padding, groups)
from its traced forward pass and times each one's three passes on the CPU:
forward, input gradient and kernel gradient. Ours: the convolution every
model calls (``cnn_jax.ops.conv.conv_general_dilated``), each pass jitted
alone (the gradients through ``jax.linear_transpose``, so each is the one
oneDNN call the train step makes). PyTorch: ``conv2d`` and
``aten.convolution_backward`` (one output each) on channels_last tensors of
the same dtype, its own oneDNN. The two alternate in ``--rounds`` rounds of
``--repeats`` calls per layer and pass; each figure is a median. The table
gives milliseconds per call and the model's total per pass (each layer
times its count), and the oneDNN kernels ours chose: where a train step's
convolution time goes, and which pass trails PyTorch's.

Two processes that both run oneDNN on all cores slow each other down far
more than twice (GNU OpenMP threads spin while they wait): run this on a
quiet machine.
"""

from __future__ import annotations

import collections
import re
import statistics
import time
from typing import Any, Callable

from absl import app, flags

from experiments.benchmarks import peer_config

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line's flags (defined when run, so that tests can import
  this module beside others that define the same names)."""
  peer_config.define_model_flags(
    'resnet30_keras', image_size=28, channels=1, dtype='bfloat16'
  )
  flags.DEFINE_integer('rounds', 3, 'Alternating rounds (ours, PyTorch).')
  flags.DEFINE_integer('repeats', 5, 'Timed calls per round, layer and pass.')


PASSES = ('forward', 'backward_data', 'backward_weights')


def model_convolutions(model, shape, dtype) -> list[tuple[dict, int]]:
  """The model's distinct oneDNN convolutions and how often each occurs.

  Each is a dict: ``x`` and ``w`` shapes (NHWC / HWIO), ``strides``,
  ``padding``, ``dilation``, ``groups``; in the order of first use.
  """
  import jax  # pylint: disable=g-import-not-at-top

  from cnn_jax.analysis import flops  # pylint: disable=g-import-not-at-top

  x = jax.ShapeDtypeStruct(shape, dtype)
  jaxpr = jax.make_jaxpr(
    lambda x: model.init(jax.random.key(0), x, train=True)
  )(x)
  counts: collections.Counter = collections.Counter()
  specs: dict[tuple, dict] = {}

  def walk(j):
    for eqn in j.eqns:
      if eqn.primitive.name == 'onednn_conv_fwd':
        p = eqn.params
        spec = dict(
          x=tuple(eqn.invars[0].aval.shape[1:]),
          w=tuple(eqn.invars[1].aval.shape[1:]),
          strides=tuple(p['strides']),
          padding=tuple(tuple(q) for q in p['padding']),
          dilation=tuple(p['dilation']),
          groups=int(p['groups']),
        )
        key = tuple(sorted(spec.items()))
        specs.setdefault(key, spec)
        counts[key] += 1
      for v in eqn.params.values():
        for sub in flops.sub_jaxprs(v):
          walk(sub)

  walk(jaxpr.jaxpr)
  return [(specs[k], counts[k]) for k in specs]


def ours(spec: dict, dtype) -> dict[str, Callable[[], Any]]:
  """The three passes of our convolution, each jitted alone."""
  import jax  # pylint: disable=g-import-not-at-top

  from cnn_jax.ops import conv  # pylint: disable=g-import-not-at-top

  def f(x, w):
    return conv.conv_general_dilated(
      x,
      w,
      spec['strides'],
      spec['padding'],
      rhs_dilation=spec['dilation'],
      dimension_numbers=conv.NHWC,
      feature_group_count=spec['groups'],
    )

  keys = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(keys[0], spec['x'], dtype)
  w = jax.random.normal(keys[1], spec['w'], dtype)
  y_shape = jax.eval_shape(f, x, w)
  dy = jax.random.normal(keys[2], y_shape.shape, dtype)
  fwd = jax.jit(f)
  bwd_data = jax.jit(
    lambda w, dy: jax.linear_transpose(lambda x: f(x, w), x)(dy)[0]
  )
  bwd_weights = jax.jit(
    lambda x, dy: jax.linear_transpose(lambda w: f(x, w), w)(dy)[0]
  )
  return {
    'forward': lambda: fwd(x, w).block_until_ready(),
    'backward_data': lambda: bwd_data(w, dy).block_until_ready(),
    'backward_weights': lambda: bwd_weights(x, dy).block_until_ready(),
  }


def pytorch(spec: dict, dtype_name: str) -> dict[str, Callable[[], Any]]:
  """The same convolution's three passes in PyTorch (channels_last)."""
  import torch  # pylint: disable=g-import-not-at-top

  dtype = getattr(torch, dtype_name)
  n, h, w_, c = spec['x']
  kh, kw, i, o = spec['w']
  cl = torch.channels_last
  gen = torch.Generator().manual_seed(0)
  x = torch.randn(n, c, h, w_, generator=gen).to(dtype).to(memory_format=cl)
  w = torch.randn(o, i, kh, kw, generator=gen).to(dtype).to(memory_format=cl)
  (pt, pb), (pl, pr) = spec['padding']
  if (pt, pl) != (pb, pr):  # asymmetric: pad the input once, as 'SAME' does.
    x = torch.nn.functional.pad(x, (pl, pr, pt, pb)).contiguous(
      memory_format=cl
    )
    pt = pl = 0
  args = dict(
    stride=list(spec['strides']),
    padding=[pt, pl],
    dilation=list(spec['dilation']),
    groups=spec['groups'],
  )

  def fwd():
    return torch.nn.functional.conv2d(x, w, **args)

  dy = torch.randn(fwd().shape, generator=gen).to(dtype).to(memory_format=cl)

  def backward(mask):
    return lambda: torch.ops.aten.convolution_backward(
      dy,
      x,
      w,
      None,
      args['stride'],
      args['padding'],
      args['dilation'],
      False,
      [0, 0],
      args['groups'],
      mask,
    )

  return {
    'forward': fwd,
    'backward_data': backward([True, False, False]),
    'backward_weights': backward([False, True, False]),
  }


def torch_onednn_version() -> str:
  """'oneDNN v3.12.0' from PyTorch's build description, or 'oneDNN ?'."""
  import torch  # pylint: disable=g-import-not-at-top

  found = re.search(r'MKL-DNN (v[\d.]+)', torch.__config__.show())
  return f'oneDNN {found.group(1)}' if found else 'oneDNN ?'


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t)
  return 1e3 * statistics.median(times)


def label(spec: dict) -> str:
  n, h, w, c = spec['x']
  kh, kw, _, o = spec['w']
  s = 'x'.join(map(str, spec['strides']))
  g = f' g{spec["groups"]}' if spec['groups'] > 1 else ''
  return f'{h}x{w} {c}->{o} k{kh}x{kw} s{s}{g}'


def main(argv):
  del argv
  from cnn_jax.ops import cpu_tuning  # pylint: disable=g-import-not-at-top

  cpu_tuning.configure(0, 'auto')
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top

  from cnn_jax import models  # pylint: disable=g-import-not-at-top
  from cnn_jax.analysis import provenance  # pylint: disable=g-import-not-at-top
  from cnn_jax.ops import onednn  # pylint: disable=g-import-not-at-top

  dtype = jnp.dtype(FLAGS.dtype)
  model = models.build(FLAGS.model, num_classes=FLAGS.num_classes, dtype=dtype)
  shape = (FLAGS.batch_size, FLAGS.image_size, FLAGS.image_size, FLAGS.channels)
  layers = model_convolutions(model, shape, dtype)
  if not layers:
    raise SystemExit(f'{FLAGS.model}: no convolution runs in oneDNN here.')
  machine = provenance.machine()
  load = ', '.join(f'{v:.1f}' for v in machine.get('load_avg', []))
  print(f'{provenance.describe_cpu(machine)}; load average {load}')
  print(onednn.info().get('version', 'oneDNN library not built'))
  print(
    f'{FLAGS.model}, {FLAGS.dtype}, input {shape}: {len(layers)} distinct '
    f'convolutions, {sum(c for _, c in layers)} in all; PyTorch '
    f'{torch.__version__} ({torch_onednn_version()}), '
    f'{torch.get_num_threads()} threads'
  )
  totals = {(side, p): 0.0 for side in ('ours', 'torch') for p in PASSES}
  head = ' | '.join(f'{p}: ours / torch ms' for p in PASSES)
  print(f'| layer | count | {head} |')
  print('|---|---:|' + '---:|' * len(PASSES))
  for spec, count in layers:
    fns = {'ours': ours(spec, dtype), 'torch': pytorch(spec, FLAGS.dtype)}
    for side in fns.values():  # compile, create primitives, warm caches.
      for fn in side.values():
        fn()
    ms = collections.defaultdict(list)
    for _ in range(FLAGS.rounds):
      for side, passes in fns.items():
        for p, fn in passes.items():
          ms[side, p].append(median_ms(fn, FLAGS.repeats))
    cells = []
    for p in PASSES:
      a, b = statistics.median(ms['ours', p]), statistics.median(ms['torch', p])
      totals['ours', p] += count * a
      totals['torch', p] += count * b
      cells.append(f'{a:.2f} / {b:.2f} ({a / b:.2f}x)')
    print(f'| {label(spec)} | {count} | ' + ' | '.join(cells) + ' |')
  cells = [
    f'{totals["ours", p]:.1f} / {totals["torch", p]:.1f} '
    f'({totals["ours", p] / totals["torch", p]:.2f}x)'
    for p in PASSES
  ]
  print('| all, per step | | ' + ' | '.join(cells) + ' |')
  print('oneDNN kernels (ours):')
  for kernel, n in onednn.implementations().items():
    print(f'  {kernel} ({n})')


if __name__ == '__main__':
  define_flags()
  app.run(main)
