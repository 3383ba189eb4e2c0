#!/usr/bin/env bash
# The converged Fashion-MNIST runs on a CPU that are still to make (15-epoch
# reproductions): the degradation sweep's eight runs at depths 20 and 56,
# then depths 32/44, then the ResNet vs PlainNet 2-5-5-2 pair (5-10 h per
# net on 2 cores: more than a session, so only where the machine and its run
# directories are kept between sessions). Many hours of a 2-core CPU in all:
# rerun the same command after an interruption or in a later session. The
# runner skips a run that has finished here or has a record in
# experiments/records/ (commit those: they are what a later machine knows of
# the run), and resumes an interrupted one from its last checkpoint, on this
# machine only. The UvA DL table and the 8-epoch batch-size ablation are
# done: their pages stand as committed (their runs predate the records; the
# report refuses to rewrite a page that would lose a finished run). The
# degradation sweep's six runs of 2026-12-05 went with that machine: they
# are made again, depth 56 first (the longest pair), so that the page
# shows their records.
#
#   nohup setsid bash experiments/converged_cpu.sh > /tmp/converged.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
# The whole script is read before it runs (the braces and exit): editing
# this file while the queue runs cannot change what it does next.
{
  sweep() { "$PY" -m experiments.sweep "experiments/sweeps/$1.py" --filter="$2"; }
  sweep degradation_fashion_mnist 56_seed1
  sweep degradation_fashion_mnist 56_seed0
  sweep degradation_fashion_mnist 20_seed0
  sweep degradation_fashion_mnist 20_seed1
  sweep degradation_fashion_mnist 32_seed,44_seed
  sweep resnet_vs_plainnet_2552 fashion_mnist_seed0
  exit
}
