#!/usr/bin/env bash
# Install, create the SQLite database with demo data, and start the service (then open /webchat).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/install-ocr.sh  # Tesseract for reading KTP/KK photos; without root: a warning, OCR off
.venv/bin/hajibot init --demo
exec .venv/bin/hajibot serve "$@"
