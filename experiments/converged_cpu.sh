#!/usr/bin/env bash
# The converged Fashion-MNIST runs on a CPU (15-epoch reproductions, the
# 8-epoch batch-size ablation): first one seed of every run, so that every
# results page gets its result soonest, then the second seeds of the short
# runs (so that their comparisons count), then the ResNet vs PlainNet 2-5-5-2
# pair (about 5 h per net) and the extra depths. Many hours of a 2-core CPU
# in all: rerun the same command after an interruption or in a later
# session; the runner skips finished runs and resumes interrupted ones from
# their last checkpoint. Every step rewrites
# its sweep's page under experiments/results/.
#
#   nohup bash experiments/converged_cpu.sh > /tmp/converged.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
sweep() { "$PY" -m experiments.sweep "experiments/sweeps/$1.py" --filter="$2"; }

sweep degradation_fashion_mnist 20_seed0
sweep uvadl_fashion_mnist ResNet_seed0,ResNetPreAct_seed0
sweep batch_size_fashion_mnist_cpu seed0
sweep degradation_fashion_mnist 56_seed0
sweep uvadl_fashion_mnist DenseNet_seed0
sweep uvadl_fashion_mnist GoogleNet_seed0
sweep degradation_fashion_mnist 20_seed1
sweep uvadl_fashion_mnist ResNet_seed1,ResNetPreAct_seed1
sweep batch_size_fashion_mnist_cpu seed1
sweep uvadl_fashion_mnist GoogleNet_seed1
sweep uvadl_fashion_mnist DenseNet_seed1
sweep degradation_fashion_mnist 56_seed1
sweep resnet_vs_plainnet_2552 fashion_mnist_seed0
sweep degradation_fashion_mnist 32_seed,44_seed
