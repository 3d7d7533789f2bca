#!/usr/bin/env bash
# Calibrates the simulator's `reference-pcsc` card profile from our own reference card over the
# real PC/SC path: `airtight card serve --vpcd` (file-backed reference card) in pcscd's
# "Virtual PCD 00 00", measured by `airtight harness card --perf N --transport pcsc`, turned into
# a [[profile]] table by `airtight sim calibrate`.
#
#   bash scripts/sim-calibrate-pcsc.sh [OUTDIR] [SESSIONS]
#
# Env: AIRTIGHT_BIN (default target/release/airtight; built with `--features pcsc`),
#      BUILD (a note for the provenance, default: the binary's profile directory).
# Writes OUTDIR/report.json (the harness report) and OUTDIR/profile.toml (append it to
# simulator/profiles.toml by hand; its `source` names the command, date, build and commit).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${1:-target/sim-calibrate}
N=${2:-50}
BIN=${AIRTIGHT_BIN:-$ROOT/target/release/airtight}
READER="Virtual PCD 00 00"
VPCD=127.0.0.1:35963
VCARD_ATR=3B80800101
REFERENCE_FEATURES="--feature privacy --feature kmk --feature rsa-kmk --feature import-private-key --feature import-symmetric-key --feature extensions --feature property-bags --feature resource-limits"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if [ "${3:-}" = "--inner" ]; then
  work=$(mktemp -d)
  "$BIN" card serve --vpcd "$VPCD" --card-dir "$work/card" >"$OUT/card-serve.log" 2>&1 &
  SERVE_PID=$!
  stop_serve() {
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
    rm -rf "$work"
  }
  trap stop_serve EXIT
  ready=0
  for _ in $(seq 1 75); do
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$OUT/card-serve.log" >&2; exit 1; }
    if "$BIN" card info --reader "$READER" >/dev/null 2>&1; then ready=1; break; fi
    sleep 0.2
  done
  [ "$ready" = 1 ] || { echo "the virtual card did not answer in $READER" >&2; exit 1; }
  # shellcheck disable=SC2086
  "$BIN" harness card --quiet --transport pcsc --reader "$READER" --atr "$VCARD_ATR" \
    $REFERENCE_FEATURES --perf "$N" --name "airtight card serve --vpcd in $READER" --out "$OUT"
  exit $?
fi

bash scripts/pcsc-stack.sh bash "$0" "$OUT" "$N" --inner || true
[ -f "$OUT/report.json" ] || { echo "no harness report in $OUT" >&2; exit 1; }
build=${BUILD:-$(basename "$(dirname "$BIN")") build}
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
"$BIN" sim calibrate --from "$OUT/report.json" --name reference-pcsc \
  --description "airtight reference card (file-backed) served by card serve --vpcd into pcscd + vpcd" \
  --source "medians of: bash scripts/sim-calibrate-pcsc.sh ($N sessions of airtight harness card --perf over pcscd + vpcd), $(date -u +%Y-%m-%d), $build of commit $commit" \
  --out "$OUT/profile.toml"
cat "$OUT/profile.toml"
