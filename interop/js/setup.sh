#!/usr/bin/env bash
# Installs the pinned @solana/mpp SDK (and @solana/kit, mppx, viem) into interop/js/node_modules
# for tests/e2e/interop_solana_mpp.rs and bench.sh. Run by .ci/run; idempotent; fails loudly.
set -euo pipefail
cd "$(dirname "$0")"

fail() { echo "interop/js/setup.sh: $*" >&2; exit 1; }
command -v node >/dev/null 2>&1 || fail "node is not installed (Node 20+ is needed)"
command -v npm >/dev/null 2>&1 || fail "npm is not installed"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || fail "Node $(node --version) is too old; Node 20+ is needed"

stamp=node_modules/.mppsol-setup-stamp
want=""
if [ -f package-lock.json ]; then
  want=$(sha256sum package.json package-lock.json | sha256sum | cut -d' ' -f1)
fi

if [ -n "$want" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "interop/js: node_modules already matches package-lock.json"
else
  if [ -f package-lock.json ]; then
    # .npmrc sets legacy-peer-deps (see there); npm ci installs exactly the lock.
    npm ci --no-audit --no-fund || fail "npm ci failed"
  else
    npm install --legacy-peer-deps --no-audit --no-fund || fail "npm install failed"
    want=$(sha256sum package.json package-lock.json | sha256sum | cut -d' ' -f1)
  fi
fi

# The pinned versions really are the ones installed, and the SDK entry points load on this Node.
node --input-type=module -e '
import { readFileSync } from "node:fs";
const installed = (name) => JSON.parse(readFileSync(`node_modules/${name}/package.json`, "utf8")).version;
const expect = { "@solana/mpp": "0.6.0", "mppx": "0.11.0", "viem": "2.57.1" };
for (const [name, version] of Object.entries(expect)) {
  const got = installed(name);
  if (got !== version) { console.error(`${name}: installed ${got}, pinned ${version}`); process.exit(1); }
}
const kit = installed("@solana/kit");
if (!kit.startsWith("8.")) { console.error(`@solana/kit: installed ${kit}, want 8.x`); process.exit(1); }
await import("@solana/mpp/client");
await import("@solana/mpp/server");
' || fail "the installed SDK does not load or is not the pinned version"
echo "$want" > "$stamp"
echo "interop/js: @solana/mpp 0.6.0 ready ($(node --version))"
