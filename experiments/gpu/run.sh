#!/usr/bin/env bash
# Run THERE, on the GPU machine, from the repository root, with
# experiments/gpu/carry/ (from fetch.sh) carried along:
#   bash experiments/gpu/run.sh --out=$OUT                    # the campaign
#   bash experiments/gpu/run.sh --out=$OUT --parts=xla_flags  # second run
# Installs the carried wheels into a temporary directory (nothing else is
# touched), then runs experiments/gpu/campaign.py with the arguments given.
set -uo pipefail
cd "$(dirname "$0")/../.."
CARRY=experiments/gpu/carry
PY=${PY:-python3}
if ls "$CARRY"/wheels/*.whl >/dev/null 2>&1; then
  SITE=$(mktemp -d /tmp/cnn_jax_site.XXXXXX)
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --target "$SITE" "$CARRY"/wheels/*.whl || exit 1
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "$PY" -m experiments.gpu.campaign "$@"
