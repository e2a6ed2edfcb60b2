#!/usr/bin/env bash
# Create .venv and install hfmix into it, with optional extras: `bash scripts/install.sh dev` or `... demo`.
# torch first: a machine without a GPU that has a local CPU wheel of torch (pip's find-links) gets that wheel,
# not the multi-GB CUDA build that a bare `torch` requirement pulls from PyPI; a GPU machine gets the usual one.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
[ -x .venv/bin/python ] || python3 -m venv .venv
py=.venv/bin/python
$py -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
if ! $py -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 || ! $py -m pip install -q --no-index "torch==2.13.0" 2>/dev/null; then
    $py -m pip install -q "torch>=2.4" 2>&1 | grep -v "^WARNING: Location" || true
  fi
fi
target="."
[ -n "$extras" ] && target=".[$extras]"
$py -m pip install -q -e "$target" 2>&1 | grep -v "^WARNING: Location" || true
$py -c "import hfmix, torch; print(f'hfmix {hfmix.__version__} installed (torch {torch.__version__}) in .venv')"
