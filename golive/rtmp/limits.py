"""The RTMP listener's limits: how long a connection may take to start and may stay silent, how
big one message may be, how much one connection may hold of messages not yet complete and on how
many chunk streams, and how many connections may be open at once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RtmpLimits:
    """Per-connection limits; each default is given here where it is declared."""

    handshake_timeout: float = 10.0  # seconds from accept to a finished handshake and connect
    idle_timeout: float = 30.0  # seconds without a byte from the peer
    max_message_size: int = 16 * 1024 * 1024  # bytes; RTMP's 24-bit length allows 16 MiB
    max_connections: int = 1000  # at once, publishers and half-open sockets alike
    # Bytes one connection may hold in messages not yet complete, all chunk streams together,
    # with the chunk in flight; defaults to 17 MiB: a message of the largest size plus 1 MiB
    # of audio and data interleaved with it (encoders keep one message pending at a time).
    max_pending_bytes: int = 17 * 1024 * 1024
    # Chunk stream ids one connection may use; defaults to 64. Encoders use a handful (2 to 8
    # for FFmpeg, OBS and GStreamer) and each id's state is kept for the connection's life.
    max_chunk_streams: int = 64
