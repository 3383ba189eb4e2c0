r"""Speed of a config's train and eval steps and of its input pipeline.

Run::

  python -m cnn_jax.benchmark --config=configs/resnet20_cifar10.py \
      [--config.dtype=bfloat16] [--config.batch_size=N] [--steps=50] \
      [--warmup=5] [--mode=train|eval|input|all] [--json_out=FILE] \
      [--peak_flops=F] [--config.host_devices=N] \
      [--config.cpu_tuning=auto|none] [--config.conv_impl=auto|xla]

Train / eval (``--mode=train``, ``eval``): the config's model, optimizer and
batch size on random images shaped like the config's dataset (the dataset is
replaced by ``synthetic`` with the same image shape and class count, so no
data is read), through the trainer's own path: ``sharding.make_mesh``,
``train_step.create_train_state`` and ``train_step.compile_steps`` (the same
mesh, shardings and buffer donation as ``cnn_jax.main``). One batch is placed
on the devices once and fed to every step, so the figures are the step's
alone. Reported:

* compile time: ``lower`` + ``compile`` of the jitted step;
* images/s: global batch / median step time over ``--steps`` steps after
  ``--warmup`` steps, each step timed to ``block_until_ready``;
* FLOPs per step: XLA's cost analysis of the lowered (un-optimized) step,
  summed over the devices (XLA counts a multiply-add as 2 FLOPs; see
  ``cnn_jax.analysis.flops`` for what it counts). The optimized program is not used
  because library calls (YNNPACK/oneDNN/cuDNN fusions) hide their FLOPs;
  where the step calls oneDNN convolutions or pooling (custom calls, 0
  FLOPs to XLA), the count is that of the same step lowered with XLA's ops;
* convolutions and pooling: which implementation ran (``conv_impl``, the
  number of oneDNN calls of each in each step, oneDNN's version, ISA and
  chosen kernels);
* MFU: achieved FLOP/s over the devices' peak (``PEAK_FLOPS`` by device kind
  and dtype, or ``--peak_flops`` per device); n/a on CPU unless given;
* peak memory: ``device.memory_stats()['peak_bytes_in_use']`` where the
  backend has it (GPU, TPU), else the process's peak resident set size
  (labelled as such: it includes Python, TensorFlow and XLA's compiler).
  Both are the process's peaks so far; per step, ``program_memory_bytes`` is
  what XLA's memory analysis of the compiled step says it needs per device:
  arguments + outputs + temporaries - donated aliases, or its
  ``peak_memory_in_bytes`` where that says more (the CPU backend's counts
  little more than the arguments). The table prints it above the process's
  peak.

Input (``--mode=input``): images/s of the config's real training input path
on its real dataset (``--config.input_pipeline`` chooses, as in training):

* ``tfdata`` (``data.pipeline.train_dataset``: TFDS read, cache, shuffle,
  decode, the crop window and resize, uint8 batching, ``as_numpy``), and per
  CPU core of this process; then what each host stage costs on one core,
  the transfer of a batch to the devices, the train step's own input work
  and the tf.data options (``data.input_benchmark``);
* ``device`` (``data.device_pipeline``): the per-step gather of a batch from
  the arrays on the devices plus the augmentation and normalization that the
  train step runs (its ``batch_transform``, compiled alone), timed until the
  last batch is ready: what the device path can feed a train step.

CPU hosts: convolutions and pooling run in oneDNN on all cores
(``--config.conv_impl=xla``: XLA's own, for comparison). ``--config.host_devices=N`` splits the host into N
XLA devices before JAX starts (``--xla_force_host_platform_device_count``)
and, with ``num_devices`` unset (the default), the batch over all of them;
``--config.cpu_tuning`` applies :mod:`cnn_jax.ops.cpu_tuning` (``auto``: the
fast settings on a CPU backend). ``python -m experiments.benchmarks.torch_peer`` times the same
models in PyTorch in the same process.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import resource
import statistics
import time
from typing import Any, Callable, Optional

# Peak dense FLOP/s per device (vendor datasheets, no sparsity). 'float32' is
# what XLA uses for f32 matmuls/convs by default: TF32 tensor cores on
# A100/H100 (JAX's default precision), bf16 passes on TPU.
PEAK_FLOPS = {
  'h100': {'bfloat16': 989e12, 'float32': 495e12},  # SXM; TF32 for f32.
  'h100 pcie': {'bfloat16': 756e12, 'float32': 378e12},
  'h100 nvl': {'bfloat16': 835e12, 'float32': 418e12},
  'h200': {'bfloat16': 989e12, 'float32': 495e12},
  'a100': {'bfloat16': 312e12, 'float32': 156e12},  # TF32 for f32.
  'v100': {'bfloat16': None, 'float16': 125e12, 'float32': 15.7e12},
  'tpu v4': {'bfloat16': 275e12, 'float32': 275e12},
  'tpu v5 lite': {'bfloat16': 197e12, 'float32': 197e12},  # v5e
  'tpu v5e': {'bfloat16': 197e12, 'float32': 197e12},
  'tpu v5p': {'bfloat16': 459e12, 'float32': 459e12},
  'tpu v6 lite': {'bfloat16': 918e12, 'float32': 918e12},  # Trillium
}


PROFILE_STEPS = 5  # traced after the timed ones


def peak_flops_per_device(device_kind: str, dtype: str) -> Optional[float]:
  """The table's peak for a ``device.device_kind``; None if unknown (CPU)."""
  kind = device_kind.lower()
  # Longest key first so that 'tpu v5 lite' wins over shorter matches.
  for key in sorted(PEAK_FLOPS, key=len, reverse=True):
    if key in kind:
      return PEAK_FLOPS[key].get(dtype)
  return None


def benchmark_config(config):
  """``config`` reading random images shaped like its dataset's (a copy)."""
  from cnn_jax.data import datasets  # pylint: disable=g-import-not-at-top

  config = copy.deepcopy(config)
  with contextlib.ExitStack() as stack:
    if hasattr(config, 'unlocked'):  # a locked ConfigDict from the flags
      stack.enter_context(config.unlocked())
    if config.dataset != 'synthetic':
      spec = datasets.get_spec(config.dataset)
      shape = tuple(spec.image_shape)
      num_classes = spec.num_classes
      config.synthetic_shape = shape
      config.synthetic_classes = (
        config.num_classes if config.num_classes is not None else num_classes
      )
      config.dataset = 'synthetic'
    # Enough synthetic examples for one epoch of the batch (unused here:
    # the benchmark never reads the dataset, only its shape).
    config.synthetic_examples = max(
      config.synthetic_examples, 2 * config.batch_size
    )
    config.validation_examples = 0
  return config


@dataclasses.dataclass
class StepTiming:
  """Per-step wall times (seconds) and what they mean for a batch."""

  times: list[float]
  batch_size: int

  @property
  def median_s(self) -> float:
    return statistics.median(self.times)

  @property
  def images_per_s(self) -> float:
    return self.batch_size / self.median_s


def time_steps(
  step: Callable[[], Any], steps: int, warmup: int, batch_size: int
) -> StepTiming:
  """Runs ``step`` (which must block until done) warmup + steps times."""
  for _ in range(warmup):
    step()
  times = []
  for _ in range(steps):
    t = time.perf_counter()
    step()
    times.append(time.perf_counter() - t)
  return StepTiming(times, batch_size)


class StepBench:
  """The trainer's compiled train and eval steps on one random batch.

  ``train_once()`` / ``eval_once()`` run one step each and block until it is
  done (the train state is updated in place through donation, as in the
  trainer). Built from a config that :func:`benchmark_config` made synthetic.
  """

  def __init__(self, config, *, seed: int = 0):
    import jax  # pylint: disable=g-import-not-at-top
    import numpy as np  # pylint: disable=g-import-not-at-top
    from cnn_jax.training import optim, sharding, trainer, train_step  # pylint: disable=g-import-not-at-top
    from cnn_jax.data import pipeline  # pylint: disable=g-import-not-at-top

    self.config = config
    self.info = pipeline.get_info(config)
    self.num_classes = trainer.num_classes_for(config, self.info)
    self.mesh = sharding.make_mesh(config.num_devices)
    sharding.check_batch_divides(config.batch_size, self.mesh, 'batch_size')
    sharding.check_batch_divides(
      config.eval_batch_size, self.mesh, 'eval_batch_size'
    )
    self.model = trainer.build_model(config, self.num_classes)
    steps_per_epoch = max(1, pipeline.steps_per_epoch(config, self.info))
    total = (
      config.num_train_steps
      if config.num_train_steps is not None
      else int(math.ceil(config.num_epochs * steps_per_epoch))
    )
    schedule = optim.learning_rate_schedule(config, steps_per_epoch, total)
    tx = optim.make_optimizer(config, schedule)
    state = train_step.create_train_state(
      self.model, tx, self.info.image_shape, jax.random.key(config.seed)
    )
    self.state = jax.device_put(state, sharding.replicated(self.mesh))
    self.train_fn, self.eval_fn = train_step.compile_steps(
      config, self.mesh, self.state, self.num_classes, schedule
    )

    rng = np.random.RandomState(seed)
    shape = self.info.image_shape

    def batch(n, with_mask):
      b = {
        'image': rng.standard_normal((n, *shape)).astype(np.float32),
        'label': rng.randint(0, self.num_classes, n).astype(np.int32),
      }
      if with_mask:
        b['mask'] = np.ones((n,), bool)
      n_proc = jax.process_count()
      local = {
        k: v[
          jax.process_index() * (n // n_proc) : (jax.process_index() + 1)
          * (n // n_proc)
        ]
        for k, v in b.items()
      }
      return sharding.global_batch(local, self.mesh)

    self.train_batch = batch(config.batch_size, False)
    self.eval_batch = batch(config.eval_batch_size, True)
    self._train_compiled = None
    self._eval_compiled = None
    self.train_compile_s = self.eval_compile_s = None
    self.train_flops = self.eval_flops = None
    self._schedule = schedule
    self.onednn_calls = {}  # oneDNN convolution calls in the lowered steps.
    self.onednn_pool_calls = {}  # and pooling calls.
    self._xla_steps = self._xla_state = None
    self._jax = jax

  @staticmethod
  def program_memory(compiled) -> Optional[int]:
    """Bytes per device the compiled program needs (XLA's own analysis)."""
    try:
      m = compiled.memory_analysis()
    except Exception:  # pylint: disable=broad-except
      return None
    if isinstance(m, (list, tuple)):
      m = m[0] if m else None
    if m is None:
      return None
    allocated = (
      m.argument_size_in_bytes
      + m.output_size_in_bytes
      + m.temp_size_in_bytes
      - m.alias_size_in_bytes
    )
    # XLA's CPU backend leaves peak_memory_in_bytes at about the arguments'
    # size (2.6 MB for the UvA ResNet's train step, whose temporaries take
    # 230 MB), so it counts only where it says more than the allocations.
    peak = getattr(m, 'peak_memory_in_bytes', None) or 0
    return int(max(allocated, peak))

  @staticmethod
  def _flops(lowered) -> Optional[float]:
    cost = lowered.cost_analysis()
    if isinstance(cost, (list, tuple)):
      cost = cost[0] if cost else None
    if not cost or 'flops' not in cost:
      return None
    return float(cost['flops'])

  def _xla_conv_steps(self):
    """The same steps with XLA's convolutions, only to count FLOPs.

    XLA's cost analysis counts a oneDNN custom call (convolution or
    pooling) as 0 FLOPs, so with ``conv_impl='auto'`` on a CPU the count
    comes from this twin (same parameters; lowered, never compiled).
    """
    from cnn_jax.training import train_step  # pylint: disable=g-import-not-at-top
    from cnn_jax.ops import conv  # pylint: disable=g-import-not-at-top

    if self._xla_steps is None:
      twin = conv.WithConvImpl(self.model, conv_impl='xla')
      self._xla_state = self.state.replace(apply_fn=twin.apply)
      self._xla_steps = train_step.compile_steps(
        self.config,
        self.mesh,
        self._xla_state,
        self.num_classes,
        self._schedule,
      )
    return self._xla_steps

  def _step_flops(self, lowered, which: int, batch) -> Optional[float]:
    text = lowered.as_text()
    calls = text.count('cnn_jax_onednn_conv')
    self.onednn_calls[('train', 'eval')[which]] = calls
    pool_calls = text.count('cnn_jax_onednn_') - calls
    self.onednn_pool_calls[('train', 'eval')[which]] = pool_calls
    if not calls and not pool_calls:
      return self._flops(lowered)
    fn = self._xla_conv_steps()[which]
    return self._flops(fn.lower(self._xla_state, batch))

  def compile_train(self):
    if self._train_compiled is None:
      t = time.perf_counter()
      lowered = self.train_fn.lower(self.state, self.train_batch)
      self._train_compiled = lowered.compile()
      self.train_compile_s = time.perf_counter() - t
      # The lowered module is the global (unpartitioned) step.
      self.train_flops = self._step_flops(lowered, 0, self.train_batch)
    return self._train_compiled

  def compile_eval(self):
    if self._eval_compiled is None:
      t = time.perf_counter()
      lowered = self.eval_fn.lower(self.state, self.eval_batch)
      self._eval_compiled = lowered.compile()
      self.eval_compile_s = time.perf_counter() - t
      self.eval_flops = self._step_flops(lowered, 1, self.eval_batch)
    return self._eval_compiled

  def train_once(self):
    fn = self.compile_train()
    self.state, metrics = fn(self.state, self.train_batch)
    self._jax.block_until_ready((self.state, metrics))

  def eval_once(self):
    fn = self.compile_eval()
    self._jax.block_until_ready(fn(self.state, self.eval_batch))


def peak_memory() -> tuple[Optional[int], str]:
  """(bytes, what): device peak where the backend reports it, else RSS."""
  import jax  # pylint: disable=g-import-not-at-top

  peaks = []
  for d in jax.local_devices():
    try:
      stats = d.memory_stats()
    except Exception:  # pylint: disable=broad-except
      stats = None
    if stats and 'peak_bytes_in_use' in stats:
      peaks.append(int(stats['peak_bytes_in_use']))
  if peaks:
    return max(peaks), 'device peak_bytes_in_use (max over local devices)'
  rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return int(rss_kib) * 1024, 'process peak RSS (CPU backend: no device stats)'


def cpu_count() -> int:
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:
    return os.cpu_count() or 1


def run_step_benchmarks(
  config,
  *,
  modes=('train', 'eval'),
  steps: int = 50,
  warmup: int = 5,
  peak_flops: Optional[float] = None,
  profile_dir: Optional[str] = None,
) -> dict[str, Any]:
  """Compile and time the train and/or eval step of ``config``.

  ``profile_dir``: after the timed train steps, a ``jax.profiler`` trace of
  a few more (with a Perfetto file), to see where the step's time goes.
  """
  import jax  # pylint: disable=g-import-not-at-top

  config = benchmark_config(config)
  bench = StepBench(config)
  devices = bench.mesh.devices.size
  device = jax.local_devices()[0]
  peak = peak_flops or peak_flops_per_device(device.device_kind, config.dtype)
  out: dict[str, Any] = {
    'model': config.model,
    'dtype': config.dtype,
    'image_shape': list(bench.info.image_shape),
    'num_classes': bench.num_classes,
    'devices': devices,
    'device_kind': device.device_kind,
    'platform': device.platform,
    'peak_flops_per_device': peak,
  }
  for mode in modes:
    if mode == 'train':
      bench.compile_train()
      timing = time_steps(bench.train_once, steps, warmup, config.batch_size)
      flops, compile_s = bench.train_flops, bench.train_compile_s
      batch = config.batch_size
      program = bench.program_memory(bench.compile_train())
    elif mode == 'eval':
      bench.compile_eval()
      timing = time_steps(
        bench.eval_once, steps, warmup, config.eval_batch_size
      )
      flops, compile_s = bench.eval_flops, bench.eval_compile_s
      batch = config.eval_batch_size
      program = bench.program_memory(bench.compile_eval())
    else:
      raise ValueError(mode)
    achieved = flops / timing.median_s if flops else None
    out[mode] = {
      'batch_size': batch,
      'compile_s': compile_s,
      'step_ms_median': 1e3 * timing.median_s,
      'step_ms_min': 1e3 * min(timing.times),
      'step_ms_mean': 1e3 * statistics.fmean(timing.times),
      'images_per_s': timing.images_per_s,
      'steps': steps,
      'warmup': warmup,
      'flops_per_step': flops,
      'flops_per_image': flops / batch if flops else None,
      'achieved_flops_per_s': achieved,
      'mfu': (achieved / (peak * devices) if achieved and peak else None),
      'program_memory_bytes': program,
    }
    if mode == 'train' and profile_dir:
      with jax.profiler.trace(profile_dir, create_perfetto_trace=True):
        for _ in range(PROFILE_STEPS):
          bench.train_once()
      out[mode]['profile_dir'] = profile_dir
  mem, what = peak_memory()
  out['peak_memory_bytes'] = mem
  out['peak_memory_kind'] = what
  out['convolutions'] = conv_record(config, bench)
  return out


def conv_record(config, bench) -> dict[str, Any]:
  """Which convolutions and poolings ran: oneDNN (version, ISA, kernels) or
  XLA's."""
  from cnn_jax.ops import onednn  # pylint: disable=g-import-not-at-top

  calls = dict(bench.onednn_calls)
  pool_calls = dict(bench.onednn_pool_calls)
  record: dict[str, Any] = {
    'conv_impl': config.get('conv_impl', 'auto'),
    'onednn_calls': calls,
    'onednn_pool_calls': pool_calls,
  }
  if any(calls.values()) or any(pool_calls.values()):
    record['onednn'] = onednn.info()
    record['onednn_kernels'] = onednn.implementations()
  return record


def run_input_benchmark(
  config, *, batches: int = 50, warmup: int = 5
) -> dict[str, Any]:
  """Images/s of the config's real training input path on this host."""
  from cnn_jax.data import inputs  # pylint: disable=g-import-not-at-top

  if inputs.choose(config) == 'device':
    return run_device_input_benchmark(config, batches=batches, warmup=warmup)
  from cnn_jax.data import input_benchmark  # pylint: disable=g-import-not-at-top

  return input_benchmark.run(config, batches=batches, warmup=warmup)


def run_device_input_benchmark(
  config, *, batches: int = 50, warmup: int = 5
) -> dict[str, Any]:
  """Images/s the on-device input path feeds: gather + batch_transform."""
  import jax  # pylint: disable=g-import-not-at-top
  from cnn_jax.data import device_pipeline, pipeline  # pylint: disable=g-import-not-at-top
  from cnn_jax.training import sharding  # pylint: disable=g-import-not-at-top

  info = pipeline.get_info(config)
  mesh = sharding.make_mesh(config.num_devices)
  t0 = time.perf_counter()
  feed = device_pipeline.DevicePipeline(config, info, mesh)
  transform = jax.jit(feed.batch_transform)
  key = jax.random.key(config.seed)  # one key: the work does not depend on it

  def one(step):
    b = feed.train_batch(step)
    return transform(b['image'], b['label'], key)

  jax.block_until_ready([one(s) for s in range(warmup)])
  warm_s = time.perf_counter() - t0
  t = time.perf_counter()
  out = None
  for s in range(warmup, warmup + batches):
    out = one(s)
  jax.block_until_ready(out)
  elapsed = time.perf_counter() - t
  n = batches * config.batch_size
  cores = cpu_count()
  return {
    'dataset': config.dataset,
    'augment': config.augment,
    'input_pipeline': 'device',
    'source': feed.source,
    'devices': int(mesh.devices.size),
    'device_kind': mesh.devices.flat[0].device_kind,
    'batch_size': config.batch_size,
    'batches': batches,
    'warmup': warmup,
    'warmup_s': warm_s,
    'images_per_s': n / elapsed,
    'images_per_s_per_core': n / elapsed / cores,
    'cpu_cores': cores,
  }


def _fmt(v, unit='', digits=1):
  if v is None:
    return 'n/a'
  if isinstance(v, float):
    return f'{v:,.{digits}f}{unit}'
  return f'{v:,}{unit}'


def _si(v, unit):
  if v is None:
    return 'n/a'
  for scale, prefix in (
    (1e15, 'P'),
    (1e12, 'T'),
    (1e9, 'G'),
    (1e6, 'M'),
    (1e3, 'k'),
  ):
    if abs(v) >= scale:
      return f'{v / scale:.2f} {prefix}{unit}'
  return f'{v:.0f} {unit}'


def format_table(results: dict[str, Any]) -> str:
  """A plain-text table of :func:`run_step_benchmarks` / input results."""
  lines = []
  if 'model' in results:
    lines.append(
      f'{results["model"]} {results["dtype"]} {results["image_shape"]} on '
      f'{results["devices"]} x {results["device_kind"]} '
      f'({results["platform"]})'
    )
    header = (
      f'{"step":<6}{"batch":>7}{"compile s":>11}{"ms/step":>10}'
      f'{"img/s":>11}{"FLOPs/step":>15}{"FLOP/s":>16}{"MFU":>8}'
    )
    lines += [header, '-' * len(header)]
    for mode in ('train', 'eval'):
      r = results.get(mode)
      if not r:
        continue
      mfu = f'{100 * r["mfu"]:.1f}%' if r['mfu'] else 'n/a'
      lines.append(
        f'{mode:<6}{r["batch_size"]:>7}{_fmt(r["compile_s"], "", 2):>11}'
        f'{_fmt(r["step_ms_median"]):>10}{_fmt(r["images_per_s"]):>11}'
        f'{_si(r["flops_per_step"], "FLOP"):>15}'
        f'{_si(r["achieved_flops_per_s"], "FLOP/s"):>16}{mfu:>8}'
      )
    for mode in ('train', 'eval'):
      program = (results.get(mode) or {}).get('program_memory_bytes')
      if program:
        lines.append(
          f'{mode} step program: {program / 2**20:,.1f} MiB per device '
          "(XLA's memory analysis: arguments, outputs, temporaries)"
        )
    if results.get('peak_memory_bytes'):
      lines.append(
        f'peak memory: {results["peak_memory_bytes"] / 2**20:,.0f} '
        f'MiB ({results["peak_memory_kind"]})'
      )
  if 'input' in results:
    r = results['input']
    lines.append(
      f'input pipeline {r.get("input_pipeline", "tfdata")} ({r["dataset"]}, '
      f'augment={r["augment"] or "none"}, '
      f'batch {r["batch_size"]}): {r["images_per_s"]:,.0f} img/s, '
      f'{r["images_per_s_per_core"]:,.0f} img/s per core '
      f'({r["cpu_cores"]} cores)'
    )
    lines += _input_stage_lines(r)
  return '\n'.join(lines)


def _input_stage_lines(r: dict[str, Any]) -> list[str]:
  """The tf.data input benchmark's stages, transfer, step work, options."""
  lines = []
  if r.get('images_per_cpu_s'):
    lines.append(
      f'per CPU-second of this process: {r["images_per_cpu_s"]:,.0f} img'
    )
  if r.get('stages_per_core'):
    lines.append(
      'host stages, img per CPU-second on one thread: '
      + ', '.join(f'{k} {v:,.0f}' for k, v in r['stages_per_core'].items())
    )
  if r.get('windows'):
    lines.append(
      'crop windows: '
      + ', '.join(f'{k} {100 * v:.0f}%' for k, v in r['windows'].items())
    )
  if r.get('transfer'):
    t = r['transfer']
    lines.append(
      f'transfer to the devices: {t["images_per_s"]:,.0f} img/s '
      f'({t["mb_per_batch"]:,.1f} MB uint8 per batch)'
    )
  if r.get('step_input_work_images_per_s'):
    lines.append(
      'in-step input work (augmentation, normalization, recipe) on the '
      f'devices: {r["step_input_work_images_per_s"]:,.0f} img/s'
    )
  if r.get('tfdata_options'):
    lines.append(
      'tf.data options: '
      + ', '.join(f'{k}={v}' for k, v in r['tfdata_options'].items())
    )
  return lines


def machine_info() -> dict[str, Any]:
  """The machine (CPU model and vector flags), load, commit and command."""
  from cnn_jax.analysis import provenance  # pylint: disable=g-import-not-at-top

  record = provenance.record()
  machine = record.pop('machine')
  return {
    **record,
    **machine,
    'cpu_model': machine['cpu'],
    'cpu_cores': cpu_count(),
  }


def main(argv, flag_values=None):
  run(argv, flag_values)


def check_flags(flags_) -> None:
  """A UserError naming the first flag with a value the run cannot use."""
  from cnn_jax import errors  # pylint: disable=g-import-not-at-top

  for name, low in (('steps', 1), ('warmup', 0), ('input_batches', 1)):
    if flags_[name].value < low:
      raise errors.UserError(
        f'--{name}={flags_[name].value}: must be an integer >= {low}.'
      )
  peak = flags_.peak_flops
  if not (math.isfinite(peak) and peak >= 0):
    raise errors.UserError(
      f'--peak_flops={peak}: must be a number >= 0 (FLOP/s per device; 0: '
      'from the table).'
    )
  out = flags_.json_out
  if out and (
    os.path.isdir(out)
    or not os.path.isdir(os.path.dirname(os.path.abspath(out)))
  ):
    raise errors.UserError(
      f'--json_out={out}: give a file path in an existing directory.'
    )


def run(argv, flag_values=None) -> dict[str, Any]:
  """The CLI's work, returning the figures (tests call this in-process)."""
  from absl import flags  # pylint: disable=g-import-not-at-top

  flags_ = flags.FLAGS if flag_values is None else flag_values
  from cnn_jax import config_validation  # pylint: disable=g-import-not-at-top
  from cnn_jax import errors  # pylint: disable=g-import-not-at-top

  if len(argv) > 1:
    raise errors.UserError(f'Unexpected arguments: {argv[1:]}')
  from cnn_jax.ops import cpu_tuning  # pylint: disable=g-import-not-at-top

  config = flags_.config
  config_validation.validate(config)  # before JAX starts (cpu_tuning)
  check_flags(flags_)
  cpu_tuning.configure(
    host_devices=config.host_devices, tuning=config.cpu_tuning
  )
  modes = ('train', 'eval') if flags_.mode == 'all' else (flags_.mode,)
  results: dict[str, Any] = {}
  step_modes = tuple(m for m in modes if m in ('train', 'eval'))
  if step_modes:
    results.update(
      run_step_benchmarks(
        config,
        modes=step_modes,
        steps=flags_.steps,
        warmup=flags_.warmup,
        peak_flops=flags_.peak_flops or None,
      )
    )
  if flags_.mode in ('input', 'all'):
    results['input'] = run_input_benchmark(
      config, batches=flags_.input_batches, warmup=flags_.warmup
    )
  results['machine'] = machine_info()
  results['cpu_tuning'] = cpu_tuning.describe()
  print(format_table(results))
  if flags_.json_out:
    with open(flags_.json_out, 'w') as f:
      json.dump(results, f, indent=2, sort_keys=True)
    print(f'wrote {flags_.json_out}')
  return results


def define_flags(flag_values=None, argv=None):
  """Defines the CLI flags (on a fresh FlagValues with its argv in tests)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top

  fv = flags.FLAGS if flag_values is None else flag_values
  if 'config' in fv:
    return
  config_flags.DEFINE_config_file(
    'config',
    None,
    'Experiment config file.',
    flag_values=fv,
    lock_config=True,
    sys_argv=argv,
  )
  flags.DEFINE_enum(
    'mode',
    'all',
    ['train', 'eval', 'input', 'all'],
    'What to time.',
    flag_values=fv,
  )
  flags.DEFINE_integer(
    'steps', 50, 'Timed steps (or input batches).', flag_values=fv
  )
  flags.DEFINE_integer('warmup', 5, 'Untimed steps first.', flag_values=fv)
  flags.DEFINE_integer(
    'input_batches', 50, 'Timed input-pipeline batches.', flag_values=fv
  )
  flags.DEFINE_float(
    'peak_flops',
    0.0,
    'Peak FLOP/s per device for MFU (0: from the table).',
    flag_values=fv,
  )
  flags.DEFINE_string(
    'json_out', '', 'Also write the figures here.', flag_values=fv
  )
  flags.mark_flags_as_required(['config'], flag_values=fv)


if __name__ == '__main__':
  from cnn_jax import errors  # pylint: disable=g-import-not-at-top

  define_flags()
  errors.run(main)
