#!/usr/bin/env bash
# Installs everything the tests need (Debian packages when missing, Python packages in .venv)
# and runs the whole suite: lint, format check, type check, unit, integration and e2e tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need_debs=()
command -v ffmpeg >/dev/null || need_debs+=(ffmpeg)
command -v gst-launch-1.0 >/dev/null || need_debs+=(gstreamer1.0-tools)
# hls.js runs in Debian's Chromium, driven by Playwright (no browser download).
command -v chromium >/dev/null || need_debs+=(chromium)
command -v npm >/dev/null || need_debs+=(npm)
# rtmp2sink (GStreamer's own RTMP client), flvmux, x264enc, avenc_aac for the GStreamer publisher.
gst-inspect-1.0 rtmp2sink >/dev/null 2>&1 || need_debs+=(gstreamer1.0-plugins-bad)
# nginx-rtmp in front of golive, calling its rooms callbacks (tests/e2e/test_nginx_callbacks.py).
[ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] || need_debs+=(nginx libnginx-mod-rtmp)
# Varnish as a caching edge in front of golive, from deploy/varnish (tests/e2e/test_edges.py).
command -v varnishd >/dev/null || [ -x /usr/sbin/varnishd ] || need_debs+=(varnish)
# A real Prometheus scraping golive's /metrics (tests/e2e/test_metrics.py).
command -v prometheus >/dev/null || need_debs+=(prometheus)
# The TLS tests make their certificates with the openssl command (tests/e2e/test_tls.py).
command -v openssl >/dev/null || need_debs+=(openssl)
if [ ${#need_debs[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_debs[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${need_debs[@]}" gstreamer1.0-plugins-bad gstreamer1.0-plugins-good \
    gstreamer1.0-plugins-ugly gstreamer1.0-libav >/dev/null
fi

# hls.js, Vue and Vite come from npm, pinned by web/package-lock.json; the browser tests play
# with hls.js and drive the built pages (golive/static). Nothing of either is committed.
./scripts/build_web.sh

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

# The contract tests need Redis on 127.0.0.1:6379: they fail, not skip, without it.
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "installing Debian packages: redis-server"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      redis-server >/dev/null
  fi
  # Test data only: no snapshot, no append-only file.
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    >/dev/null
  for _ in $(seq 50); do
    redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break
    sleep 0.2
  done
  redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || {
    echo "Redis did not answer on 127.0.0.1:6379" >&2
    exit 1
  }
fi

# MongoDB is no Debian or PyPI package: the contract tests start nx-27017 (a MongoDB
# wire-protocol server on SQLite, from the test extras above) on a free loopback port for their
# run, unless GOLIVE_TEST_MONGODB_URL names a MongoDB to run them against instead.

echo "== ruff"
.venv/bin/ruff check golive tests scripts
.venv/bin/ruff format --check golive tests scripts
echo "== generated gRPC code"
./scripts/gen_grpc.sh --check
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
