#!/usr/bin/env bash
# The browser for tests/test_browser.py: Debian's chromium, driven by Playwright through
# executable_path=/usr/bin/chromium. Never `playwright install`: CI has no route to browser downloads.
# Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "install_browser: /usr/bin/chromium is present: $(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown')"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_browser: not root and no sudo: cannot install chromium" >&2; exit 1; }
  sudo="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
echo "install_browser: apt-get update"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
echo "install_browser: apt-get install -y --no-install-recommends chromium"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
[ -x /usr/bin/chromium ] || { echo "install_browser: chromium installed but /usr/bin/chromium is missing" >&2; exit 1; }
echo "install_browser: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
