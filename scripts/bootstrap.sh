#!/usr/bin/env bash
# Creates ./.venv with Python 3.11+ and installs hajibot into it (with extras given as $1, e.g. "test").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${HAJIBOT_PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      PYTHON="$candidate"; break
    fi
  done
fi
if [ -z "$PYTHON" ]; then echo "error: Python 3.11 or newer is required" >&2; exit 2; fi
if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
EXTRAS="${1:-}"
SPEC="."
if [ -n "$EXTRAS" ]; then SPEC=".[${EXTRAS}]"; fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e "$SPEC"
