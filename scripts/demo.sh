#!/usr/bin/env bash
# Sets camscan up and scans the built-in demo lab (network namespaces; no real network touched).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/camscan demo "$@"
