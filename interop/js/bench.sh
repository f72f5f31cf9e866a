#!/usr/bin/env bash
# Paid requests per second: `mppsol serve` vs the @solana/mpp server, same localnet, same load
# generator (@solana/mpp's client), same run. See bench.mjs for what is measured and
# BENCHMARKS.md for results. Extra arguments go to bench.mjs (e.g. --runs 7 --concurrency 32).
#
#   bash interop/js/bench.sh [--concurrency 16] [--duration 15] [--runs 5] [--out FILE]
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
case "$CARGO_TARGET_DIR" in /*) ;; *) CARGO_TARGET_DIR="$root/$CARGO_TARGET_DIR" ;; esac

bash ./setup.sh
(cd "$root" && cargo build --release --locked -q -p mppsol-cli --bin mppsol)
exec node bench.mjs --mppsol "$CARGO_TARGET_DIR/release/mppsol" "$@"
