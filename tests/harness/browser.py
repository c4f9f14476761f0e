"""hls.js in Debian's headless Chromium, driven by Playwright: where they are, and how
Chromium is started."""

from __future__ import annotations

import shutil

from tests.harness.paths import ROOT

HLS_JS = ROOT / "web" / "node_modules" / "hls.js" / "dist" / "hls.min.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless Debian Chromium as root, with nothing reaching out to the closed network.
BROWSER_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip
