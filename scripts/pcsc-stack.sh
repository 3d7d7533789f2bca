#!/usr/bin/env bash
# Runs "$@" with a real PC/SC stack: installs pcscd + vsmartcard's vpcd (Debian 12), starts
# pcscd in the foreground as a background job (never --auto-exit), waits until both vpcd readers
# are listed (bounded), runs the command, and stops the pcscd it started by its PID.
# See /work/shared/pcsc-stack.md and spec/apdu.md section 9.
#
#   bash scripts/pcsc-stack.sh cargo test -p airtight-bindings --features pcsc --test pcsc
#
# Env: PCSCD_LOG (default target/pcscd.log), PCSCD_DEBUG=1 (pcscd --debug --apdu; slow),
#      PCSC_READY_TIMEOUT (seconds, default 10). Sets AIRTIGHT_PCSC=1 for the command.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

pkgs="pcscd libpcsclite-dev vsmartcard-vpcd pcsc-tools pkg-config"
if ! dpkg -s $pkgs >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "pcsc-stack: missing packages ($pkgs) and not root" >&2
    exit 1
  fi
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi

# Only one pcscd per machine. If one is already running (not ours), use it and leave it alone;
# otherwise start our own and stop it (by its PID) when the command ends.
wait_readers() {
  local tries=$(( ${PCSC_READY_TIMEOUT:-10} * 10 ))
  for _ in $(seq 1 "$tries"); do
    if [ -n "${PCSCD_PID:-}" ] && ! kill -0 "$PCSCD_PID" 2>/dev/null; then
      echo "pcsc-stack: pcscd exited early:" >&2; cat "$PCSCD_LOG" >&2; return 1
    fi
    out=$(timeout 5 pcsc_scan -r 2>/dev/null || true)   # capture, then match (no grep -q under pipefail)
    case "$out" in *"Virtual PCD 00 01"*) return 0 ;; esac
    sleep 0.1
  done
  echo "pcsc-stack: readers not listed after ${PCSC_READY_TIMEOUT:-10} s" >&2
  [ -n "${PCSCD_LOG:-}" ] && cat "$PCSCD_LOG" >&2
  return 1
}

running=""
if [ -s /run/pcscd/pcscd.pid ]; then
  old=$(cat /run/pcscd/pcscd.pid)
  if [ "$(cat /proc/"$old"/comm 2>/dev/null || true)" = pcscd ]; then
    running=$old
  else
    rm -f /run/pcscd/pcscd.comm /run/pcscd/pcscd.pid   # stale files of a dead daemon
  fi
fi

if [ -n "$running" ]; then
  echo "pcsc-stack: using the pcscd already running ($running)" >&2
  wait_readers
else
  PCSCD_LOG=${PCSCD_LOG:-target/pcscd.log}
  mkdir -p "$(dirname "$PCSCD_LOG")"
  # shellcheck disable=SC2086
  pcscd --foreground ${PCSCD_DEBUG:+--debug --apdu} >"$PCSCD_LOG" 2>&1 &
  PCSCD_PID=$!
  stop_pcscd() {
    kill "$PCSCD_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$PCSCD_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$PCSCD_PID" 2>/dev/null; then kill -9 "$PCSCD_PID" 2>/dev/null || true; fi
  }
  trap stop_pcscd EXIT
  wait_readers
  echo "pcsc-stack: pcscd $PCSCD_PID ready (Virtual PCD 00 00 / 00 01)" >&2
fi

export AIRTIGHT_PCSC=1
"$@"
