#!/usr/bin/env bash
# The oneDNN pooling figures of BENCHMARKS.md ("Pooling in oneDNN"): the
# models whose steps pool the most, side by side with PyTorch, with oneDNN
# convolutions and pooling (the default), and GoogLeNet's step profile.
# Run from the repository root on an idle machine (~10 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
R=experiments/benchmarks/results
mkdir -p "$R"
peer() {  # name, args...
  local name=$1; shift
  $PY -m experiments.benchmarks.torch_peer "$@" --json_out="$R/peer_$name.json" \
    2>&1 | grep -v '^[IW][0-9]\{4\} \|absl::' | tail -6
}
$PY -c "from cnn_jax.ops import onednn; print(onednn.info())"
peer googlenet_uvadl_float32_pool --model=googlenet_uvadl --batch_size=128 \
  --rounds=3 --steps=5
peer lenet5_bfloat16_pool --model=lenet5 --batch_size=128 --dtype=bfloat16 \
  --rounds=5 --steps=50
peer lenet5_float32_pool --model=lenet5 --batch_size=128 --rounds=5 --steps=50
peer densenet_uvadl_float32_pool --model=densenet_uvadl --batch_size=128 \
  --rounds=3 --steps=5
$PY -m experiments.benchmarks.step_profile --model=googlenet_uvadl \
  --steps=3 2>&1 | grep -v '^[IW][0-9]\{4\} \|absl::' | tail -20
