#!/usr/bin/env bash
# The converged Fashion-MNIST runs on a CPU that are still to make (15-epoch
# reproductions): the degradation sweep's depths 32 and 44 and the ResNet vs
# PlainNet 2-5-5-2 pair (bfloat16; about 1.7 h per net on a 2-core Xeon
# with AMX, 5.5 h in float32 on a 2-core AMD EPYC: one net per session on a
# new machine, the pair where the machine and its run directories are kept
# between sessions). Rerun the same command after an interruption or in a
# later session. The runner skips a run that has finished here or has a
# record in experiments/records/ (commit those: they are what a later
# machine knows of the run), and resumes an interrupted one from its last
# checkpoint, on this machine only: the 2-5-5-2 pair goes first where its
# run directory is here (started and resumable), last elsewhere.
# Depths 20 and 56 (records kept), the UvA DL table and the 8-epoch
# batch-size ablation are done (the report refuses to rewrite a page that
# would lose a finished run).
#
#   nohup setsid bash experiments/converged_cpu.sh > /tmp/converged.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
# The whole script is read before it runs (the braces and exit): editing
# this file while the queue runs cannot change what it does next.
{
  sweep() { "$PY" -m experiments.sweep "experiments/sweeps/$1.py" --filter="$2"; }
  pair() { sweep resnet_vs_plainnet_2552 fashion_mnist_seed0; }
  started=experiments/runs/resnet_vs_plainnet_2552
  if [ -d "$started" ]; then pair; fi
  sweep degradation_fashion_mnist 32_seed,44_seed
  if [ ! -d "$started" ]; then pair; fi
  exit
}
