#!/usr/bin/env bash
# Every CPU figure in BENCHMARKS.md: run from the repository root on an idle
# machine (bash setup.sh --reference first, which also builds the oneDNN
# convolutions). JSON goes to experiments/benchmarks/results/, one file per
# command; each records the CPU model and flags, the load average, the
# oneDNN version, the ISA it dispatched to and the kernels it chose.
#   bash experiments/benchmarks/run_cpu.sh          # everything (~1.5 h, 2 cores)
#   bash experiments/benchmarks/run_cpu.sh --core   # the headline figures
#     (~30 min): each model against PyTorch in float32 (ResNet-20 also in
#     bfloat16 and on XLA's convolutions), the two input paths, the main job
#   bash experiments/benchmarks/run_cpu.sh --pooling  # the oneDNN pooling
#     figures (~10 min): the models whose steps pool the most against
#     PyTorch, GoogLeNet's step profile, the main job (LeNet-5 pools twice)
set -euo pipefail
CORE=0
POOLING=0
[ "${1:-}" = --core ] && CORE=1
[ "${1:-}" = --pooling ] && POOLING=1
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
R=experiments/benchmarks/results
mkdir -p "$R"
peer() {  # name, args...
  local name=$1; shift
  $PY -m experiments.benchmarks.torch_peer "$@" --json_out="$R/peer_$name.json" \
    2>&1 | grep -v '^[IW][0-9]\{4\} \|absl::' | tail -6
}
bench() {  # name, args...
  local name=$1; shift
  $PY -m cnn_jax.benchmark "$@" --json_out="$R/bench_$name.json" \
    2>&1 | grep -v '^[IW][0-9]\{4\} \|absl::' | tail -12
}
$PY -c "from cnn_jax.ops import onednn; print(onednn.info())"

if [ $POOLING = 1 ]; then
  peer googlenet_uvadl_float32_pool --model=googlenet_uvadl --batch_size=128 \
    --rounds=3 --steps=5
  peer densenet_uvadl_float32_pool --model=densenet_uvadl --batch_size=128 \
    --rounds=3 --steps=5
  for dtype in float32 bfloat16; do
    peer lenet5_${dtype}_pool --model=lenet5 --batch_size=128 --dtype=$dtype \
      --rounds=5 --steps=50
  done
  $PY -m experiments.benchmarks.step_profile --model=googlenet_uvadl --steps=3 \
    2>&1 | grep -v '^[IW][0-9]\{4\} \|absl::' | tee "$R/step_profile_googlenet_pool.log" | tail -20
  $PY -m experiments.benchmarks.main_job --json_out="$R/main_job_device_pool.json"
  exit 0
fi

# Side by side with PyTorch (torch.compile, channels_last, all cores), batch
# 128: oneDNN convolutions (the default) on 1 device; for comparison XLA's
# own convolutions (conv_impl=xla) on 2 host devices, the set-up before them.
# 32x32x3 CIFAR models; LeNet-5 on 28x28x1; MobileNetV2 on 32x32x3.
for model in lenet5 resnet20 googlenet_uvadl densenet_uvadl mobilenet_v2; do
  steps=10; rounds=5
  case $model in
    lenet5) steps=50 ;;
    googlenet_uvadl|densenet_uvadl|mobilenet_v2) steps=5; rounds=3 ;;
  esac
  size=""; [ $model = mobilenet_v2 ] && size="--image_size=32 --num_classes=10"
  dtypes="float32 bfloat16"
  [ $CORE = 1 ] && [ $model != resnet20 ] && dtypes=float32
  for dtype in $dtypes; do
    peer ${model}_${dtype} --model=$model --batch_size=128 --dtype=$dtype \
      --rounds=$rounds --steps=$steps $size
  done
  if [ $CORE = 1 ]; then
    [ $model = resnet20 ] && peer ${model}_float32_xla_2dev --model=$model \
      --batch_size=128 --rounds=$rounds --steps=$steps --host_devices=2 \
      --conv_impl=xla
    continue
  fi
  peer ${model}_float32_2dev --model=$model --batch_size=128 --rounds=$rounds \
    --steps=$steps --host_devices=2 $size
  peer ${model}_float32_xla_2dev --model=$model --batch_size=128 \
    --rounds=$rounds --steps=$steps --host_devices=2 --conv_impl=xla $size
done

# What each remaining CPU setting is worth with oneDNN on (BENCHMARKS.md,
# "CPU settings").
[ $CORE = 1 ] || $PY -m experiments.benchmarks.cpu_settings --models=resnet20,lenet5 \
  --json_out="$R/cpu_settings.json" 2>&1 | grep -v '^[IW][0-9]\{4\} \|absl::'

# The trainer's own steps and the input pipeline, per config.
if [ $CORE = 0 ]; then
bench lenet5_fashion_mnist --config=configs/lenet5_fashion_mnist.py --steps=100
bench lenet5_fashion_mnist_xla --config=configs/lenet5_fashion_mnist.py --steps=100 --mode=train --config.conv_impl=xla
bench resnet20_fashion_mnist --config=configs/resnet20_fashion_mnist.py --steps=20
bench resnet20_fashion_mnist_xla_2dev --config=configs/resnet20_fashion_mnist.py --steps=20 --mode=train --config.conv_impl=xla --config.host_devices=2
bench resnet50_imagenet_b8 --config=configs/resnet50_imagenet.py --mode=train --steps=3 --warmup=1 --config.batch_size=8 --config.eval_batch_size=8
fi
# The two input paths (input_pipeline=device|tfdata): what each can feed
# with ResNet-20's augmentation (crop_pad + flip, batch 128) and with the
# main job's (none), and the main job end to end with each.
for path in device tfdata; do
  bench input_resnet20_$path --config=configs/resnet20_fashion_mnist.py --mode=input --input_batches=100 --config.input_pipeline=$path
  bench input_lenet5_$path --config=configs/lenet5_fashion_mnist.py --mode=input --input_batches=100 --config.input_pipeline=$path
  $PY -m experiments.benchmarks.main_job --input_pipeline=$path --json_out="$R/main_job_$path.json"
done
