#!/usr/bin/env bash
# Builds golive's web pages (by Vite, from web/ into golive/static/, where golive serves them
# and a wheel picks them up) when they are missing or older than their sources, installing
# web/node_modules (npm ci, pinned by web/package-lock.json) when missing or older than the
# lock file. Nothing of either is committed. Exits non-zero when the pages
# cannot be built (no npm, or a Node.js older than Vite needs).
set -euo pipefail
cd "$(dirname "$0")/../web"

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "build_web: Node.js and npm are needed to build the web pages" >&2
  exit 1
fi
# Vite 8 needs Node.js 20.19 or newer (Debian 13 has it; Debian 12's own nodejs 18 does not).
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
              process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "build_web: Node.js $(node --version) is too old to build the web pages;" \
       "Vite needs 20.19 or newer" >&2
  exit 1
fi

# npm ci writes node_modules/.package-lock.json: older than package-lock.json means stale.
if [ ! -e node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
   || [ ! -x node_modules/.bin/vite ]; then
  echo "build_web: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

OUT=../golive/static  # vite.config.js's outDir
if [ ! -e "$OUT/index.html" ] || [ -n "$(find src public index.html vite.config.js package-lock.json \
     -newer "$OUT/index.html" -print -quit 2>/dev/null)" ]; then
  echo "build_web: npm run build"
  npm run --silent build >/dev/null
fi
