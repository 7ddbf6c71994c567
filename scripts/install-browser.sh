#!/usr/bin/env bash
# Installs the headless browser the browser suite drives: Debian's Chromium and its chromedriver.
# Idempotent: does nothing (in well under a second) when both are already there. Needs root for
# apt-get (CI and the developers' machines run as root); never downloads a browser build of its own.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver

if [ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ]; then
    exit 0
fi

fail() {
    echo "install-browser: $*" >&2
    echo "install-browser: the browser suite (tests/browser) needs Debian's 'chromium' and 'chromium-driver';" >&2
    echo "install-browser: install them with: apt-get update && apt-get install -y chromium chromium-driver" >&2
    exit 1
}

command -v apt-get >/dev/null || fail "apt-get not found: this is not a Debian-like machine."
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else fail "not root and no sudo."; fi
else
    SUDO=
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-browser: installing chromium and chromium-driver with apt-get" >&2
$SUDO apt-get update -qq || fail "apt-get update failed."
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-liberation >/dev/null \
    || fail "apt-get install failed."
[ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ] || fail "installed, but $CHROMIUM or $CHROMEDRIVER is missing."
"$CHROMIUM" --version >&2
