"""TLS for RTMPS ingest and HTTPS: one server context, its certificate replaced in place.

Encoders publish to ``rtmps://`` (OBS, ffmpeg, GStreamer's rtmp2sink): RTMP inside a TLS
connection (RFC 8446 for TLS 1.3), nothing else changes. Certificates from ACME clients live
for weeks, so an operator renews them without a restart: on SIGHUP the new chain is loaded
into the same ``ssl.SSLContext``, which every listener holds. OpenSSL copies a context's
certificate into each connection when its handshake starts, so live publishers and viewers
keep their connections, and every handshake after the reload presents the new certificate.
A chain that does not load (a half-written file, a key that does not match) leaves the old
one in place, with a log line.
"""

from __future__ import annotations

import logging
import ssl
import tempfile
from pathlib import Path

log = logging.getLogger("golive.tls")


class TlsError(Exception):
    """The certificate or key cannot be used; the message says which and why."""


class ServerTls:
    """The server side of TLS for golive's listeners, from PEM files."""

    def __init__(self, cert: str | Path, key: str | Path) -> None:
        self.cert = Path(cert)
        self.key = Path(key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # TLS 1.2 is what OBS's and ffmpeg's TLS libraries (mbedTLS, OpenSSL, GnuTLS) all
        # speak; nothing older.
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context = context
        self._load()

    def _load(self) -> None:
        """Load the files into the live context, once they are known to load.

        OpenSSL installs a chain before it checks the key against it, so a pair that fails
        (a renewed certificate beside the old key) would leave a live context with a
        certificate and a key that do not match, and every handshake after it would fail. So
        the bytes are read once, into a private folder, tried on a context of their own, and
        only then loaded into the live one: a file replaced meanwhile changes nothing."""
        try:
            chain, key = self.cert.read_bytes(), self.key.read_bytes()
        except FileNotFoundError as exc:
            raise TlsError(f"cannot read {exc.filename}: no such file") from None
        except PermissionError as exc:
            raise TlsError(f"cannot read {exc.filename}: permission denied") from None
        except OSError as exc:
            raise TlsError(f"cannot read {exc.filename}: {exc.strerror}") from None
        with tempfile.TemporaryDirectory(prefix="golive-tls-") as folder:
            chain_file, key_file = Path(folder, "chain.pem"), Path(folder, "key.pem")
            chain_file.write_bytes(chain)
            key_file.write_bytes(key)  # the folder is the user's alone (mkdtemp: 0700)
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(chain_file, key_file)
            except (ssl.SSLError, OSError) as exc:
                # OpenSSL's reason, e.g. "KEY_VALUES_MISMATCH" or "PEM lib".
                reason = getattr(exc, "reason", None) or exc.__class__.__name__
                raise TlsError(
                    f"cannot use certificate {self.cert} with key {self.key}: {reason}"
                ) from None
            self.context.load_cert_chain(chain_file, key_file)

    def reload(self) -> bool:
        """Load the files again (SIGHUP); False, with the old certificate kept, if they do
        not load."""
        try:
            self._load()
        except TlsError as exc:
            log.error("TLS: %s; still presenting the previous certificate", exc)
            return False
        log.info("TLS: certificate %s loaded again", self.cert)
        return True
