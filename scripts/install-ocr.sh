#!/usr/bin/env bash
# Tesseract OCR with the Indonesian language data (Debian: tesseract-ocr, tesseract-ocr-ind), which the service
# uses to read KTP/KK photos for staff. Without it the service runs with OCR off (one log line; the case page
# says "OCR tidak tersedia"), so a missing package is a warning here, never an error.
set -uo pipefail
if command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx ind; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-ind >/dev/null; then
    exit 0
  fi
  echo "warning: installing tesseract-ocr tesseract-ocr-ind failed; OCR of KTP/KK photos is off" >&2
else
  echo "warning: tesseract-ocr with tesseract-ocr-ind is not installed and this is not root: OCR of KTP/KK photos" \
       "is off (as root: apt-get install tesseract-ocr tesseract-ocr-ind)" >&2
fi
exit 0
