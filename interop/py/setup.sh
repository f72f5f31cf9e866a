#!/usr/bin/env bash
# Installs the peer SDK solana-pay-kit (PyPI) into interop/py/.venv, pinned by requirements.txt;
# run by .ci/run. Idempotent: a venv already holding exactly these pins is left as it is.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"

py="${PYTHON:-python3}"
command -v "$py" >/dev/null 2>&1 || { echo "interop/py: '$py' not found (CPython >= 3.11 needed)" >&2; exit 1; }
"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "interop/py: solana-pay-kit needs Python >= 3.11, found $("$py" --version 2>&1)" >&2; exit 1; }

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
  && "$venv/bin/python" -c 'import solana_pay_kit, solders, solana' 2>/dev/null; then
  echo "interop/py: .venv is up to date"
  exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
  rm -rf "$venv"
  "$py" -m venv "$venv" || { echo "interop/py: python3 -m venv failed (apt-get install python3-venv?)" >&2; exit 1; }
fi
rm -f "$stamp"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  --require-virtualenv -r "$req" \
  || { echo "interop/py: pip install -r requirements.txt failed" >&2; exit 1; }
# Nothing beyond the pins may have come in, and the SDK must import.
"$venv/bin/python" -m pip check
"$venv/bin/python" - <<'PY'
import importlib.metadata as md
import solana_pay_kit, solders, solana  # noqa: F401
v = md.version("solana-pay-kit")
assert v == "0.10.0", f"solana-pay-kit {v} installed, 0.10.0 pinned"
PY
echo "$want" > "$stamp"
echo "interop/py: solana-pay-kit $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("solana-pay-kit"))') installed in $venv"
