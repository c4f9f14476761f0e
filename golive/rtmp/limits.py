"""The RTMP listener's limits: how long a connection may take to start and may stay silent, how
big one message may be, and how many connections may be open at once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RtmpLimits:
    """Per-connection limits; each default is given here where it is declared."""

    handshake_timeout: float = 10.0  # seconds from accept to a finished handshake and connect
    idle_timeout: float = 30.0  # seconds without a byte from the peer
    max_message_size: int = 16 * 1024 * 1024  # bytes; RTMP's 24-bit length allows 16 MiB
    max_connections: int = 1000  # at once, publishers and half-open sockets alike
