#!/usr/bin/env bash
# System packages for the tests, from Debian (never a downloaded build): Chromium for the browser tests, nginx for
# the production layout test (tests/foundation/test_nginx_layout.py: deploy/nginx-hajibot.conf in front of two
# workers) and Tesseract with its Indonesian language data for reading KTP/KK photos (scripts/install-ocr.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: /usr/bin/chromium missing and not root; browser tests will be skipped" >&2
  fi
fi
if [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
  else
    echo "warning: /usr/sbin/nginx missing and not root; the nginx layout test will be skipped" >&2
  fi
fi
scripts/install-ocr.sh
