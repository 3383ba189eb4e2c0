#!/usr/bin/env bash
# Run HERE, on a machine with PyPI, from anywhere in the repository:
#   bash experiments/gpu/fetch.sh
# Fills the git-ignored experiments/gpu/carry/ with what the GPU machine
# lacks (README.md beside this file): the pure-Python wheels of the pinned
# ml-collections and clu for its Python 3.12, the four Fashion-MNIST IDX
# files, and the commit they go with. About 30 MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
CARRY=experiments/gpu/carry
PY=${PY:-.venv/bin/python}
FMNIST=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
PACKAGES="ml-collections clu"

rm -rf "$CARRY"
mkdir -p "$CARRY/wheels" "$CARRY/fashion_mnist"
pins=()
for p in $PACKAGES; do
  pin=$(grep -iE "^$p==" requirements.txt) || { echo "no pin for $p" >&2; exit 1; }
  pins+=("$pin")
done
"$PY" -m pip download --quiet --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform any -d "$CARRY/wheels" "${pins[@]}"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte \
         t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  if [ -f "$FMNIST/$f.gz" ]; then cp "$FMNIST/$f.gz" "$CARRY/fashion_mnist/"
  elif [ -f "$FMNIST/$f" ]; then gzip -c "$FMNIST/$f" > "$CARRY/fashion_mnist/$f.gz"
  else echo "$FMNIST/$f[.gz] not found (apt-get install dataset-fashion-mnist, or set FMNIST_DIR)" >&2; exit 1
  fi
done
commit=$(git rev-parse --short HEAD)
[ -n "$(git status --porcelain)" ] && commit="$commit+dirty"
echo "$commit" > "$CARRY/commit.txt"
ls -l "$CARRY"/wheels
du -sh "$CARRY"
echo "carry: [\"$CARRY\"]; command: bash experiments/gpu/run.sh --out=\$OUT"
