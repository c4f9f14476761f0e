#!/usr/bin/env bash
# Installs golive into .venv, builds its web pages when needed (scripts/build_web.sh) and runs
# `golive serve` (arguments are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
# The web pages, when missing or older than their sources. golive serves the API and HLS
# without them (and says at / how to build them), so a failed build does not stop it.
./scripts/build_web.sh || echo "serve.sh: the web pages are not built; golive runs without them" >&2
exec .venv/bin/golive serve "$@"
