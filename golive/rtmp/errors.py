"""Errors of the RTMP core.

As in h11: "the peer sent bad bytes" (``ProtocolError``) and "the caller misused the
API" (``LocalProtocolError``) are different classes. The asyncio shell closes a
connection on ``ProtocolError`` and logs the message, which names the reason.
"""


class RtmpError(Exception):
    """Base of every error raised by ``golive.rtmp``."""


class ProtocolError(RtmpError):
    """The peer sent something that breaks the protocol; the connection must close."""


class UnsupportedCodecError(ProtocolError):
    """The publisher sends a codec golive cannot package; the publish is refused."""


class LocalProtocolError(RtmpError):
    """The application called the core in a state where that call makes no sense."""
