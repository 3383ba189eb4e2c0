#!/usr/bin/env bash
# Run HERE, on a machine with PyPI, from anywhere in the repository:
#   bash experiments/gpu/fetch.sh
# Fills the git-ignored experiments/gpu/carry/ with what the GPU machine
# lacks (README.md beside this file): the wheels of carried_packages.txt at
# requirements.txt's pins for its Python 3.12, the four Fashion-MNIST IDX
# files, and the commit they go with. About 30 MB.
# Environment: PY (a Python with pip; default .venv/bin/python, else
# python3), CARRY (default experiments/gpu/carry), FMNIST_DIR (default
# /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist),
# FOR_PYTHON (the Python version the wheels are for; default 3.12, the
# machine's).
set -euo pipefail
cd "$(dirname "$0")/../.."
CARRY=${CARRY:-experiments/gpu/carry}
FMNIST=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ -z "${PY:-}" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python
  elif command -v python3 >/dev/null; then PY=python3
  else echo "fetch.sh: no Python found: run 'bash setup.sh' or set PY=/path/to/python3" >&2; exit 2
  fi
fi
"$PY" -m pip --version >/dev/null 2>&1 \
  || { echo "fetch.sh: $PY has no pip: set PY to a Python with pip" >&2; exit 2; }

pins=()
while read -r p; do
  pin=$(grep -iE "^$p==" requirements.txt) \
    || { echo "fetch.sh: requirements.txt pins no version of $p" >&2; exit 2; }
  pins+=("$pin")
done < <(grep -vE '^\s*(#|$)' experiments/gpu/carried_packages.txt)

rm -rf "$CARRY"
mkdir -p "$CARRY/wheels" "$CARRY/fashion_mnist"
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps \
  --only-binary=:all: --python-version "${FOR_PYTHON:-3.12}" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  --platform any -d "$CARRY/wheels" "${pins[@]}"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte \
         t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  if [ -f "$FMNIST/$f.gz" ]; then cp "$FMNIST/$f.gz" "$CARRY/fashion_mnist/"
  elif [ -f "$FMNIST/$f" ]; then gzip -c "$FMNIST/$f" > "$CARRY/fashion_mnist/$f.gz"
  else echo "fetch.sh: $FMNIST/$f[.gz] not found (apt-get install dataset-fashion-mnist, or set FMNIST_DIR)" >&2; exit 2
  fi
done
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain 2>/dev/null)" ] && commit="$commit+dirty"
echo "$commit" > "$CARRY/commit.txt"
ls -l "$CARRY"/wheels
du -sh "$CARRY"
echo "carry: [\"$CARRY\"]; command: bash experiments/gpu/run.sh --out=\$OUT"
