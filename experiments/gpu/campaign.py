r"""The GPU campaign: every GPU figure this project claims, in one command.

On the GPU machine (see README.md beside this file)::

  bash experiments/gpu/run.sh --out=$OUT            # the campaign
  bash experiments/gpu/run.sh --out=$OUT --parts=xla_flags   # second run

Anywhere, at toy size on the CPU (what CI runs; see tests/test_gpu_campaign.py)::

  python -m experiments.gpu.campaign --dry_run --out=/tmp/campaign

What it measures, in this order, within ``--budget_s`` of wall time (480 s):

1. ``env``: the GPU, driver and package versions.
2. ``resnet50_ours``: our ResNet-50 train step, bf16, synthetic data, batch
   256, then 128 and 512 while its share of time lasts; the eval step at 256.
   Images/s, MFU (XLA's FLOP count over the GPU's bf16 peak), compile time,
   device peak memory and the compiled program's memory.
3. ``resnet50_torch``: PyTorch's train step for the same model and batches
   (``experiments.benchmarks.torch_peer``: channels_last, bf16 autocast,
   torch.compile, cudnn.benchmark), then its eval step.
4. ``seed_models``: the four models of the CIFAR tutorial table
   (:data:`SEED_MODELS`) on Fashion-MNIST, on-device input, each with its
   recipe's full epoch budget if it fits in its share of the time, else the
   largest that fits, sized from a short measured run first.

``--parts=resnet_vs_plain`` (a second run): the CIFAR tutorial's 2-5-5-2
ResNet against the same net without shortcuts (:data:`RESNET_VS_PLAIN`,
15.6M parameters: tens of hours on the 2-core CPU) on Fashion-MNIST for 15
epochs each, same recipe, training and validation curves brought back.

``--parts=xla_flags`` (another run): our ResNet-50 step at batch 256, once
with XLA's defaults (at the start and again at the end, for the noise), and
once under each flag of :data:`XLA_FLAG_CANDIDATES`, each in a fresh process.

Each part runs in its own process with a time limit, so that a crash, an
out-of-memory error or a hang costs that part only. After every part,
``OUT/campaign.json`` (all figures, the command, versions, commit, timings),
``OUT/campaign.log`` (every process's output) and ``OUT/summary.md`` (the
tables for BENCHMARKS.md) are rewritten: three files, as the device tool
brings back at most eight.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Optional

from cnn_jax.analysis import provenance

ROOT = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
# What fetch.sh filled (run.sh exports CARRY where it is not the default).
CARRY = os.path.join(ROOT, os.environ.get('CARRY', 'experiments/gpu/carry'))

# The CIFAR tutorial table (UvA DL course tutorial 5):
# label -> (registry name, config with its CIFAR-10 recipe). The only place
# the campaign names them.
SEED_MODELS = {
  'GoogleNet': ('googlenet_uvadl', 'configs/uvadl_cifar10.py:googlenet'),
  'ResNet': ('resnet_uvadl', 'configs/uvadl_cifar10.py:resnet'),
  'PreAct ResNet': (
    'preact_resnet_uvadl',
    'configs/uvadl_cifar10.py:preact_resnet',
  ),
  'DenseNet': ('densenet_uvadl', 'configs/uvadl_cifar10.py:densenet'),
}

# ResNet vs PlainNet 2-5-5-2 (experiments/sweeps/resnet_vs_plainnet_2552.py):
# label -> model, trained with the ResNet CIFAR recipe on Fashion-MNIST for
# RESNET_VS_PLAIN_EPOCHS, the lr drops at 50% and 75% of them, in
# RESNET_VS_PLAIN_DTYPE as the CPU sweep.
RESNET_VS_PLAIN = {
  'ResNet-2552': 'resnet30_keras',
  'PlainNet-2552': 'plain30_keras',
}
RESNET_VS_PLAIN_CONFIG = 'configs/resnet20_fashion_mnist.py'
RESNET_VS_PLAIN_EPOCHS = 15
RESNET_VS_PLAIN_DTYPE = 'bfloat16'

# The ResNet-50 part's targets (BENCHMARKS.md, "GPU targets"): the per-GPU
# rate of MLPerf Training v4.0's best ResNet-50 (closed division, NVIDIA,
# 8 GPUs, MXNet + DALI + CUDA graphs, end to end), by device kind, and a
# margin over PyTorch (torch.compile, channels_last, bf16 autocast).
RESNET50_TARGET_IMAGES_PER_S = {'h200': 8000, 'h100': 7100}
RESNET50_TARGET_VS_TORCH = 1.2

# XLA:GPU flags worth trying on a convnet train step, one at a time.
XLA_FLAG_CANDIDATES = [
  '--xla_gpu_enable_latency_hiding_scheduler=true',
  '--xla_gpu_enable_triton_gemm=false',
  '--xla_gpu_enable_command_buffer=',
  '--xla_gpu_use_runtime_fusion=true',
  '--xla_gpu_cudnn_gemm_fusion_level=2',
  '--xla_gpu_enable_cublaslt=true',
  '--xla_gpu_exhaustive_tiling_search=true',
  '--xla_gpu_autotune_level=0',  # compile time vs speed
]

# Part sizes: the real campaign, and the CPU dry run. The dry run runs every
# part and every step of the campaign's code, with LeNet-5 standing in for
# ResNet-50 and for the four seed models (whose train steps take minutes to
# compile on a 2-core CPU; tests/models/ build and train them).
FULL = {
  'resnet50': dict(
    model='resnet50',
    dtype='bfloat16',
    num_classes=1000,
    input_shape=[224, 224, 3],
    batches=[256, 128, 512],
    steps=30,
    warmup=5,
  ),
  'torch': dict(compile='auto', eval=True),
  'seed': dict(warmup=3, probe_steps=50, overrides={}),
  'shares_s': {'env': 30, 'resnet50_ours': 120, 'resnet50_torch': 130},
  'xla_flags': XLA_FLAG_CANDIDATES,
  'xla_run_s': 90,
}
DRY = {
  'resnet50': dict(
    model='lenet5',
    dtype='bfloat16',
    num_classes=10,
    input_shape=[28, 28, 1],
    batches=[4, 2, 8],
    steps=2,
    warmup=1,
  ),
  'torch': dict(compile='off', eval=True),
  'seed': dict(
    model='lenet5',
    warmup=1,
    probe_steps=2,
    max_epochs=1,
    overrides=dict(batch_size=32, eval_batch_size=100, validation_examples=100),
  ),
  'shares_s': {'env': 120, 'resnet50_ours': 600, 'resnet50_torch': 300},
  'xla_flags': [
    '--xla_gpu_enable_latency_hiding_scheduler=true',
    '--xla_no_such_flag_here=1',
  ],
  'xla_run_s': 300,
}


GRACE_S = 10  # between SIGTERM and SIGKILL for a part past its limit
# The jax.profiler trace of the first batch's train step (TensorBoard's
# profile plugin, or the .perfetto-trace.json.gz in ui.perfetto.dev).
PROFILE_FILE = 'profile_resnet50.zip'
TAIL_LINES = 25  # of a failed part's output, in campaign.json and summary.md
# A candidate flag XLA does not know is a result of the flags run, not a
# failed part: XLA aborts its process with this message.
REJECTED = 'rejected: XLA does not know this flag'


def _rejected_flag(output: str) -> bool:
  return 'Unknown flag' in output or 'Unknown flags in XLA_FLAGS' in output


def _succeeded(status: str) -> bool:
  return status == 'ok' or status == REJECTED or status.startswith('skipped')


class Campaign:
  """Runs parts in processes of their own and keeps the record."""

  def __init__(self, out: str, budget_s: float, dry_run: bool, data_dir: str):
    self.out = out
    self.start = time.time()
    self.deadline = self.start + budget_s
    self.dry_run = dry_run
    self.sizes = DRY if dry_run else FULL
    self.data_dir = data_dir
    os.makedirs(out, exist_ok=True)
    self.log_path = os.path.join(out, 'campaign.log')
    self.record: dict[str, Any] = {
      'command': sys.argv,
      'dry_run': dry_run,
      'budget_s': budget_s,
      'started': time.strftime('%Y-%m-%d %H:%M:%S %Z'),
      'commit': commit(),
      'data_dir': data_dir,
      'parts': {},
    }
    self.scratch = tempfile.mkdtemp(prefix='campaign_')
    self.running: Optional[subprocess.Popen] = None
    with open(self.log_path, 'w') as f:  # a fresh log per run
      f.write(f'campaign {sys.argv} at {self.record["started"]}\n')
    signal.signal(signal.SIGTERM, self._stop)

  def _stop(self, signum, frame):
    """SIGTERM: end the running part (its own process group) and exit."""
    del frame
    if self.running is not None and self.running.poll() is None:
      os.killpg(self.running.pid, signal.SIGKILL)
    raise SystemExit(128 + signum)

  def left(self) -> float:
    return self.deadline - time.time()

  def run_part(
    self,
    key: str,
    name: str,
    spec: dict,
    seconds: float,
    env: Optional[dict] = None,
  ) -> dict:
    """Runs part ``name`` for at most ``seconds``; records it as ``key``.

    At the limit the part gets SIGTERM (a training run then saves and
    reports what it has) and, ``GRACE_S`` later, SIGKILL.
    """
    seconds = min(seconds, self.left() - GRACE_S - 3)
    entry: dict[str, Any] = {'part': name, 'spec': spec}
    if seconds < 5:
      entry['status'] = 'skipped: no time left'
      self._keep(key, entry)
      return entry
    out_json = os.path.join(self.scratch, f'{len(self.record["parts"])}.json')
    spec = {
      **spec,
      'deadline': time.time() + seconds - 2,
      'dry_run': self.dry_run,
    }
    cmd = [
      sys.executable,
      '-m',
      'experiments.gpu.parts',
      name,
      json.dumps(spec),
      out_json,
    ]
    t = time.time()
    with open(self.log_path, 'a') as log:
      log.write(f'\n===== {key}: {name} (limit {seconds:.0f} s) =====\n')
      log.flush()
      start = log.tell()
      proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
      )
      self.running = proc
      try:
        rc = proc.wait(timeout=seconds)
        entry['status'] = 'ok' if rc == 0 else f'failed (exit {rc})'
      except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # the part and its children
        try:
          proc.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
          os.killpg(proc.pid, signal.SIGKILL)
          proc.wait()
        entry['status'] = f'stopped at its {seconds:.0f} s limit'
      finally:
        self.running = None
    entry['wall_s'] = time.time() - t
    if entry['status'] != 'ok':
      entry['tail'] = self._output_since(start)
      if name == 'xla_flag' and _rejected_flag(entry['tail']):
        entry['status'] = REJECTED
    if os.path.exists(out_json):
      with open(out_json) as f:
        entry['result'] = json.load(f)
    self._keep(key, entry)
    print(
      f'[campaign] {key}: {entry["status"]} in {entry["wall_s"]:.0f} s '
      f'({self.left():.0f} s left)',
      flush=True,
    )
    return entry

  def _output_since(self, offset: int, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines a part wrote to the log after ``offset``."""
    with open(self.log_path, errors='replace') as f:
      f.seek(offset)
      return '\n'.join(f.read().rstrip().splitlines()[-lines:])

  def failed(self) -> dict[str, dict]:
    """The parts that failed or were stopped at their time limit."""
    return {
      key: e
      for key, e in self.record['parts'].items()
      if not _succeeded(e['status'])
    }

  def _keep(self, key: str, entry: dict) -> None:
    self.record['parts'][key] = entry
    self.record['elapsed_s'] = time.time() - self.start
    tmp = os.path.join(self.out, 'campaign.json.tmp')
    with open(tmp, 'w') as f:
      json.dump(self.record, f, indent=2, sort_keys=True, default=str)
    os.replace(tmp, os.path.join(self.out, 'campaign.json'))
    with open(os.path.join(self.out, 'summary.md'), 'w') as f:
      f.write(summary(self.record))

  # --- The parts. ----------------------------------------------------------
  def env(self):
    self.run_part('env', 'env', {}, self.sizes['shares_s']['env'])

  def resnet50(self):
    shares = self.sizes['shares_s']
    self.run_part(
      'resnet50_ours',
      'resnet50_ours',
      {
        **self.sizes['resnet50'],
        'profile_to': os.path.join(self.out, PROFILE_FILE),
      },
      shares['resnet50_ours'],
    )
    self.run_part(
      'resnet50_torch',
      'resnet50_torch',
      {**self.sizes['resnet50'], **self.sizes['torch']},
      shares['resnet50_torch'],
    )

  def seed_models(self):
    names = list(SEED_MODELS)
    for i, label in enumerate(names):
      share = (self.left() - 5) / (len(names) - i)
      _, config = SEED_MODELS[label]
      self.run_part(
        f'seed:{label}',
        'seed_model',
        {**self.sizes['seed'], 'config': config, 'data_dir': self.data_dir},
        share,
      )

  def resnet_vs_plain(self):
    names = list(RESNET_VS_PLAIN)
    epochs = RESNET_VS_PLAIN_EPOCHS
    for i, label in enumerate(names):
      share = (self.left() - 5) / (len(names) - i)
      seed = self.sizes['seed']
      spec = {
        'model': RESNET_VS_PLAIN[label],  # the dry run's stand-in wins
        **seed,
        'config': RESNET_VS_PLAIN_CONFIG,
        'data_dir': self.data_dir,
        'overrides': {
          **seed['overrides'],
          'num_epochs': float(epochs),
          'lr_boundaries': [epochs * 0.5, epochs * 0.75],
          'dtype': RESNET_VS_PLAIN_DTYPE,
        },
      }
      self.run_part(f'plain:{label}', 'seed_model', spec, share)

  def xla_flags(self):
    """Baseline, each candidate flag, baseline again; one process each."""
    spec = {
      **self.sizes['resnet50'],
      'batches': self.sizes['resnet50']['batches'][:1],
    }
    limit = self.sizes['xla_run_s']
    base = os.environ.get('XLA_FLAGS', '')
    self.run_part(
      'xla:baseline', 'xla_flag', spec, limit, env={'XLA_FLAGS': base}
    )
    for flag in self.sizes['xla_flags']:
      if self.left() < 2 * min(limit, 90):  # keep time for the end baseline
        self._keep(
          f'xla:{flag}', {'part': 'xla_flag', 'status': 'skipped: no time left'}
        )
        continue
      self.run_part(
        f'xla:{flag}',
        'xla_flag',
        spec,
        limit,
        env={'XLA_FLAGS': f'{base} {flag}'.strip()},
      )
    self.run_part(
      'xla:baseline_end', 'xla_flag', spec, limit, env={'XLA_FLAGS': base}
    )


def write_toy_idx_files(
  directory: str, n_train: int = 700, n_test: int = 150
) -> str:
  """Random 28x28 images in the Fashion-MNIST file format (for dry runs)."""
  import gzip  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(0)
  for prefix, n in (('train', n_train), ('t10k', n_test)):
    labels = rng.integers(0, 10, n).astype(np.uint8)
    # Learnable: each class a brightness level, plus noise.
    images = np.clip(
      labels[:, None, None] * 20.0 + rng.normal(40, 30, (n, 28, 28)), 0, 255
    ).astype(np.uint8)
    with gzip.open(
      os.path.join(directory, f'{prefix}-images-idx3-ubyte.gz'), 'wb'
    ) as f:
      f.write(np.array([2051, n, 28, 28], '>i4').tobytes() + images.tobytes())
    with gzip.open(
      os.path.join(directory, f'{prefix}-labels-idx1-ubyte.gz'), 'wb'
    ) as f:
      f.write(np.array([2049, n], '>i4').tobytes() + labels.tobytes())
  return directory


def commit() -> str:
  """The commit of the code: git's, else what fetch.sh recorded in carry/."""
  head = provenance.git_commit()
  path = os.path.join(CARRY, 'commit.txt')
  if head == 'unknown' and os.path.exists(path):
    with open(path) as f:
      return f.read().strip() + ' (carry/commit.txt)'
  return head


# ---------------------------------------------------------------------------
def _get(d, *keys, default=None):
  for k in keys:
    if not isinstance(d, dict) or k not in d:
      return default
    d = d[k]
  return d


def _f(v, fmt='{:,.0f}'):
  return 'n/a' if v is None else fmt.format(v)


def _training_table(title: str, entries: dict) -> list[str]:
  """One row per training part (``seed_model``): budget, accuracy, speed."""
  if not entries:
    return []
  lines = [
    f'## {title}',
    '',
    '| model | epochs run / recipe | test acc | val acc | train '
    'img/s (run) | step img/s, real input | step img/s, fixed batch '
    '| input feed img/s | wall s | status |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ]
  for label, e in entries.items():
    r = e.get('result') or {}
    p = r.get('probe') or {}
    res = r.get('result') or {}
    b = r.get('budget') or {}
    lines.append(
      f'| {label} (`{r.get("model", "?")}`) | '
      f'{_f(b.get("num_epochs"), "{:.2f}")} / '
      f'{_f(r.get("recipe_epochs"), "{:.0f}")} | '
      f'{_f(_get(res, "test", "accuracy") and 100 * res["test"]["accuracy"], "{:.2f}%")} | '
      f'{_f(_get(res, "validation", "accuracy") and 100 * res["validation"]["accuracy"], "{:.2f}%")} | '
      f'{_f(r.get("train_images_per_s_median"))} | '
      f'{_f(p.get("train_images_per_s_with_input"))} | '
      f'{_f(p.get("train_images_per_s_fixed_batch"))} | '
      f'{_f(p.get("feed_images_per_s"))} | '
      f'{_f(r.get("wall_s"), "{:.0f}")} | {e.get("status")} |'
    )
  lines.append('')
  return lines


def verdict(device: str, ours: dict, theirs: dict) -> str:
  """One sentence: the best train rate against this device's targets."""
  rates = {
    b: r['train']['images_per_s']
    for b, r in ours.items()
    if _get(r, 'train', 'images_per_s')
  }
  if not rates:
    return 'No train step measured.'
  best = max(rates, key=rates.get)
  target = next(
    (v for k, v in RESNET50_TARGET_IMAGES_PER_S.items() if k in device.lower()),
    None,
  )
  torch = _get(theirs, best, 'images_per_s')
  ratio = rates[best] / torch if torch else None
  met = lambda ok: 'met' if ok else 'MISSED'  # noqa: E731
  return (
    f'Best: {rates[best]:,.0f} img/s at batch {best}; target '
    + (
      f'>= {target:,} img/s on this GPU: {met(rates[best] >= target)}'
      if target
      else f'(none for {device})'
    )
    + f'; >= {RESNET50_TARGET_VS_TORCH}x PyTorch: '
    + (
      f'{ratio:.2f}x, {met(ratio >= RESNET50_TARGET_VS_TORCH)}'
      if ratio
      else 'n/a'
    )
    + '.'
  )


def summary(record: dict) -> str:
  """The campaign's tables in Markdown (what BENCHMARKS.md quotes)."""
  parts = record['parts']
  env = _get(parts, 'env', 'result') or {}
  versions = env.get('versions') or {}
  lines = [
    '# GPU campaign'
    + (' (DRY RUN: toy sizes on CPU)' if record['dry_run'] else ''),
    '',
  ]
  failed = {k: e for k, e in parts.items() if not _succeeded(e['status'])}
  if failed:
    lines += [
      f'**{len(failed)} of {len(parts)} parts failed**: '
      + ', '.join(f'`{k}` ({e["status"]})' for k, e in failed.items()),
      '',
    ]
    for key, e in failed.items():
      lines += [
        f'### `{key}`: the last lines of its output',
        '',
        '```',
        e.get('tail') or '(no output)',
        '```',
        '',
      ]
  device = (env.get('jax_devices') or ['?'])[0]
  lines += [
    f'- started {record["started"]}, {record.get("elapsed_s", 0):.0f} s '
    f'of a {record["budget_s"]:.0f} s budget; commit `{record["commit"]}`',
    f'- GPU: {env.get("nvidia_smi", "n/a")}; JAX devices: '
    f'{env.get("jax_devices", "n/a")}',
    '- versions: ' + ', '.join(f'{k} {v}' for k, v in versions.items() if v),
    f'- command: `{" ".join(record["command"])}`',
    '',
  ]
  ours = _get(parts, 'resnet50_ours', 'result', 'batches') or {}
  theirs = _get(parts, 'resnet50_torch', 'result', 'batches') or {}
  if ours or theirs or 'resnet50_ours' in parts:
    spec = _get(parts, 'resnet50_ours', 'spec') or {}
    peak = next(
      (
        b['peak_flops_per_device']
        for b in ours.values()
        if b.get('peak_flops_per_device')
      ),
      None,
    )
    lines += [
      f'## {spec.get("model", "?")} train step on {device}, '
      f'{spec.get("dtype", "?")}, synthetic '
      f'{spec.get("input_shape", "?")} images',
      '',
      f"MFU against {device}'s peak, "
      f'{_f(peak and peak / 1e12, "{:,.0f}")} TFLOP/s dense. '
      + verdict(device, ours, theirs),
      '',
      '| batch | ours img/s | ours MFU | ours compile s | ours peak '
      'MiB (device) | ours program MiB | PyTorch img/s | PyTorch peak '
      'MiB | ours / PyTorch speed |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ]
    for batch in sorted({*ours, *theirs}, key=int):
      o = _get(ours, batch, 'train') or {}
      t = theirs.get(batch) or {}
      mem = _get(ours, batch, 'peak_memory_bytes')
      speed = (
        o['images_per_s'] / t['images_per_s']
        if o.get('images_per_s') and t.get('images_per_s')
        else None
      )
      lines.append(
        f'| {batch} | {_f(o.get("images_per_s"))} | '
        f'{_f(o.get("mfu") and 100 * o["mfu"], "{:.1f}%")} | '
        f'{_f(o.get("compile_s"), "{:.1f}")} | '
        f'{_f(mem and mem / 2**20)} | '
        f'{_f(o.get("program_memory_bytes") and o["program_memory_bytes"] / 2**20)} | '
        f'{_f(t.get("images_per_s"))} | '
        f'{_f(t.get("peak_memory_bytes") and t["peak_memory_bytes"] / 2**20)} | '
        f'{_f(speed, "{:.2f}x")} |'
      )
    ev = next((b['eval'] for b in ours.values() if b.get('eval')), {})
    tev = _get(parts, 'resnet50_torch', 'result', 'eval') or {}
    lines += [
      '',
      f"Profile of the first batch's train step: `{PROFILE_FILE}`"
      + ('' if any(b.get('profile') for b in ours.values()) else ' (none)')
      + '.',
      '',
      f'Eval step (batch {ev.get("batch_size", "n/a")}): ours '
      f'{_f(ev.get("images_per_s"))} img/s (MFU '
      f'{_f(ev.get("mfu") and 100 * ev["mfu"], "{:.1f}%")}), PyTorch '
      f'{_f(tev.get("images_per_s"))} img/s. Statuses: ours '
      f'{_get(parts, "resnet50_ours", "status")}, PyTorch '
      f'{_get(parts, "resnet50_torch", "status")}; skipped batches: '
      f'ours {_get(parts, "resnet50_ours", "result", "skipped")}, '
      f'PyTorch {_get(parts, "resnet50_torch", "result", "skipped")}.',
      '',
    ]
  lines += _training_table(
    f'CIFAR tutorial models on Fashion-MNIST on {device}, on-device input',
    {
      label: parts[f'seed:{label}']
      for label in SEED_MODELS
      if f'seed:{label}' in parts
    },
  )
  lines += _training_table(
    f'ResNet vs PlainNet 2-5-5-2 on Fashion-MNIST on {device}, on-device input',
    {
      label: parts[f'plain:{label}']
      for label in RESNET_VS_PLAIN
      if f'plain:{label}' in parts
    },
  )
  flags = {
    k.split(':', 1)[1]: v for k, v in parts.items() if k.startswith('xla:')
  }
  if flags:
    base = [
      _get(flags.get(k, {}), 'result', 'train', 'images_per_s')
      for k in ('baseline', 'baseline_end')
    ]
    base = [b for b in base if b]
    ref = sum(base) / len(base) if base else None
    spec = next(iter(flags.values())).get('spec') or {}
    lines += [
      f'## XLA flags, one at a time ({spec.get("model", "?")} train '
      f'step on {device}, batch {(spec.get("batches") or ["?"])[0]})',
      '',
      f'Baseline runs: {[round(b) for b in base]} img/s.',
      '',
      '| XLA_FLAGS | img/s | vs baseline | compile s | status |',
      '|---|---:|---:|---:|---|',
    ]
    for key, e in flags.items():
      t = _get(e, 'result', 'train') or {}
      rel = (
        t['images_per_s'] / ref - 1 if ref and t.get('images_per_s') else None
      )
      lines.append(
        f'| `{key}` | {_f(t.get("images_per_s"))} | '
        f'{_f(rel and 100 * rel, "{:+.1f}%")} | '
        f'{_f(t.get("compile_s"), "{:.1f}")} | {e.get("status")} |'
      )
    lines.append('')
  return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument(
    '--out',
    default=os.environ.get('OUT')
    or os.path.join(ROOT, 'workdirs', 'gpu_campaign'),
  )
  parser.add_argument(
    '--parts',
    default='env,resnet50,seed_models',
    help='comma-separated: env, resnet50, seed_models, resnet_vs_plain, '
    'xla_flags',
  )
  parser.add_argument(
    '--budget_s',
    type=float,
    default=None,
    help='wall-time budget (default 480; dry run 1800)',
  )
  parser.add_argument(
    '--data_dir',
    default=None,
    help='folder with the Fashion-MNIST IDX files (default: '
    'experiments/gpu/carry/fashion_mnist; dry run: small '
    'random files in the IDX format)',
  )
  parser.add_argument(
    '--dry_run',
    action='store_true',
    help='every part at toy size (runs on a CPU)',
  )
  args = parser.parse_args(argv)
  budget = args.budget_s or (1800.0 if args.dry_run else 480.0)
  data_dir = args.data_dir
  if data_dir is None and args.dry_run:
    data_dir = write_toy_idx_files(tempfile.mkdtemp(prefix='campaign_idx_'))
  data_dir = data_dir or os.path.join(CARRY, 'fashion_mnist')
  if not os.path.isdir(data_dir):
    parser.error(
      f'{data_dir} is missing: run `bash experiments/gpu/fetch.sh` on a '
      'machine with PyPI and carry experiments/gpu/carry here (or give '
      '--data_dir, or --dry_run)'
    )
  campaign = Campaign(args.out, budget, args.dry_run, data_dir)
  chosen = args.parts.split(',')
  for part in chosen:
    if part not in (
      'env',
      'resnet50',
      'seed_models',
      'resnet_vs_plain',
      'xla_flags',
    ):
      parser.error(f'unknown part {part!r}')
  if 'env' not in chosen:  # every record says what it ran on
    chosen.insert(0, 'env')
  for part in chosen:
    getattr(campaign, part)()
  print(summary(campaign.record))
  failed = campaign.failed()
  print(
    f'[campaign] done in {time.time() - campaign.start:.0f} s; '
    f'{args.out}/campaign.json, campaign.log, summary.md'
    + (f'; FAILED: {", ".join(failed)}' if failed else '')
  )
  return 1 if failed else 0


if __name__ == '__main__':
  sys.exit(main())
