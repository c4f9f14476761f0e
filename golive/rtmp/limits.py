"""The RTMP listener's limits: how long a connection may take to start and may stay silent, how
big one message may be, how much one connection may hold of messages not yet complete and on how
many chunk streams, how many connections may be open at once, and what a connection that is
not publishing yet may hold and send."""

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
    # Seconds from connect to a publish request (and from the end of a publish to the next
    # one); defaults to 10, the handshake's own deadline: encoders publish within a second.
    publish_timeout: float = 10.0
    # Seconds a publish may wait for its authorization (the stream key's check, a remote
    # users service, the room registry) before it is refused; defaults to 10. The publish
    # deadline stops while an authorization runs, so without this a slow or hung users service
    # would hold every connection that asked, and its slot, for as long as it hangs.
    authorize_timeout: float = 10.0
    # Connections not publishing yet (from accept to an accepted publish) from one address, an
    # IPv6 /64 counting as one; defaults to 16. A newcomer past it closes the one of that
    # address that has been quiet the longest, so a publisher behind a shared address still
    # gets in. A local TLS terminator makes every publisher 127.0.0.1: raise it there.
    max_unpublished_per_address: int = 16
    # Connections not publishing yet, all addresses together; defaults to 256. A newcomer past
    # it (or past max_connections) closes the quietest of them rather than being refused.
    max_unpublished: int = 256
    # What a connection may send before its publish is accepted, per second with one second's
    # worth at once; default 100 messages and 64 KiB. The whole conversation of OBS or FFmpeg
    # (handshake, connect, createStream, publish) is about a dozen messages and 4 KB.
    unpublished_messages_per_second: int = 100
    unpublished_bytes_per_second: int = 64 * 1024
    # Seconds of a publisher's stream that may gather in the kernel between two messages
    # before golive reads them (golive/rtmp/server.py, _start_batching); defaults to 0.02.
    # Waking once per such batch instead of once per socket read halves the CPU of live
    # ingest; a frame is read up to that much later. 0 reads between messages at once (a
    # message in progress is still read when complete, which delays nothing).
    read_batch: float = 0.02
