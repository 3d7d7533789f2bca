#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser and state machine (fuzz/README.md).
#
#   bash scripts/fuzz.sh --ci               # CI: the CI set (fuzz/targets-ci.txt), 10 s each
#   bash scripts/fuzz.sh --smoke            # every target for 5 s
#   bash scripts/fuzz.sh [--seconds N] [--summary FILE] [TARGET...]   # long runs: N s per target
#                                           # (default 600); FILE gets the table in Markdown
#
# Builds fuzz/ (its own workspace) with libFuzzer's coverage instrumentation (the flags
# cargo-fuzz passes with `-s none`, on the stable toolchain; nothing to install but a C++
# compiler for libFuzzer itself), seeds each target's corpus from the vectors and the golden
# sessions, runs the targets one after the other on one core (`nice -n 10`), and prints per
# target: executions, coverage (edges), corpus size and findings. Exits 1 if any target found a
# crash, an oracle violation, an allocation over its bound, a timeout or an out-of-memory.
#
# `--ci` builds without the feature `full` (no issuer server stack, harness or simulator), so
# that the build fits CI's budget; see fuzz/README.md, "CI".
#
# Environment: FUZZ_OUT (default fuzz/out: logs and crash artifacts), FUZZ_CORPUS (default
# fuzz/corpus, kept between runs), FUZZ_TARGET_DIR (default fuzz/target), FUZZ_TIMEOUT
# (seconds per input before it counts as a finding, default 60). Inputs in
# fuzz/regressions/<target>/ (former findings, committed) run first in every run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

smoke=0
ci=0
seconds=""
summary=""
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) smoke=1 ;;
        --ci) ci=1 ;;
        --summary) summary="$2"; shift ;;
        --summary=*) summary="${1#--summary=}" ;;
        --seconds) seconds="$2"; shift ;;
        --seconds=*) seconds="${1#--seconds=}" ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1") ;;
    esac
    shift
done
if [ -z "$seconds" ]; then
    if [ "$ci" = 1 ]; then seconds=10; elif [ "$smoke" = 1 ]; then seconds=5; else seconds=600; fi
fi
features=()
if [ "$ci" = 1 ]; then
    features=(--no-default-features)
    [ ${#targets[@]} -gt 0 ] || mapfile -t targets < fuzz/targets-ci.txt
fi
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < fuzz/targets.txt

out="${FUZZ_OUT:-$root/fuzz/out}"
corpus_root="${FUZZ_CORPUS:-$root/fuzz/corpus}"
per_input_timeout="${FUZZ_TIMEOUT:-60}"
mkdir -p "$out" "$corpus_root"
t0=$(date +%s)

# libFuzzer is C++ compiled by libfuzzer-sys's build script.
if ! command -v c++ >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing a C++ compiler (g++) for libFuzzer"
        timeout 600 apt-get install -y -q g++ >/dev/null || { apt-get update -q >/dev/null && timeout 600 apt-get install -y -q g++ >/dev/null; }
    else
        echo "fuzz.sh: a C++ compiler (c++) is needed to build libFuzzer" >&2
        exit 2
    fi
fi

host=$(rustc -vV | sed -n 's/^host: //p')
# The instrumentation cargo-fuzz uses (`cargo fuzz run -s none`); `--target` keeps it off the
# build scripts and proc macros.
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$root/fuzz/target}"
echo "== building the fuzz targets (release, instrumented, $host)"
bin_args=()
for t in "${targets[@]}"; do bin_args+=(--bin "$t"); done
nice -n 10 cargo build --locked --release --quiet --manifest-path fuzz/Cargo.toml \
    --target "$host" ${features[@]+"${features[@]}"} "${bin_args[@]}"
t_built=$(date +%s)
echo "   built in $((t_built - t0)) s"

dict_of() {
    case "$1" in
        kg2_*|issuer_session|middleware_session) echo fuzz/dict/keygen2.dict ;;
        shim_line) echo fuzz/dict/shim.dict ;;
        target_toml) echo fuzz/dict/toml.dict ;;
        scenario_toml) echo fuzz/dict/scenario.dict ;;
        native_messaging) echo fuzz/dict/native.dict ;;
        *) echo "" ;;
    esac
}

rows=()
md=()
failed=0
for t in "${targets[@]}"; do
    bin="$CARGO_TARGET_DIR/$host/release/$t"
    corpus="$corpus_root/$t"
    art="$out/$t/artifacts"
    log="$out/$t/fuzz.log"
    mkdir -p "$corpus" "$art"
    before=$(find "$art" -type f | wc -l)
    dict=$(dict_of "$t")
    args=(-max_total_time="$seconds" -print_final_stats=1 -timeout="$per_input_timeout"
          -rss_limit_mb=4096 -artifact_prefix="$art/")
    [ -n "$dict" ] && args+=(-dict="$root/$dict")
    ts=$(date +%s)
    set +e
    dirs=("$corpus")
    [ -d "fuzz/regressions/$t" ] && dirs+=("$root/fuzz/regressions/$t")
    AIRTIGHT_FUZZ_SEEDS="$corpus" timeout $((seconds + per_input_timeout + 120)) \
        nice -n 10 "$bin" "${args[@]}" "${dirs[@]}" >"$log" 2>&1
    rc=$?
    set -e
    te=$(date +%s)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | sed 's/cov: //' || true)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | sed 's/ft: //' || true)
    files=$(find "$corpus" -type f | wc -l)
    after=$(find "$art" -type f | wc -l)
    found=$((after - before))
    verdict=ok
    if [ "$rc" != 0 ] || [ "$found" != 0 ]; then
        verdict="FINDING (exit $rc, $found new artifact(s) in $art)"
        failed=1
        grep -m3 -E 'oracle violated|panicked|ERROR: libFuzzer|deadly signal|SUMMARY' "$log" | sed 's/^/      /' || true
    fi
    md+=("| \`$t\` | ${execs:-?} | ${cov:-?} | ${ft:-?} | $files | $((te - ts)) | $found | $verdict |")
    rows+=("$(printf '%-44s %10s %7s %7s %7s %5ss  %s' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$files" "$((te - ts))" "$verdict")")
    echo "   $t: ${execs:-?} executions, ${cov:-?} edges, $verdict"
done

echo
echo "== fuzz summary ($seconds s per target; logs and artifacts in $out)"
printf '%-44s %10s %7s %7s %7s %6s  %s\n' target executions edges features corpus time findings
for r in "${rows[@]}"; do echo "$r"; done
echo "== total $(( $(date +%s) - t0 )) s (build $((t_built - t0)) s)"
if [ -n "$summary" ]; then
    mkdir -p "$(dirname "$summary")"
    {
        echo "# Fuzz run summary"
        echo
        echo "Generated by \`scripts/fuzz.sh --seconds $seconds --summary ...\` on $(date -u +%Y-%m-%d) ($host,"
        echo "$(nproc) cores, one target at a time under \`nice -n 10\`; the corpus kept from earlier runs"
        echo "counts). Edges and features are libFuzzer's \`cov:\` and \`ft:\` of the last status line;"
        echo "corpus is the number of inputs in the target's corpus at the end; findings are new crash,"
        echo "timeout or out-of-memory inputs (fuzz/README.md)."
        echo
        echo "| target | executions | edges (cov) | features (ft) | corpus | seconds | findings | verdict |"
        echo "|---|---:|---:|---:|---:|---:|---:|---|"
        for r in "${md[@]}"; do echo "$r"; done
        echo
        echo "Build $((t_built - t0)) s, total $(( $(date +%s) - t0 )) s."
    } >"$summary"
    echo "== summary written to $summary"
fi
exit "$failed"
