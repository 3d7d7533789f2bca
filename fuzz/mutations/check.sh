#!/usr/bin/env bash
# Shows that the fuzz oracles can fail (fuzz/README.md, "Oracles shown to fail"): applies each
# deliberate mutation of fuzz/mutations/ to the source tree, fuzzes the target that should
# catch it from its seeds alone, requires a finding naming the broken oracle, and reverts the
# mutation (also on error or interrupt). Run from a clean tree; takes a few minutes per mutation
# (the mutated crate and its dependents are rebuilt).
#
#   bash fuzz/mutations/check.sh [SECONDS [PATCH...]]   # fuzzing time per mutation (default
#                                                       # 120), only these patches
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-120}"
only=("${@:2}")

# patch | fuzz.sh options | target | text the finding must contain
cases=(
    "alloc-before-length-check.patch|--ci|native_messaging|allocation bound"
    "card-commit-before-check.patch||card_calls|changePin was rejected"
    "issuer-failed-session-stays-open.patch||issuer_session|refused, but phase"
)

applied=""
revert() {
    if [ -n "$applied" ]; then
        git apply -R "fuzz/mutations/$applied"
        applied=""
    fi
}
trap revert EXIT INT TERM

failed=0
results=()
for c in "${cases[@]}"; do
    IFS='|' read -r patch opts target expect <<<"$c"
    if [ ${#only[@]} -gt 0 ] && [[ ! " ${only[*]} " == *" $patch "* ]]; then
        continue
    fi
    git apply --check "fuzz/mutations/$patch"
    git apply "fuzz/mutations/$patch"
    applied="$patch"
    name="${patch%.patch}"
    out="fuzz/out-mutations/$name"
    rm -rf "$out" "fuzz/corpus-mutations/$name"
    mkdir -p "$out"
    set +e
    # shellcheck disable=SC2086
    FUZZ_OUT="$out" FUZZ_CORPUS="fuzz/corpus-mutations/$name" \
        bash scripts/fuzz.sh $opts --seconds "$seconds" "$target" >"$out.log" 2>&1
    rc=$?
    set -e
    revert
    if [ "$rc" = 1 ] && grep -q "oracle violated: .*$expect" "$out/$target/fuzz.log"; then
        line=$(grep -m1 -o "oracle violated: .*" "$out/$target/fuzz.log" | cut -c1-110)
        results+=("caught   $patch by $target: $line")
    else
        results+=("MISSED   $patch by $target (exit $rc; see $out.log)")
        failed=1
    fi
done
echo "== oracles against deliberate mutations ($seconds s each)"
for r in "${results[@]}"; do echo "$r"; done
exit "$failed"
