#!/usr/bin/env bash
# airtight's test command (README.md, "Test"). Runs on a fresh Debian 12 machine as root or as a
# developer; installs what it needs itself.
set -euo pipefail
cd "$(dirname "$0")/.."

# cargo-nextest (on this project's CI machines) runs the test binaries side by side, one process per
# test, which keeps both cores busy through the long crash-point and self-test tests; doctests go
# through cargo test. Without nextest, plain cargo test runs the same tests one binary at a time.
if cargo nextest --version >/dev/null 2>&1; then
  echo "== cargo nextest run (workspace) and doctests"
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --locked --doc
else
  echo "== cargo test (workspace); cargo-nextest is not installed, so test binaries run one at a time"
  cargo test --workspace --locked
fi

echo "== fuzz smoke: the CI set of libFuzzer targets, 5 s each from the seeds, failing on any finding (fuzz/README.md)"
bash scripts/fuzz.sh --ci --seconds 5 --summary reports/fuzz/ci-summary.md

echo "== the pure-Rust crypto backend (airtight-proto with RustCrypto as the default provider)"
cargo test --locked -p airtight-proto --no-default-features --features rustcrypto

echo "== vectors are what the generators produce"
cargo run --locked -q -p airtight-vectors -- regen --check

echo "== the SKS over APDUs through real PC/SC (pcscd + vsmartcard vpcd; installs them if missing)"
bash scripts/pcsc-stack.sh cargo test --locked -p airtight-bindings --features pcsc --test pcsc -- --test-threads=1

echo "== the airtight CLI through real PC/SC: card serve --vpcd, enroll/card --reader, card removal"
bash scripts/pcsc-stack.sh cargo test --locked -p airtight-cli --features pcsc --test pcsc_cli -- --test-threads=1

echo "== the issuer store on PostgreSQL and three issuer nodes on one database (private instance; installs postgresql if missing)"
# --workspace: the test binaries (and feature set) of the workspace step above, nothing rebuilt.
bash scripts/postgres.sh bash -c 'cargo test --workspace --locked --lib db::tests:: &&
  cargo test --workspace --locked --test issuer_nodes_pg -- --test-threads=1'

echo "== the browser path in real headless Chromium (installs Debian's chromium if missing), and with the card in pcscd's virtual reader, pulled mid-session"
# One run with the pcsc feature (the test binaries of the pcsc_cli step above, nothing rebuilt):
# the enrolment test uses a file card and runs the same with or without the feature.
bash scripts/pcsc-stack.sh bash scripts/chromium.sh cargo test --locked -p airtight-cli --features pcsc --test browser_chromium -- --nocapture --test-threads=1


echo "== published reports: the harness against every reference target, vectors, benches (reports/)"
bash scripts/publish-reports.sh reports
