r"""The GPU campaign's parts, each run in a process of its own by campaign.py.

Run::

  python -m experiments.gpu.parts NAME SPEC_JSON OUT_JSON

``SPEC_JSON`` is the part's spec (a JSON object: its sizes, ``deadline`` in
``time.time()`` seconds, ``dry_run``); the part writes its figures to
``OUT_JSON`` after every measurement (atomically), so that a part stopped at
its time limit still leaves what it measured. Parts:

* ``env``: GPU, driver, package versions, JAX's devices.
* ``resnet50_ours``: our ResNet-50 train step (and eval step at the first
  batch size) on synthetic data through ``cnn_jax.benchmark`` (the trainer's
  mesh, shardings, donation), batch sizes in order while time is left.
* ``resnet50_torch``: PyTorch's (``experiments.benchmarks.torch_peer``: the
  same model, SGD, bf16 autocast, channels_last, torch.compile,
  cudnn.benchmark), same batches; then its eval step.
* ``seed_model``: one model of the CIFAR tutorial table on Fashion-MNIST with
  the on-device input path: a short measured run first (step time with the
  real input, with a fixed batch, the input path's feed rate, one
  evaluation), then the recipe's full epoch budget if it fits before the
  deadline, else the most epochs that fit (the lr milestones scaled with it).
* ``xla_flag``: our ResNet-50 train step under the ``XLA_FLAGS`` the campaign
  set for this process (one candidate flag, or none for the baseline).

Parts import PyTorch before JAX where they use it (see torch_peer) and never
both in one process, so that each framework has the GPU's memory to itself.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any, Callable

from cnn_jax import config_file

ROOT = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


class Emitter:
  """Keeps a part's result dict and rewrites its JSON file on each update."""

  def __init__(self, path: str):
    self.path = path
    self.result: dict[str, Any] = {}

  def __call__(self, **values) -> None:
    self.result.update(values)
    tmp = self.path + '.tmp'
    with open(tmp, 'w') as f:
      json.dump(self.result, f, indent=2, sort_keys=True, default=str)
    os.replace(tmp, self.path)


def left(spec) -> float:
  """Seconds until the part's deadline."""
  return spec['deadline'] - time.time()


def _versions(names) -> dict[str, str]:
  from importlib import metadata  # pylint: disable=g-import-not-at-top

  out = {}
  for name in names:
    try:
      out[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
      out[name] = None
  return out


# ---------------------------------------------------------------------------
def part_env(spec, emit: Emitter) -> None:
  import platform  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top

  emit(
    python=sys.version.split()[0],
    platform=platform.platform(),
    versions=_versions(
      [
        'jax',
        'jaxlib',
        'jax-cuda13-plugin',
        'jax-cuda12-plugin',
        'flax',
        'optax',
        'orbax-checkpoint',
        'chex',
        'clu',
        'wrapt',
        'ml-collections',
        'numpy',
        'torch',
        'torchvision',
        'timm',
        'tensorboard',
        'tensorflow',
        'tensorflow-datasets',
      ]
    ),
    cpu_count=os.cpu_count(),
    xla_flags=os.environ.get('XLA_FLAGS', ''),
  )
  try:
    smi = subprocess.run(
      [
        'nvidia-smi',
        '--query-gpu=name,memory.total,driver_version,'
        'clocks.max.sm,power.limit',
        '--format=csv,noheader',
      ],
      capture_output=True,
      text=True,
      timeout=30,
      check=False,
    )
    emit(nvidia_smi=smi.stdout.strip() or smi.stderr.strip())
  except (OSError, subprocess.TimeoutExpired) as e:
    emit(nvidia_smi=f'not available: {e}')
  import jax  # pylint: disable=g-import-not-at-top

  devices = jax.devices()
  emit(
    jax_backend=jax.default_backend(),
    jax_devices=[f'{d.platform}:{d.device_kind}' for d in devices],
  )


# ---------------------------------------------------------------------------
def _resnet50_config(spec, batch: int):
  from experiments.benchmarks import peer_config  # pylint: disable=g-import-not-at-top

  return peer_config.jax_config(
    spec['model'],
    batch,
    spec['dtype'],
    num_classes=spec['num_classes'],
    input_shape=tuple(spec['input_shape']),
  )


def part_resnet50_ours(spec, emit: Emitter) -> None:
  from cnn_jax import benchmark  # pylint: disable=g-import-not-at-top

  results, skipped = {}, []
  cost = None
  for i, batch in enumerate(spec['batches']):
    if cost is not None and left(spec) < 1.2 * cost:
      skipped.append(batch)
      emit(batches=results, skipped=skipped)
      continue
    t = time.time()
    config = _resnet50_config(spec, batch)
    modes = ('train', 'eval') if i == 0 else ('train',)
    trace = None
    if i == 0 and spec.get('profile_to'):
      trace = tempfile.mkdtemp(prefix='resnet50_trace_')
    results[str(batch)] = benchmark.run_step_benchmarks(
      config,
      modes=modes,
      steps=spec['steps'],
      warmup=spec['warmup'],
      profile_dir=trace,
    )
    results[str(batch)]['wall_s'] = time.time() - t
    if trace:  # one file, since the device tool brings back few
      shutil.make_archive(spec['profile_to'][: -len('.zip')], 'zip', trace)
      results[str(batch)]['profile'] = os.path.basename(spec['profile_to'])
    cost = time.time() - t if cost is None else max(cost, time.time() - t)
    emit(batches=results, skipped=skipped)


def part_resnet50_torch(spec, emit: Emitter) -> None:
  import torch  # pylint: disable=g-import-not-at-top
  from experiments.benchmarks import torch_models  # pylint: disable=g-import-not-at-top
  from experiments.benchmarks.torch_peer import TorchStep  # pylint: disable=g-import-not-at-top
  from cnn_jax import benchmark  # pylint: disable=g-import-not-at-top  (no JAX import)

  cuda = torch.cuda.is_available()
  shape = tuple(spec['input_shape'])
  emit(
    torch=torch.__version__,
    cuda=cuda,
    device=torch.cuda.get_device_name(0) if cuda else 'cpu',
    compile_mode=spec['compile'],
  )
  results, skipped, cost = {}, [], None
  first = None
  for batch in spec['batches']:
    if cost is not None and left(spec) < 1.2 * cost:
      skipped.append(batch)
      emit(batches=results, skipped=skipped)
      continue
    t = time.time()
    if cuda:
      torch.cuda.empty_cache()
      torch.cuda.reset_peak_memory_stats()
    step = TorchStep(
      spec['model'],
      batch,
      shape,
      spec['num_classes'],
      spec['dtype'],
      spec['compile'],
    )
    timing = benchmark.time_steps(step, spec['steps'], spec['warmup'], batch)
    results[str(batch)] = {
      'batch_size': batch,
      'step_ms_median': 1e3 * timing.median_s,
      'step_ms_min': 1e3 * min(timing.times),
      'images_per_s': timing.images_per_s,
      'steps': spec['steps'],
      'compiled': step.compiled,
      'compile_error': step.compile_error,
      'compile_s': getattr(step, 'compile_s', None),
      'params': step.num_params,
      'peak_memory_bytes': (
        torch.cuda.max_memory_allocated() if cuda else None
      ),
      'wall_s': time.time() - t,
    }
    cost = time.time() - t if cost is None else max(cost, time.time() - t)
    emit(batches=results, skipped=skipped)
    if first is None:
      first = step
    else:
      del step
  if first is not None and spec.get('eval') and left(spec) > (cost or 0):
    emit(eval=_torch_eval(torch, first, spec, torch_models))


def _torch_eval(torch, step, spec, torch_models):
  """PyTorch's inference step on the same batch: compiled, bf16 autocast."""
  del torch_models
  net, x = step.net, step.x
  net.eval()
  device = step.device.type

  def forward():
    with (
      torch.inference_mode(),
      torch.autocast(device, dtype=torch.bfloat16, enabled=step.autocast),
    ):
      return net(x)

  fn, compiled, error = forward, False, None
  t = time.time()
  if spec['compile'] != 'off':
    try:
      fn = torch.compile(forward)
      fn()
      compiled = True
    except Exception as e:  # pylint: disable=broad-except
      fn, error = forward, f'{type(e).__name__}: {str(e)[:200]}'
  compile_s = time.time() - t

  def once():
    fn()
    if device == 'cuda':
      torch.cuda.synchronize()

  from cnn_jax import benchmark  # pylint: disable=g-import-not-at-top

  batch = x.shape[0]
  timing = benchmark.time_steps(once, spec['steps'], spec['warmup'], batch)
  return {
    'batch_size': batch,
    'step_ms_median': 1e3 * timing.median_s,
    'images_per_s': timing.images_per_s,
    'compiled': compiled,
    'compile_error': error,
    'compile_s': compile_s,
  }


# ---------------------------------------------------------------------------
def _enable_compilation_cache(directory: str) -> None:
  """The probe's and the run's identical programs (eval) compile once."""
  import jax  # pylint: disable=g-import-not-at-top

  try:
    jax.config.update('jax_compilation_cache_dir', directory)
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  except Exception:  # pylint: disable=broad-except  (an option renamed)
    pass


def seed_model_config(spec, workdir_root: str):
  """The model's CIFAR-10 recipe on Fashion-MNIST, on-device input."""
  c = config_file.load(spec['config'], ROOT)
  c.dataset = 'fashion_mnist'
  c.crop_padding = 2  # 28x28 images: 2 pixels, as experiments/sweeps/uvadl_*.
  c.input_pipeline = 'device'
  c.manual_dir = spec['data_dir']
  c.data_dir = os.path.join(workdir_root, 'tfds')  # empty: no TFDS copy
  c.cpu_tuning = 'none'
  c.checkpoint_every_steps = 1 << 30  # evaluations save anyway
  c.keep_checkpoints = 1
  if spec.get('model'):  # the dry run's stand-in
    c.model = spec['model']
  for k, v in spec.get('overrides', {}).items():
    setattr(c, k, tuple(v) if isinstance(v, list) else v)
  return c


def size_budget(
  *,
  seconds: float,
  steps_per_epoch: int,
  step_s: float,
  eval_s: float,
  recipe_epochs: float,
  evals: int = 6,
  fixed_s: float = 0.0,
) -> dict[str, Any]:
  """The largest training that fits in ``seconds``.

  The recipe's full epoch count if it fits, else the most whole epochs that
  do, else the most steps (at least 10). ``evals`` validation passes spread
  over the run plus a final validation + test pass (3 passes of
  ``eval_s``, which is one validation pass) and ``fixed_s`` (compilation,
  start-up) are counted in.
  """
  usable = seconds - fixed_s - 3 * eval_s
  epoch_s = steps_per_epoch * step_s
  per_epoch = epoch_s
  epochs = recipe_epochs
  if epochs * per_epoch + evals * eval_s > usable:
    epochs = math.floor((usable - evals * eval_s) / per_epoch)
  if epochs >= 1:
    return {
      'num_epochs': float(epochs),
      'num_train_steps': None,
      'fits_recipe': epochs >= recipe_epochs,
      'eval_every_epochs': max(1.0, math.ceil(epochs / evals)),
      'predicted_s': fixed_s
      + 3 * eval_s
      + epochs * per_epoch
      + min(evals, epochs) * eval_s,
    }
  steps = max(10, int((usable - eval_s) / step_s))
  return {
    'num_epochs': steps / steps_per_epoch,
    'num_train_steps': steps,
    'fits_recipe': False,
    'eval_every_epochs': 1e6,
    'predicted_s': fixed_s + 3 * eval_s + steps * step_s,
  }


def _timed(fn: Callable[[], Any], n: int) -> float:
  import jax  # pylint: disable=g-import-not-at-top

  t = time.perf_counter()
  out = None
  for _ in range(n):
    out = fn()
  jax.block_until_ready(out)
  return (time.perf_counter() - t) / n


# The curves a training part brings back ((step, value) pairs, one point per
# logging window or evaluation: a few hundred numbers).
CURVE_TAGS = ('train_loss', 'train_accuracy', 'validation_accuracy')


def part_seed_model(spec, emit: Emitter) -> None:
  start = time.time()
  root = tempfile.mkdtemp(prefix='campaign_seed_')
  _enable_compilation_cache(os.path.join(root, 'xla_cache'))
  import jax  # pylint: disable=g-import-not-at-top
  from cnn_jax.analysis import scalars  # pylint: disable=g-import-not-at-top
  from cnn_jax.training import sharding, trainer  # pylint: disable=g-import-not-at-top

  config = seed_model_config(spec, root)
  emit(
    model=config.model,
    config=spec['config'],
    recipe_epochs=config.num_epochs,
    batch_size=config.batch_size,
    optimizer=config.optimizer,
    learning_rate=config.learning_rate,
  )

  # 1. A short measured run: the trainer's own Run, real batches.
  probe = seed_model_config(spec, root)
  probe.num_train_steps = 10**6  # never reached; the schedule's length only
  t = time.time()
  run, state = trainer.setup(probe, os.path.join(root, 'probe'))
  batches = run.input.train_batches(0)
  for _ in range(spec['warmup']):
    state, metrics = run.train_fn(state, next(batches))
  jax.block_until_ready(metrics)
  first_s = time.time() - t
  n = spec['probe_steps']

  def real_step():
    nonlocal state
    state, m = run.train_fn(state, next(batches))
    return m

  step_s = _timed(real_step, n)
  fixed = next(batches)

  def fixed_step():
    nonlocal state
    state, m = run.train_fn(state, fixed)
    return m

  fixed_s = _timed(fixed_step, n)
  transform = jax.jit(run.input.batch_transform)
  key = jax.random.key(0)
  feed_step = [0]

  def feed():
    feed_step[0] += 1
    b = run.input.train_batch(feed_step[0])
    return transform(b['image'], b['label'], key)

  feed()
  feed_s = _timed(feed, n)
  t = time.time()
  trainer.evaluate(run, state, 'validation')
  eval_first_s = time.time() - t
  t = time.time()
  trainer.evaluate(run, state, 'validation')
  eval_s = time.time() - t
  run.checkpointer.close()
  run.writer.close()
  batch = config.batch_size
  probe_result = {
    'setup_and_compile_s': first_s,
    'step_ms_with_input': 1e3 * step_s,
    'step_ms_fixed_batch': 1e3 * fixed_s,
    'train_images_per_s_with_input': batch / step_s,
    'train_images_per_s_fixed_batch': batch / fixed_s,
    'feed_images_per_s': batch / feed_s,
    'input_bound': feed_s > 0.5 * fixed_s,
    'eval_s_validation': eval_s,
    'eval_first_s': eval_first_s,
    'steps_per_epoch': run.steps_per_epoch,
    'steps_timed': n,
  }
  emit(probe=probe_result)

  # 2. The largest budget that fits, then the run.
  # 8% + 5 s of the time left stay in reserve for what the probe misses
  # (checkpoint writes, start-up); the part is stopped at its deadline.
  deadline_left = 0.92 * left(spec) - spec.get('reserve_s', 5.0)
  budget = size_budget(
    seconds=deadline_left,
    steps_per_epoch=run.steps_per_epoch,
    step_s=step_s * 1.05,
    eval_s=eval_s,
    recipe_epochs=min(config.num_epochs, spec.get('max_epochs') or 1e9),
    fixed_s=0.7 * first_s + eval_first_s,
  )
  scale = budget['num_epochs'] / config.num_epochs
  config.num_epochs = budget['num_epochs']
  config.num_train_steps = budget['num_train_steps']
  config.eval_every_epochs = budget['eval_every_epochs']
  config.lr_boundaries = tuple(b * scale for b in config.lr_boundaries)
  config.log_every_steps = max(1, run.steps_per_epoch // 2)
  emit(
    budget={
      **budget,
      'lr_boundaries': list(config.lr_boundaries),
      'dtype': config.dtype,
      'seconds_available': deadline_left,
    }
  )
  workdir = os.path.join(root, 'run')
  t = time.time()
  result = trainer.train_and_evaluate(config, workdir)
  wall = time.time() - t
  rates = [
    v for _, v in scalars.read_scalars(workdir).get('train_images_per_sec', [])
  ]
  emit(
    result=result,
    wall_s=wall,
    total_part_s=time.time() - start,
    train_images_per_s_median=(
      statistics.median(rates[1:] or rates) if rates else None
    ),
    devices=int(sharding.make_mesh().devices.size),
    curves={
      tag: points
      for tag, points in scalars.read_scalars(workdir).items()
      if tag in CURVE_TAGS
    },
  )


# ---------------------------------------------------------------------------
def part_xla_flag(spec, emit: Emitter) -> None:
  from cnn_jax import benchmark  # pylint: disable=g-import-not-at-top

  emit(xla_flags=os.environ.get('XLA_FLAGS', ''))
  config = _resnet50_config(spec, spec['batches'][0])
  r = benchmark.run_step_benchmarks(
    config, modes=('train',), steps=spec['steps'], warmup=spec['warmup']
  )
  emit(train=r['train'], device_kind=r['device_kind'])


PARTS = {
  'env': part_env,
  'resnet50_ours': part_resnet50_ours,
  'resnet50_torch': part_resnet50_torch,
  'seed_model': part_seed_model,
  'xla_flag': part_xla_flag,
}


def main(argv) -> int:
  name, spec_json, out = argv[1:4]
  spec = json.loads(spec_json)
  emit = Emitter(out)
  emit(part=name, started=time.strftime('%Y-%m-%d %H:%M:%S %Z'))
  PARTS[name](spec, emit)
  emit(finished=True)
  return 0


if __name__ == '__main__':
  sys.path.insert(0, ROOT)
  sys.exit(main(sys.argv))
