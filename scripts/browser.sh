#!/usr/bin/env bash
# Installs Debian's chromium for the console's browser tests when it is missing
# (Playwright drives it; Playwright's own browser download is never used).
set -eu
command -v chromium >/dev/null && exit 0
echo "browser: chromium is missing; installing Debian's package" >&2
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null || { echo "browser: chromium still missing after apt-get install chromium" >&2; exit 1; }
