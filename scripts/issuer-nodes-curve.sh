#!/usr/bin/env bash
# Measures issuer throughput for 1, 2 and 3 `issuer serve --db postgres://…` nodes on one
# PostgreSQL, and for one node on the default SQLite store, with the harness's open-loop load
# generator at one fixed rate (high enough to saturate), and prints sessions/s and the session
# p99 of each. Not part of CI (a measurement, not a test). Run it under scripts/postgres.sh:
#
#   cargo build --release --locked -p airtight-cli
#   bash scripts/postgres.sh bash scripts/issuer-nodes-curve.sh target/release/airtight
#
# Env: RATE (sessions/s, default 400), CONNECTIONS (default 16), SECONDS_PER_RUN (default 10).
set -euo pipefail
bin=${1:?usage: issuer-nodes-curve.sh PATH/TO/airtight}
: "${AIRTIGHT_TEST_POSTGRES:?run under scripts/postgres.sh}"
rate=${RATE:-400}
connections=${CONNECTIONS:-16}
seconds=${SECONDS_PER_RUN:-10}
work=$(mktemp -d "${TMPDIR:-/tmp}/airtight-curve.XXXXXX")
pids=()
stop_nodes() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_nodes; rm -rf "$work"' EXIT

# Starts a node with the given store arguments; sets $url to its init URL.
start_node() {
  local log="$work/node-${#pids[@]}.out"
  RUST_LOG=error "$bin" issuer serve --test-pki --bind 127.0.0.1:0 "$@" >"$log" 2>/dev/null &
  pids+=($!)
  for _ in $(seq 1 100); do
    url=$(sed -n 's/^enrol with: airtight enroll //p' "$log")
    [ -n "$url" ] && return 0
    sleep 0.1
  done
  echo "node did not start" >&2; cat "$log" >&2; return 1
}

measure() { # name, then the init URLs
  local name=$1; shift
  local args=()
  for u in "$@"; do args+=(--url "$u"); done
  "$bin" harness issuer --quiet --only issuer.sanity "${args[@]}" \
    --load-rate "$rate" --load-connections "$connections" --load-seconds "$seconds" \
    --out "$work/out-$name" >/dev/null 2>&1 || true
  python3 - "$work/out-$name/report.json" "$name" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["load"]
p = r.get("session_percentiles") or {}
print(f"{sys.argv[2]:<14} {r['sessions_per_second']:8.1f} sessions/s  p99 {p.get('p99_us', 0)/1000:8.1f} ms"
      f"  sessions {r['sessions']}  errors {r['errors']}")
EOF
}

echo "open loop at $rate sessions/s over $connections connections for $seconds s; $(uptime)"
base=${AIRTIGHT_TEST_POSTGRES%/*}
for n in 1 2 3; do
  db="airtight_curve_$n"
  psql "$AIRTIGHT_TEST_POSTGRES" -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  urls=()
  for _ in $(seq 1 "$n"); do start_node --db "$base/$db"; urls+=("$url"); done
  measure "postgres-$n" "${urls[@]}"
  stop_nodes
done
start_node --data-dir "$work/sqlite"
measure "sqlite-1" "$url"
stop_nodes
echo "after: $(uptime)"
