#!/usr/bin/env bash
# Installs this peer SDK (filled in by its interop work); run by .ci/run.
set -euo pipefail
