#!/usr/bin/env bash
# Produces the published reports under one folder (default: reports/ at the repository root):
#
#   card-in-process/  airtight harness card (reference SKS in this process, with --perf)
#   card-pcsc/        airtight harness card --transport pcsc: the CLI's file-backed card served
#                     into pcscd's "Virtual PCD 00 00" by `airtight card serve --vpcd`
#   card-shim/        airtight harness card --shim "airtight card shim --card-dir D"
#   issuer-loopback/  airtight harness issuer --reference, with a 5 s open-loop load test run
#                     twice (honest alone, then beside 30 % hostile traffic) and 3 rounds of
#                     crash under load (SIGKILL of airtight issuer serve, restart, audit)
#   vectors/          airtight-vectors report (report.txt, report.json)
#   sim-morning-wave/ airtight sim run of the 100,000-card morning wave (model mode, seed 7):
#                     report.html, metrics.json, run.json (no transcript)
#   criterion/        short criterion runs of the airtight-card `sks` bench (summary.md/json)
#   index.html        links to all of them, with each step's result and time
#   screenshot/       card-in-process and issuer-loopback report.html rendered by headless chromium
#   browser/          the browser path in headless Chromium (cli/tests/browser_chromium.rs): the
#                     keygen dialog's states, the landing, result and cancel pages (PNG)
#   timings.txt       wall time of every step
#
#   bash scripts/publish-reports.sh [OUTDIR]
#
# The latency and load figures come from a release build of `airtight` (built once, with the
# pcsc feature and without debug info, then reused by every step); the vectors report uses a
# debug build of airtight-vectors (no timings).
#
# Exits non-zero if any harness run does not pass or any step fails (after running them all).
# Env: PUBLISH_SKIP_BENCH=1 skips the criterion step; PUBLISH_SKIP_SCREENSHOT=1 the screenshot.
set -euo pipefail
# A foreign card (pcsc, shim) declares no optional feature unless told: the reference card
# behind them implements these (harness/targets/reference-in-process.toml).
REFERENCE_FEATURES="--feature privacy --feature kmk --feature rsa-kmk --feature import-private-key --feature import-symmetric-key --feature extensions --feature property-bags --feature resource-limits"
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release/airtight
# No debug info in the release build (the release profile has debug = 1): a shorter compile; the
# criterion step (bench profile, inherits release) then reuses the same dependency builds.
export CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_BENCH_DEBUG=0
READER="Virtual PCD 00 00"
VPCD=127.0.0.1:35963
VCARD_ATR=3B80800101

now() { date +%s.%N; }

# --- inner mode: runs under scripts/pcsc-stack.sh (pcscd up): card serve --vpcd + harness ----
if [ "${1:-}" = "--pcsc-inner" ]; then
  dir=$2
  work=$(mktemp -d)
  "$BIN" card serve --vpcd "$VPCD" --card-dir "$work/card" >"$dir/card-serve.log" 2>&1 &
  SERVE_PID=$!
  stop_serve() {
    if kill -0 "$SERVE_PID" 2>/dev/null; then
      kill -TERM "$SERVE_PID" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$SERVE_PID" 2>/dev/null; then kill -9 "$SERVE_PID" 2>/dev/null || true; fi
    fi
    wait "$SERVE_PID" 2>/dev/null || true
    rm -rf "$work"
  }
  trap stop_serve EXIT
  # Ready = the card answers through pcscd (bounded: 15 s).
  ready=0
  for _ in $(seq 1 75); do
    if ! kill -0 "$SERVE_PID" 2>/dev/null; then
      echo "publish-reports: card serve exited early:" >&2; cat "$dir/card-serve.log" >&2; exit 1
    fi
    if "$BIN" card info --reader "$READER" >/dev/null 2>&1; then ready=1; break; fi
    sleep 0.2
  done
  if [ "$ready" != 1 ]; then
    echo "publish-reports: the virtual card did not answer in $READER within 15 s" >&2
    cat "$dir/card-serve.log" >&2
    exit 1
  fi
  "$BIN" harness card --quiet --transport pcsc --reader "$READER" --atr "$VCARD_ATR" \
    $REFERENCE_FEATURES --name "airtight card serve --vpcd (file-backed reference card) in $READER" --out "$dir"
  exit $?
fi

OUT=${1:-reports}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# No stale report may survive from an earlier run.
rm -rf "$OUT"/card-in-process "$OUT"/card-pcsc "$OUT"/card-shim "$OUT"/issuer-loopback \
  "$OUT"/vectors "$OUT"/sim-morning-wave "$OUT"/criterion "$OUT"/screenshot "$OUT"/browser "$OUT"/logs "$OUT"/index.html
TIMINGS=$OUT/timings.txt
: >"$TIMINGS"
STATUS_FILE=$OUT/.status
: >"$STATUS_FILE"
failed=()

# step NAME COMMAND...: runs it with stdout+stderr into $OUT/NAME.log (and a summary on the
# console), records the wall time and the result; never stops the script.
step() {
  local name=$1; shift
  local log=$OUT/logs/$name.log
  mkdir -p "$OUT/logs"
  echo "== publish: $name"
  local t0 t1 rc=0
  t0=$(now)
  "$@" >"$log" 2>&1 || rc=$?
  t1=$(now)
  local secs
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  local result=ok
  if [ "$rc" != 0 ]; then result="FAILED (exit $rc)"; failed+=("$name"); fi
  printf '%-16s %7s s  %s\n' "$name" "$secs" "$result" | tee -a "$TIMINGS"
  printf '%s\t%s\t%s\n' "$name" "$secs" "$result" >>"$STATUS_FILE"
  # The harness summary (or the tail of the log when the step failed).
  if [ "$rc" != 0 ]; then tail -n 15 "$log" | sed 's/^/    /'; else grep -E 'harness .*Result:|^reports:' "$log" | sed 's/^/    /' || true; fi
}

build() {
  # libpcsclite-dev and pkg-config for the pcsc feature (pcsc-stack.sh installs them as root).
  if ! dpkg -s libpcsclite-dev pkg-config >/dev/null 2>&1; then bash scripts/pcsc-stack.sh true; fi
  # One release build of the CLI (every harness step runs it: the published latency and load
  # figures are release figures).
  cargo build --locked -q --release -p airtight-cli --features pcsc
  cargo build --locked -q -p airtight-vectors
}

card_in_process() {
  "$BIN" harness card --quiet --perf 50 --out "$OUT/card-in-process"
}

card_pcsc() {
  mkdir -p "$OUT/card-pcsc"
  bash scripts/pcsc-stack.sh bash "$ROOT/scripts/publish-reports.sh" --pcsc-inner "$OUT/card-pcsc"
}

card_shim() {
  local work rc=0
  work=$(mktemp -d)
  "$BIN" harness card --quiet --shim "'$BIN' card shim --card-dir '$work/card'" \
    $REFERENCE_FEATURES --name "airtight card shim (file-backed reference card, JSON-lines shim)" \
    --out "$OUT/card-shim" || rc=$?
  rm -rf "$work"
  return "$rc"
}

issuer_loopback() {
  # A short open-loop load (wrk2-style: a fixed start rate, latency from the scheduled start),
  # alone and beside 30 % hostile traffic (garbage, oversized, slowloris, replay, flood), then
  # 3 SIGKILL-and-restart rounds of `airtight issuer serve` under load and the store's audit.
  "$BIN" harness issuer --quiet --reference --load-rate 50 --load-connections 8 --load-seconds 5 \
    --hostile 0.3 --crash-under-load 3 --out "$OUT/issuer-loopback"
}

sim_wave() {
  "$BIN" sim run simulator/scenarios/morning-wave.toml --seed 7 --no-transcript \
    --out "$OUT/sim-morning-wave"
}

vectors() {
  mkdir -p "$OUT/vectors"
  local rc=0
  "$TARGET_DIR/debug/airtight-vectors" report >"$OUT/vectors/report.txt" 2>&1 || rc=$?
  python3 - "$OUT/vectors/report.txt" "$rc" >"$OUT/vectors/report.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
print(json.dumps({"exit_code": int(sys.argv[2]), "passed": sys.argv[2] == "0",
                  "lines": text.splitlines()}, indent=2))
PY
  cat "$OUT/vectors/report.txt"
  return "$rc"
}

criterion() {
  local dir=$OUT/criterion
  mkdir -p "$dir"
  # Short settings: the figures are indicative; the full run is `cargo bench -p airtight-card`.
  # No debug info for the bench build (the release profile has debug = 1): a faster compile.
  cargo bench --locked -q -p airtight-card --bench sks -- \
    --warm-up-time 0.3 --measurement-time 1 --noplot >"$dir/bench.txt" 2>&1 \
    || { cat "$dir/bench.txt"; return 1; }
  python3 - "$TARGET_DIR/criterion" "$dir" <<'PY'
import json, os, sys
root, out = sys.argv[1], sys.argv[2]
rows = []
for dirpath, _, files in os.walk(root):
    if os.path.basename(dirpath) == "new" and "estimates.json" in files:
        bench = json.load(open(os.path.join(dirpath, "benchmark.json")))
        est = json.load(open(os.path.join(dirpath, "estimates.json")))
        m = est["mean"]
        if not bench.get("full_id", "").startswith("card/"):
            continue
        rows.append({"name": bench["full_id"], "mean_ns": m["point_estimate"],
                     "ci_lower_ns": m["confidence_interval"]["lower_bound"],
                     "ci_upper_ns": m["confidence_interval"]["upper_bound"],
                     "confidence_level": m["confidence_interval"]["confidence_level"]})
rows.sort(key=lambda r: r["name"])
def fmt(ns):
    for unit, f in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= f:
            return f"{ns / f:.3g} {unit}"
    return f"{ns:.3g} ns"
json.dump({"bench": "airtight-card sks", "settings": "--warm-up-time 0.3 --measurement-time 1",
           "benches": rows}, open(os.path.join(out, "summary.json"), "w"), indent=2)
with open(os.path.join(out, "summary.md"), "w") as f:
    f.write("# airtight-card `sks` bench (short run: warm-up 0.3 s, measurement 1 s)\n\n")
    f.write("| bench | mean | 95% CI |\n|---|---:|---|\n")
    for r in rows:
        f.write(f"| {r['name']} | {fmt(r['mean_ns'])} | [{fmt(r['ci_lower_ns'])}, {fmt(r['ci_upper_ns'])}] |\n")
if not rows:
    sys.exit("no criterion estimates found under " + root)
print(open(os.path.join(out, "summary.md")).read())
PY
}

screenshot() {
  local dir=$OUT/screenshot html=$OUT/card-in-process/report.html
  mkdir -p "$dir"
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
    else
      echo "screenshot skipped: chromium is not installed and we are not root" | tee "$dir/SKIPPED.txt"
      return 0
    fi
  fi
  local flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
    --disable-dev-shm-usage --hide-scrollbars --user-data-dir="$dir/.profile")
  timeout 120 chromium "${flags[@]}" --window-size=1280,2000 \
    --screenshot="$dir/card-in-process.png" "file://$html" || return 1
  timeout 120 chromium "${flags[@]}" --dump-dom "file://$html" >"$dir/card-in-process.dom.html" \
    || return 1
  if [ -f "$OUT/issuer-loopback/report.html" ]; then
    timeout 120 chromium "${flags[@]}" --window-size=1280,2000 \
      --screenshot="$dir/issuer-loopback.png" "file://$OUT/issuer-loopback/report.html" || return 1
  fi
  rm -rf "$dir/.profile"
  local size
  size=$(stat -c %s "$dir/card-in-process.png") || return 1
  echo "screenshot: $dir/card-in-process.png ($size bytes)"
  if [ "$size" -lt 10000 ]; then echo "the screenshot is too small to show the report" >&2; return 1; fi
  local dom
  dom=$(cat "$dir/card-in-process.dom.html")
  case "$dom" in *'<section id="requirements">'*) ;; *) echo "the DOM has no requirements roll-up" >&2; return 1 ;; esac
  case "$dom" in *'<section id="summary">'*) ;; *) echo "the DOM has no summary" >&2; return 1 ;; esac
}

# The browser end-to-end test (a debug build, as scripts/test.sh runs it) with its screenshots
# written into browser/; skipped like the screenshot step.
browser() {
  local dir=$OUT/browser
  mkdir -p "$dir"
  # --features pcsc: the build scripts/test.sh made last (no rebuild); the card-pulled test
  # skips itself here (no pcscd).
  AIRTIGHT_SCREENSHOT_DIR=$dir bash scripts/chromium.sh \
    cargo test --locked -q -p airtight-cli --features pcsc --test browser_chromium -- --nocapture
  case "$(ls "$dir")" in *result-page.png*) ;; *) echo "no screenshots in $dir (Chromium absent?)" | tee "$dir/SKIPPED.txt"; return 1 ;; esac
}

index() {
  python3 - "$OUT" <<'PY'
import html, json, os, sys
out = sys.argv[1]
status = {}
for line in open(os.path.join(out, ".status")):
    name, secs, result = line.rstrip("\n").split("\t")
    status[name] = (secs, result)
def summary(sub):
    p = os.path.join(out, sub, "report.json")
    if not os.path.exists(p):
        return "no report"
    r = json.load(open(p))
    s = r["summary"]
    counts = ", ".join(f"{v} {k}" for k, v in s["verdicts"].items() if v)
    counts = f" ({counts})" if counts else ""
    notes = "".join(f"<br><small>{html.escape(n)}</small>" for n in r.get("notes", []))
    return (f"{html.escape(r['target']['name'])}: {s['total']} cases{counts}, "
            f"{'<b class=ok>passed</b>' if s['passed'] else '<b class=bad>FAILED</b>'}{notes}")
rows = [
    ("card-in-process", "Card harness, reference SKS in process (with performance mode)", "card_in_process"),
    ("card-pcsc", "Card harness through pcscd + vpcd (airtight card serve --vpcd)", "card_pcsc"),
    ("card-shim", "Card harness through the JSON-lines shim (airtight card shim)", "card_shim"),
    ("issuer-loopback", "Issuer harness, reference issuer on 127.0.0.1: load alone and beside hostile traffic, crash under load", "issuer_loopback"),
]
items = []
for sub, title, step in rows:
    secs, result = status.get(step, ("-", "not run"))
    items.append(
        f"<tr><td><a href='{sub}/report.html'>{html.escape(title)}</a></td><td>{summary(sub)}</td>"
        f"<td><a href='{sub}/report.json'>JSON</a> · <a href='{sub}/junit.xml'>JUnit</a></td>"
        f"<td>{secs} s</td><td>{html.escape(result)}</td></tr>")
for sub, title, step, links in [
    ("vectors", "Test vectors: airtight-vectors report", "vectors", [("report.txt", "text"), ("report.json", "JSON")]),
    ("sim-morning-wave", "Simulator: 100,000-card morning wave on 3 issuer nodes (model mode, seed 7)", "sim_wave", [("report.html", "report"), ("metrics.json", "metrics"), ("run.json", "wall clock")]),
    ("criterion", "Criterion benches of airtight-card (short run)", "criterion", [("summary.md", "summary"), ("summary.json", "JSON")]),
    ("screenshot", "Screenshot of the in-process card report (headless chromium)", "screenshot", [("card-in-process.png", "PNG")]),
    ("browser", "The browser path in headless Chromium: keygen dialog and issuer pages", "browser",
     [(f, f[:-4]) for f in ["landing.png", "dialog-1-consent.png", "dialog-2-keys.png", "dialog-3-pin-refused.png",
                            "result-page.png", "cancel-page.png", "dialog-4-issuer-down.png", "dialog-5-tampered.png",
                            "tampered-page.png"]]),
]:
    secs, result = status.get(step, ("-", "not run"))
    l = " · ".join(f"<a href='{sub}/{f}'>{t}</a>" for f, t in links if os.path.exists(os.path.join(out, sub, f)))
    items.append(f"<tr><td>{html.escape(title)}</td><td></td><td>{l}</td><td>{secs} s</td><td>{html.escape(result)}</td></tr>")
page = f"""<!doctype html><html lang=en><head><meta charset=utf-8><title>airtight reports</title>
<style>body{{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.4em .6em;text-align:left;vertical-align:top}}
.ok{{color:#17702f}}.bad{{color:#b00020}}td:nth-child(n+4){{white-space:nowrap}}</style></head><body>
<h1>airtight reports</h1>
<p>Produced by <code>scripts/publish-reports.sh</code> with a release build of <code>airtight</code>
(the latency and load figures are release figures). Step times are in <a href='timings.txt'>timings.txt</a>; logs in <a href='logs/'>logs/</a>.</p>
<table><thead><tr><th>report</th><th>result</th><th>files</th><th>time</th><th>step</th></tr></thead><tbody>
{''.join(items)}
</tbody></table></body></html>
"""
open(os.path.join(out, "index.html"), "w").write(page)
PY
}

step build build
if [ "${#failed[@]}" != 0 ]; then echo "publish-reports: the build failed" >&2; exit 1; fi
step card_in_process card_in_process
step card_pcsc card_pcsc
step card_shim card_shim
step issuer_loopback issuer_loopback
step vectors vectors
step sim_wave sim_wave
if [ "${PUBLISH_SKIP_BENCH:-0}" != 1 ]; then step criterion criterion; fi
if [ "${PUBLISH_SKIP_SCREENSHOT:-0}" != 1 ]; then step screenshot screenshot; fi
if [ "${PUBLISH_SKIP_SCREENSHOT:-0}" != 1 ]; then step browser browser; fi
index
rm -f "$STATUS_FILE"
echo "publish-reports: $OUT/index.html"
if [ "${#failed[@]}" != 0 ]; then
  echo "publish-reports: FAILED: ${failed[*]} (logs in $OUT/logs/)" >&2
  exit 1
fi
