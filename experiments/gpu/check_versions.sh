#!/usr/bin/env bash
# Run HERE, before any GPU lease and whenever the GPU machine's versions or
# our pins move (it downloads; not in CI):
#   bash experiments/gpu/check_versions.sh
# Builds a throwaway CPU twin of the GPU machine's Python: Python 3.12 with
# the versions machine_packages.txt gives (jax/jaxlib, numpy, torch,
# torchvision) and the newest flax, optax, orbax-checkpoint, chex that
# resolve with them; then fetches the carry (fetch.sh) and runs every part of
# the campaign's dry run through run.sh, as on the machine, with every
# distribution the machine lacks hidden (tests/gpu_machine/). Exit status:
# that of the dry runs (non-zero if any part failed). Record the date and
# result in README.md beside this file.
# Environment: PY312 (a python3.12), TWIN (the venv's folder, kept for
# reruns; default /tmp/cnn_jax_gpu_twin), OUT (default /tmp/cnn_jax_twin_out).
set -euo pipefail
cd "$(dirname "$0")/../.."
LIST=experiments/gpu/machine_packages.txt
TWIN=${TWIN:-/tmp/cnn_jax_gpu_twin}
OUT=${OUT:-/tmp/cnn_jax_twin_out}

find_python312() {
  local c
  for c in "${PY312:-}" python3.12 \
    "$(command -v pyenv >/dev/null && echo "$(pyenv root)/versions/3.12"*/bin/python3.12)"; do
    [ -n "$c" ] && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' \
      2>/dev/null && { echo "$c"; return; }
  done
  echo "check_versions.sh: no Python 3.12 found; set PY312=/path/to/python3.12" >&2
  exit 2
}
pin() {  # the machine's version of $1, from the package list
  grep -iE "^$1==" "$LIST" | head -1 | cut -d= -f3 | grep . \
    || { echo "check_versions.sh: $LIST gives no version for $1" >&2; exit 2; }
}

if [ ! -x "$TWIN/bin/python" ]; then
  "$(find_python312)" -m venv "$TWIN"
fi
"$TWIN/bin/python" -m pip install --quiet --disable-pip-version-check \
  "jax==$(pin jax)" "jaxlib==$(pin jaxlib)" "numpy==$(pin numpy)" \
  "torch==$(pin torch)" "torchvision==$(pin torchvision)" \
  flax optax orbax-checkpoint chex absl-py tensorboard pillow matplotlib
"$TWIN/bin/python" -m pip list --format=freeze 2>/dev/null \
  | grep -iE '^(jax|jaxlib|flax|optax|orbax-checkpoint|chex|numpy|torch|torchvision|tensorstore|wrapt)==' \
  | tr '\n' ' '
echo
PY="$TWIN/bin/python" bash experiments/gpu/fetch.sh

rc=0
rm -rf "$OUT" "$OUT".*.log
for parts in env,resnet50,seed_models,resnet_vs_plain xla_flags; do
  if PY="$TWIN/bin/python" PYTHONPATH="$PWD/tests/gpu_machine" \
    bash experiments/gpu/run.sh --dry_run --out="$OUT/$parts" --parts="$parts" \
    > "$OUT.$parts.log" 2>&1; then status=0; else status=$?; rc=1; fi
  echo "dry run --parts=$parts: exit $status ($OUT/$parts/summary.md, $OUT.$parts.log)"
done
exit "$rc"
