"""The RTMP handshake, server side (RTMP 1.0, 5.2).

Client sends C0 (version) and C1 (1536 bytes), the server answers S0, S1 and S2 (an echo of
C1), then the client sends C2 (an echo of S1). golive answers the plain handshake: S1 carries
zero "version" bytes, which tells digest-speaking clients (FFmpeg, librtmp, Flash) to skip
digest verification. Publishers accept that; only players built on Flash needed the digest
variant, and golive serves players over HLS, not RTMP.
"""

from __future__ import annotations

import os

from .errors import ProtocolError

RTMP_VERSION = 3
HANDSHAKE_SIZE = 1536

# First bytes of protocols that people point at the RTMP port by mistake, so the log line
# can say what happened instead of "bad version".
_MISDIRECTED = {
    0x16: "a TLS handshake on the plain RTMP port (use rtmp://, not rtmps://)",
    ord("G"): "an HTTP request on the RTMP port",
    ord("P"): "an HTTP request on the RTMP port",
    ord("H"): "an HTTP request on the RTMP port",
}


class ServerHandshake:
    """Consumes C0+C1 and C2; produces S0+S1+S2. Sans-I/O: bytes in, bytes out."""

    __slots__ = ("_buffer", "_s1", "done", "outgoing")

    def __init__(self) -> None:
        self._buffer = b""
        # 4 bytes time, 4 zero bytes (the plain handshake), 1528 random bytes (5.2.3).
        self._s1 = bytes(8) + os.urandom(HANDSHAKE_SIZE - 8)
        self.outgoing = b""
        self.done = False

    def receive(self, data: bytes) -> bytes:
        """Feed bytes; return the bytes left over once the handshake is complete.

        After C0+C1 have arrived, ``outgoing`` holds S0+S1+S2 for the caller to send.
        """
        buf = self._buffer + data if self._buffer else data
        if not self._s1:
            # C0 and C1 already answered; wait for C2.
            if len(buf) < HANDSHAKE_SIZE:
                self._buffer = buf
                return b""
            self._buffer = b""
            self.done = True
            return buf[HANDSHAKE_SIZE:]
        if not buf:
            return b""
        version = buf[0]
        if version != RTMP_VERSION:
            reason = _MISDIRECTED.get(version)
            if reason is not None:
                raise ProtocolError(f"not RTMP: {reason}")
            raise ProtocolError(f"unsupported RTMP handshake version {version} (expected 3)")
        if len(buf) < 1 + HANDSHAKE_SIZE:
            self._buffer = buf
            return b""
        c1 = buf[1 : 1 + HANDSHAKE_SIZE]
        # S2 echoes C1's time and random bytes; the second time field is when C1 was read,
        # which nobody checks, so it stays zero (5.2.4).
        s2 = c1[:4] + bytes(4) + c1[8:]
        self.outgoing = bytes((RTMP_VERSION,)) + self._s1 + s2
        self._s1 = b""
        self._buffer = b""
        return self.receive(buf[1 + HANDSHAKE_SIZE :]) if len(buf) > 1 + HANDSHAKE_SIZE else b""
