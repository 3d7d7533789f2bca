#!/usr/bin/env bash
# Runs "$@" with Debian's Chromium available: installs the `chromium` package when
# /usr/lib/chromium/chromium is missing (as root, apt, non-interactive), then runs the command.
# Not root and no Chromium: says so and runs the command anyway (the browser tests then skip,
# printing why). See README.md, "The browser path".
#
#   bash scripts/chromium.sh cargo test --locked -p airtight-cli --test browser_chromium
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if [ ! -x /usr/lib/chromium/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
  else
    echo "chromium.sh: /usr/lib/chromium/chromium is missing and we are not root; the browser tests will skip" >&2
  fi
fi
exec "$@"
