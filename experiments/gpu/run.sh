#!/usr/bin/env bash
# Run THERE, on the GPU machine, from the repository root, with
# experiments/gpu/carry/ (from fetch.sh) carried along:
#   bash experiments/gpu/run.sh --out=$OUT                    # the campaign
#   bash experiments/gpu/run.sh --out=$OUT --parts=xla_flags  # second run
# Installs the carried wheels into a temporary directory (nothing else is
# touched), then runs experiments/gpu/campaign.py with the arguments given.
# Exit status: the campaign's (1 if any part failed or ran out of time), 2 if
# the carry is missing or does not install.
set -uo pipefail
cd "$(dirname "$0")/../.."
CARRY=${CARRY:-experiments/gpu/carry}
PY=${PY:-python3}
if ! ls "$CARRY"/wheels/*.whl >/dev/null 2>&1; then
  echo "run.sh: $CARRY/wheels/ is missing: run 'bash experiments/gpu/fetch.sh'" \
    "on a machine with PyPI and carry $CARRY to this one" >&2
  exit 2
fi
SITE=$(mktemp -d /tmp/cnn_jax_site.XXXXXX)
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
  --target "$SITE" "$CARRY"/wheels/*.whl \
  || { echo "run.sh: the wheels in $CARRY/wheels did not install" >&2; exit 2; }
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export CARRY
exec "$PY" -m experiments.gpu.campaign "$@"
