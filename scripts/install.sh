#!/usr/bin/env bash
# Create .venv and install hfmix into it, with optional extras: `bash scripts/install.sh dev` or `... demo`.
# torch first: a machine without a GPU that has a local CPU wheel of torch (pip's find-links) gets that wheel,
# not the multi-GB CUDA build that a bare `torch` requirement pulls from PyPI; a GPU machine gets the usual one.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
[ -x .venv/bin/python ] || python3 -m venv .venv
py=.venv/bin/python
pip_quiet() { "$py" -m pip -q --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location" >&2); }
pip_quiet install --upgrade pip
if ! "$py" -c "import torch" 2>/dev/null; then
  wheels=$(mktemp -d)
  if ! command -v nvidia-smi >/dev/null 2>&1 \
      && "$py" -m pip download -q --no-index --no-deps "torch==2.13.0" -d "$wheels" >/dev/null 2>&1; then
    pip_quiet install "$wheels"/torch-*.whl   # the local CPU wheel; its dependencies from the index
  else
    pip_quiet install "torch>=2.4"
  fi
  rm -rf "$wheels"
fi
pip_quiet install -e ".${extras:+[$extras]}"
"$py" -c "import hfmix, torch; print(f'hfmix {hfmix.__version__} (torch {torch.__version__}) installed in .venv')"
