"""HTTP workers: more processes that serve golive's public HTTP port beside the primary.

The primary is golive as it runs with one worker (RTMP, ingest, packaging, accounts, API,
pages). With ``workers`` above one it also listens on a unix socket of its own, and starts
``workers - 1`` worker processes (``python -m golive.edge``) that bind the same public port
with SO_REUSEPORT, so the kernel spreads connections over every process. A worker keeps a
collapsing cache of the primary's HLS (``cache``) and passes everything else through to the
primary (``worker``); the primary starts, restarts and stops them (``supervisor``) and takes
their viewer sightings and their clients' addresses only over the unix socket (``internal``).
"""

from __future__ import annotations

# Where a worker reports the players it served (POST, over the unix socket only).
VIEWERS_PATH = "/_workers/viewers"
# The header a worker names its client in on the unix socket; believed from there only.
CLIENT_HEADER = "X-Forwarded-For"
# Seconds between two viewer reports of a worker: well within the viewers' 30 s window.
REPORT_INTERVAL = 2.0
