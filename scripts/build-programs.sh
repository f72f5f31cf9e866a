#!/usr/bin/env bash
# Builds the on-chain programs (programs/, their own workspace) for the Solana VM with upstream
# rustc + sbpf-linker 0.1.9 (see shared/solana-toolchain.md), copies each .so to programs/bin/ and
# checks it against programs/bin/SHA256SUMS.
#
#   scripts/build-programs.sh            build, fail loudly if any .so differs from SHA256SUMS
#   scripts/build-programs.sh --update   build, copy the .so files and rewrite SHA256SUMS
#   scripts/build-programs.sh --check-toolchain   exit 0 when the toolchain is (or can be) installed
#
# Exit status 3 means the toolchain could not be installed (no sbpf-linker or rust-src); callers
# then fall back to the committed .so files.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=check
case "${1:-}" in
  --update) mode=update ;;
  --check-toolchain) mode=toolchain ;;
  "") ;;
  *) echo "usage: $0 [--update|--check-toolchain]" >&2; exit 2 ;;
esac

toolchain() {
  if ! command -v sbpf-linker >/dev/null 2>&1; then
    echo "build-programs: installing sbpf-linker 0.1.9" >&2
    cargo install sbpf-linker@0.1.9 --locked >&2 || return 3
  fi
  if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
    echo "build-programs: installing rust-src" >&2
    rustup component add rust-src >&2 || return 3
  fi
}

if ! toolchain; then
  echo "build-programs: the SBF toolchain (sbpf-linker 0.1.9, rust-src) could not be installed" >&2
  exit 3
fi
[ "$mode" = toolchain ] && exit 0

# A separate target dir keeps the host CARGO_TARGET_DIR (if exported) out of the SBF build.
target="$PWD/programs/target"
# Panic locations embed source paths; map the machine-specific prefixes away so every checkout
# and CARGO_HOME builds the same bytes. (--config arrays are appended to programs/.cargo's flags.)
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
sysroot="$(rustc --print sysroot)"
remap="target.bpfel-unknown-none.rustflags=[\"--remap-path-prefix=${cargo_home}=/cargo\", \"--remap-path-prefix=${sysroot}=/rust\", \"--remap-path-prefix=${PWD}/programs=/programs\"]"
(cd programs && CARGO_TARGET_DIR="$target" RUSTC_BOOTSTRAP=1 cargo build --release --locked --config "$remap")

mkdir -p programs/bin
status=0
for so in "$target"/bpfel-unknown-none/release/lib*.so; do
  name="$(basename "$so" .so)"
  name="${name#lib}"
  name="${name%_program}"
  name="${name#mppsol_}"
  dest="programs/bin/${name}.so"
  if [ "$mode" = update ]; then
    cp "$so" "$dest"
  else
    want="$(grep " ${name}.so\$" programs/bin/SHA256SUMS 2>/dev/null | cut -d' ' -f1 || true)"
    got="$(sha256sum "$so" | cut -d' ' -f1)"
    if [ -z "$want" ]; then
      echo "build-programs: MISMATCH ${name}.so has no entry in programs/bin/SHA256SUMS (run with --update)" >&2
      status=1
    elif [ "$want" != "$got" ]; then
      echo "build-programs: MISMATCH ${name}.so: built $got, committed $want (run with --update and commit)" >&2
      status=1
    elif ! cmp -s "$so" "$dest"; then
      echo "build-programs: MISMATCH programs/bin/${name}.so differs from SHA256SUMS" >&2
      status=1
    else
      echo "build-programs: ${name}.so ok ($got)"
    fi
  fi
done
if [ "$mode" = update ]; then
  (cd programs/bin && sha256sum -- *.so > SHA256SUMS)
  cat programs/bin/SHA256SUMS
fi
exit $status
