#!/usr/bin/env bash
# airtight's test command (README.md, "Test"). Runs on a fresh Debian 12 machine as root or as a
# developer; installs what it needs itself.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test (workspace)"
cargo test --workspace --locked

echo "== fuzz smoke: the CI set of libFuzzer targets, 10 s each from the seeds, failing on any finding (fuzz/README.md)"
bash scripts/fuzz.sh --ci

echo "== the pure-Rust crypto backend (airtight-proto with RustCrypto as the default provider)"
cargo test --locked -p airtight-proto --no-default-features --features rustcrypto

echo "== vectors are what the generators produce"
cargo run --locked -q -p airtight-vectors -- regen --check

echo "== the SKS over APDUs through real PC/SC (pcscd + vsmartcard vpcd; installs them if missing)"
bash scripts/pcsc-stack.sh cargo test --locked -p airtight-bindings --features pcsc --test pcsc -- --test-threads=1

echo "== the airtight CLI through real PC/SC: card serve --vpcd, enroll/card --reader, card removal"
bash scripts/pcsc-stack.sh cargo test --locked -p airtight-cli --features pcsc --test pcsc_cli -- --test-threads=1

echo "== the browser path in real headless Chromium (installs Debian's chromium if missing)"
bash scripts/chromium.sh cargo test --locked -p airtight-cli --test browser_chromium -- --nocapture

echo "== the browser path with the card in pcscd's virtual reader, pulled mid-session"
bash scripts/pcsc-stack.sh bash scripts/chromium.sh cargo test --locked -p airtight-cli --features pcsc --test browser_chromium card_pulled -- --nocapture


echo "== published reports: the harness against every reference target, vectors, benches (reports/)"
bash scripts/publish-reports.sh reports
