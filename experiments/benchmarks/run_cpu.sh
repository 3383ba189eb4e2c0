#!/usr/bin/env bash
# Every CPU figure in BENCHMARKS.md: run from the repository root on an idle
# machine (bash setup.sh --reference first). JSON goes to
# experiments/benchmarks/results/, one file per command.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
R=experiments/benchmarks/results
mkdir -p "$R"
peer() {  # name, args...
  local name=$1; shift
  $PY -m experiments.benchmarks.torch_peer "$@" --json_out="$R/peer_$name.json" \
    2>&1 | grep -v '^[IW][0-9]\{4\} \|oneDNN\|absl::' | tail -6
}
bench() {  # name, args...
  local name=$1; shift
  $PY -m cnn_jax.benchmark "$@" --json_out="$R/bench_$name.json" \
    2>&1 | grep -v '^[IW][0-9]\{4\} \|oneDNN\|absl::' | tail -12
}
# Side by side with PyTorch (torch.compile, channels_last, 2 threads), the
# three XLA:CPU set-ups: XLA's defaults, cpu_tuning, cpu_tuning + 2 devices.
for model in resnet20 lenet5; do
  steps=10; [ $model = lenet5 ] && steps=50
  peer ${model}_none --model=$model --batch_size=128 --steps=$steps --cpu_tuning=none
  peer ${model}_tuned --model=$model --batch_size=128 --steps=$steps --cpu_tuning=auto
  peer ${model}_tuned_2dev --model=$model --batch_size=128 --steps=$steps --cpu_tuning=auto --host_devices=2
done
peer resnet20_bf16_tuned_2dev --model=resnet20 --batch_size=128 --dtype=bfloat16 --rounds=3 --steps=5 --host_devices=2
# The trainer's own steps and the input pipeline, per config.
bench lenet5_fashion_mnist --config=configs/lenet5_fashion_mnist.py --steps=100
bench lenet5_fashion_mnist_none --config=configs/lenet5_fashion_mnist.py --steps=100 --config.cpu_tuning=none
bench resnet20_fashion_mnist_2dev --config=configs/resnet20_fashion_mnist.py --steps=20 --config.host_devices=2
# The folded convolutions alone: cpu_tuning=flags is auto without them.
bench lenet5_fashion_mnist_flags --config=configs/lenet5_fashion_mnist.py --steps=100 --mode=train --config.cpu_tuning=flags
bench resnet20_fashion_mnist_flags_2dev --config=configs/resnet20_fashion_mnist.py --steps=20 --mode=train --config.host_devices=2 --config.cpu_tuning=flags
bench resnet20_fashion_mnist_none --config=configs/resnet20_fashion_mnist.py --steps=20 --config.cpu_tuning=none
bench resnet50_imagenet_b8 --config=configs/resnet50_imagenet.py --mode=train --steps=3 --warmup=1 --config.batch_size=8 --config.eval_batch_size=8 --config.host_devices=2
# The two input paths (input_pipeline=device|tfdata): what each can feed
# with ResNet-20's augmentation (crop_pad + flip, batch 128) and with the
# main job's (none), and the main job end to end with each.
for path in device tfdata; do
  bench input_resnet20_$path --config=configs/resnet20_fashion_mnist.py --mode=input --input_batches=100 --config.input_pipeline=$path
  bench input_lenet5_$path --config=configs/lenet5_fashion_mnist.py --mode=input --input_batches=100 --config.input_pipeline=$path
  $PY -m experiments.benchmarks.main_job --input_pipeline=$path --json_out="$R/main_job_$path.json"
done
