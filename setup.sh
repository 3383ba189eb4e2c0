#!/usr/bin/env bash
# Sets up a fresh machine for cnn_jax: the Fashion-MNIST files from Debian
# (when missing), a virtual environment .venv with the pinned packages, and
# the oneDNN library (convolutions and pooling; cnn_jax/ops/csrc, built with
# cmake + g++ against the venv's oneDNN and jaxlib's XLA FFI headers; rebuilt
# only when its sources change; if the build fails, one warning, and training
# uses XLA's own, slower, CPU convolutions and pooling).
# With --reference it also installs the reference libraries (PyTorch,
# torchvision, timm) used by the equivalence tests, weight conversion and
# benchmarks. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")"
REFERENCE=0
for arg in "$@"; do
  case "$arg" in
    --reference) REFERENCE=1 ;;
    *) echo "usage: setup.sh [--reference]" >&2; exit 2 ;;
  esac
done

APT=()
[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || APT+=(dataset-fashion-mnist)
command -v cmake >/dev/null || APT+=(cmake)
command -v g++ >/dev/null || APT+=(g++)
if [ ${#APT[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${APT[@]}" \
    || echo "WARNING: apt-get install ${APT[*]} failed" >&2
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# Installs a requirements file unless this exact version of it already was.
install() {
  local stamp=".venv/.installed-$(basename "$1")"
  if ! cmp -s "$1" "$stamp"; then
    .venv/bin/pip install --quiet --disable-pip-version-check -r "$1"
    cp "$1" "$stamp"
  fi
}
install requirements.txt
if [ "$REFERENCE" = 1 ]; then
  install tests/requirements-reference.txt
fi

# The oneDNN convolutions (a no-op when already built from these sources).
.venv/bin/python -m cnn_jax.ops.build_onednn || true

# Prepare Fashion-MNIST for TFDS once (offline, from the Debian files), so the
# first training run or parallel test workers find it ready.
.venv/bin/python -c "from cnn_jax.data import datasets; datasets.get_builder('fashion_mnist')" 2>&1 \
  | grep -vE '^(W|I)0000|oneDNN|cpu_feature_guard|AVX|absl::InitializeLog' || true
