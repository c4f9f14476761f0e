#!/usr/bin/env bash
# Installs golive into .venv and runs `golive serve` (arguments are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/golive serve "$@"
