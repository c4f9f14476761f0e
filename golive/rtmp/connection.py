"""The server side of an RTMP publishing connection, as a sans-I/O state machine.

Bytes go in with ``receive_data``, which returns events; bytes to send come out of
``data_to_send``. Decisions the application makes asynchronously (may this stream key
publish?) come back in as ``accept_publish`` / ``reject_publish``. The core never reads a
clock and never touches a socket.

The conversation (RTMP 1.0, 7.2.1.1 and 7.3.1; what OBS and FFmpeg really send is in
docs/protocol-notes.md, "RTMP session")::

    C: handshake                      S: handshake
    C: connect(app)                   S: Window Ack Size, Set Peer Bandwidth, Set Chunk Size,
                                         _result(NetConnection.Connect.Success)
    C: releaseStream, FCPublish       S: _result, onFCPublish
    C: createStream                   S: _result(stream id 1)
    C: publish(key[?args], "live")    -> PublishRequested ... accept_publish()
                                      S: Stream Begin, onStatus(NetStream.Publish.Start)
    C: @setDataFrame(onMetaData), audio, video ...
    C: FCUnpublish, deleteStream      -> PublishEnded
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from ..media import Sample
from . import amf0, flv
from .chunk import UNBOUNDED, ChunkReader, ChunkWriter
from .errors import LocalProtocolError, ProtocolError, UnsupportedCodecError
from .handshake import ServerHandshake
from .limits import RtmpLimits
from .messages import (
    COMMAND_CSID,
    CONTROL_CSID,
    MessageType,
    UserControlEvent,
    acknowledgement,
    parse_user_control,
    set_chunk_size,
    set_peer_bandwidth,
    split_aggregate,
    u32,
    user_control,
    window_ack_size,
)
from .timeline import Unwrapper

# Commands and data messages (connect, publish, onMetaData...) are a few hundred bytes from
# every encoder; 16 KiB leaves room for long metadata while an AMF decode of the worst input
# that size stays within a few milliseconds.
MAX_AMF_MESSAGE = 16 * 1024
_AMF_TYPES = frozenset(
    {
        MessageType.COMMAND_AMF0,
        MessageType.COMMAND_AMF3,
        MessageType.DATA_AMF0,
        MessageType.DATA_AMF3,
        MessageType.SHARED_OBJECT_AMF0,
        MessageType.SHARED_OBJECT_AMF3,
    }
)
# What an aggregate message may carry, and how many parts: servers that relay aggregate a
# few frames at a time.
_AGGREGATE_PARTS = frozenset(
    {MessageType.AUDIO, MessageType.VIDEO, MessageType.DATA_AMF0, MessageType.DATA_AMF3}
)
MAX_AGGREGATE_PARTS = 1024

# --- events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected:
    """The client sent ``connect`` and was answered (RTMP 1.0, 7.2.1.1)."""

    app: str
    tc_url: str
    flash_ver: str


@dataclass(frozen=True, slots=True)
class PublishRequested:
    """The client asks to publish; answer with ``accept_publish`` or ``reject_publish``.

    ``name`` is the stream key without its ``?query`` part; it is a secret: never log it.
    """

    stream_id: int
    app: str
    name: str
    query: str
    publish_type: str


@dataclass(frozen=True, slots=True)
class MetadataReceived:
    """``@setDataFrame("onMetaData", {...})`` (FLV 10.1, E.5 onMetaData)."""

    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PublishEnded:
    """The publisher stopped on purpose (``FCUnpublish``, ``deleteStream``, ``closeStream``)."""

    reason: str


@dataclass(frozen=True, slots=True)
class PublishFailed:
    """The stream cannot go on (an unsupported codec, say); the connection is closing."""

    reason: str


Event = (
    Connected
    | PublishRequested
    | MetadataReceived
    | PublishEnded
    | PublishFailed
    | flv.ConfigChanged
    | flv.EndOfSequence
    | flv.VideoMetadata
    | Sample
)


class State(enum.Enum):
    HANDSHAKE = "handshake"
    AWAIT_CONNECT = "await-connect"
    CONNECTED = "connected"
    PUBLISH_PENDING = "publish-pending"
    PUBLISHING = "publishing"
    CLOSED = "closed"


# Which commands each state takes, as data: one table to read and test instead of checks spread
# over the handlers. A command outside its state's set is ignored, except before ``connect``,
# where it is a protocol error.
_COMMANDS: dict[State, frozenset[str]] = {
    State.AWAIT_CONNECT: frozenset({"connect"}),
    State.CONNECTED: frozenset(
        {
            "releaseStream",
            "FCPublish",
            "createStream",
            "publish",
            "FCUnpublish",
            "deleteStream",
            "closeStream",
            "play",
            "getStreamLength",
            "_checkbw",
        }
    ),
    State.PUBLISH_PENDING: frozenset(
        {"createStream", "publish", "FCUnpublish", "deleteStream", "closeStream"}
    ),
    State.PUBLISHING: frozenset(
        {
            "releaseStream",
            "FCPublish",
            "createStream",
            "publish",
            "FCUnpublish",
            "deleteStream",
            "closeStream",
        }
    ),
    State.CLOSED: frozenset(),
}

SERVER_CHUNK_SIZE = 4096
DEFAULT_WINDOW = 2_500_000
_FOURCCS = ["avc1", "hvc1", "av01", "vp09", "Opus", "mp4a"]


@dataclass(slots=True)
class _Config:
    max_message_size: int
    window: int
    chunk_size: int


@dataclass(slots=True)
class _Publish:
    stream_id: int
    app: str
    clock: Unwrapper = field(default_factory=Unwrapper)


class RtmpConnection:
    """One client connection, server side."""

    def __init__(
        self,
        *,
        max_message_size: int = RtmpLimits().max_message_size,
        max_pending_bytes: int = RtmpLimits().max_pending_bytes,
        max_chunk_streams: int = RtmpLimits().max_chunk_streams,
        window: int = DEFAULT_WINDOW,
        chunk_size: int = SERVER_CHUNK_SIZE,
    ) -> None:
        self._config = _Config(max_message_size, window, chunk_size)
        self.state = State.HANDSHAKE
        self._handshake: ServerHandshake | None = ServerHandshake()
        self._reader = ChunkReader(max_message_size, max_pending_bytes, max_chunk_streams)
        self._writer = ChunkWriter()
        self._out: list[bytes] = []
        self._app = ""
        self._object_encoding = 0.0
        self._next_stream_id = 1
        self._publish: _Publish | None = None
        # Acknowledgements (RTMP 1.0, 5.4.3): the peer's window says how often to send them.
        self._ack_window = window
        self._received = 0
        self._acked = 0
        self.dropped_media = 0
        self.messages_received = 0  # every whole message, handled or dropped

    # --- public API ---------------------------------------------------------------------

    @property
    def publishing(self) -> bool:
        return self.state is State.PUBLISHING

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def publish_pending(self) -> bool:
        """A ``PublishRequested`` awaits ``accept_publish`` or ``reject_publish``. The peer may
        withdraw it (``deleteStream``, ``FCUnpublish``) while the application decides; then
        neither may be called."""
        return self.state is State.PUBLISH_PENDING

    @property
    def buffered(self) -> int:
        return self._reader.buffered

    @property
    def missing(self) -> int:
        """Bytes still to come before the message in progress completes (0 between
        messages): ``ChunkReader.missing``."""
        return 0 if self._handshake is not None else self._reader.missing

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes from the peer; return what they mean. Raises ``ProtocolError``."""
        return self.receive_some(data, 0, UNBOUNDED)[0]

    def receive_some(
        self, data: bytes, start: int = 0, budget: int = UNBOUNDED
    ) -> tuple[list[Event], int]:
        """Feed ``data`` from ``start`` until ``budget`` is spent (``ChunkReader.feed_some``);
        return what the bytes meant and where this stopped: ``len(data)`` once all of it was
        taken, short of it when the budget ran out (give the rest again later). Raises
        ``ProtocolError``."""
        end = len(data)
        if self.state is State.CLOSED or start >= end:
            return [], end
        offset = 0  # of ``data`` in the caller's bytes
        if self._handshake is not None:
            hs = self._handshake
            rest = hs.receive(data[start:] if start else data)
            if hs.outgoing:
                self._out.append(hs.outgoing)
                hs.outgoing = b""
            if not hs.done:
                return [], end
            self._handshake = None
            self.state = State.AWAIT_CONNECT
            if not rest:
                return [], end
            # What followed the handshake, a suffix of the caller's bytes.
            data, start, offset = rest, 0, end - len(rest)
        messages, pos = self._reader.feed_some(data, start, budget)
        self._received += pos - start
        if self._received - self._acked >= self._ack_window:
            self._acked = self._received
            self._control(MessageType.ACKNOWLEDGEMENT, acknowledgement(self._received))
        self.messages_received += len(messages)
        events: list[Event] = []
        for message in messages:
            self._handle(
                message.type_id, message.timestamp, message.stream_id, message.body, events
            )
            if self.state is State.CLOSED:
                break
        return events, pos + offset

    def accept_publish(self) -> None:
        """Answer a ``PublishRequested``: the stream is live (sends NetStream.Publish.Start)."""
        if self.state is State.CLOSED:
            return
        if self.state is not State.PUBLISH_PENDING or self._publish is None:
            raise LocalProtocolError(f"accept_publish in state {self.state.value}")
        sid = self._publish.stream_id
        self._control(MessageType.USER_CONTROL, user_control(UserControlEvent.STREAM_BEGIN, sid))
        self._on_status(sid, "status", "NetStream.Publish.Start", "Publishing.")
        self.state = State.PUBLISHING

    def reject_publish(
        self, code: str = "NetStream.Publish.BadName", description: str = "Refused."
    ) -> None:
        """Answer a ``PublishRequested`` with a refusal; the connection is then closed."""
        if self.state is State.CLOSED:
            return
        if self.state is not State.PUBLISH_PENDING or self._publish is None:
            raise LocalProtocolError(f"reject_publish in state {self.state.value}")
        self._on_status(self._publish.stream_id, "error", code, description)
        self._publish = None
        self.state = State.CLOSED

    def fail(self, code: str, description: str) -> None:
        """Tell the publisher the stream is over (for example: taken over) and close."""
        if self._publish is not None and self.state is not State.CLOSED:
            self._on_status(self._publish.stream_id, "error", code, description)
        self.state = State.CLOSED

    # --- dispatch -----------------------------------------------------------------------

    def _handle(
        self, type_id: int, timestamp: int, stream_id: int, body: bytes, events: list[Event]
    ) -> None:
        if type_id in _AMF_TYPES and len(body) > MAX_AMF_MESSAGE:
            # Decoding AMF costs about a microsecond a byte on hostile input, all of it on the
            # event loop: a command as large as a message may be would hold it for seconds.
            raise ProtocolError(
                f"{MessageType(type_id).name} message of {len(body)} bytes, over the limit of "
                f"{MAX_AMF_MESSAGE} bytes for commands and data"
            )
        if type_id == MessageType.VIDEO or type_id == MessageType.AUDIO:
            self._media(type_id, timestamp, stream_id, body, events)
        elif type_id == MessageType.COMMAND_AMF0:
            self._command(stream_id, amf0.decode_all(body), events)
        elif type_id == MessageType.COMMAND_AMF3:
            # AMF3 command messages start with a format byte (0) and carry AMF0 values, with
            # AMF3 values behind the 0x11 marker where the client wanted them (7.1.1).
            self._command(stream_id, amf0.decode_all(body[1:]), events)
        elif type_id == MessageType.DATA_AMF0:
            self._data(stream_id, amf0.decode_all(body), events)
        elif type_id == MessageType.DATA_AMF3:
            self._data(stream_id, amf0.decode_all(body[1:]), events)
        elif type_id == MessageType.AGGREGATE:
            # RTMP 1.0, 7.1.6: an aggregate carries a stream's audio, video and data (FLV
            # tags). Each part counts as a message, for the budgets before a publish; a cap on
            # parts and on their AMF bytes keeps one aggregate within a few milliseconds.
            amf_bytes = 0
            for parts, (sub_type, sub_ts, sub_body) in enumerate(
                split_aggregate(body, timestamp), 1
            ):
                if sub_type not in _AGGREGATE_PARTS:
                    raise ProtocolError(f"message of type {sub_type} inside an aggregate message")
                if sub_type != MessageType.AUDIO and sub_type != MessageType.VIDEO:
                    amf_bytes += len(sub_body)
                if parts > MAX_AGGREGATE_PARTS or amf_bytes > MAX_AMF_MESSAGE:
                    raise ProtocolError(
                        f"aggregate message of over {MAX_AGGREGATE_PARTS} parts or "
                        f"{MAX_AMF_MESSAGE} bytes of data"
                    )
                self.messages_received += 1
                self._handle(sub_type, sub_ts, stream_id, sub_body, events)
        elif type_id == MessageType.SET_CHUNK_SIZE:
            pass  # applied by the chunk reader as the message completed
        elif type_id == MessageType.ABORT:
            self._reader.abort(u32(body, "Abort"))
        elif type_id == MessageType.WINDOW_ACK_SIZE:
            size = u32(body, "Window Acknowledgement Size")
            if size > 0:
                self._ack_window = size
        elif type_id == MessageType.USER_CONTROL:
            event, data = parse_user_control(body)
            if event == UserControlEvent.PING_REQUEST and len(data) >= 4:
                self._control(
                    MessageType.USER_CONTROL,
                    user_control(UserControlEvent.PING_RESPONSE, u32(data, "Ping Request")),
                )
        # Acknowledgement, Set Peer Bandwidth and shared objects need no answer from a server
        # that only receives; unknown types are skipped as the spec's extensibility intends.

    def _media(
        self, type_id: int, timestamp: int, stream_id: int, body: bytes, events: list[Event]
    ) -> None:
        publish = self._publish
        if self.state is not State.PUBLISHING or publish is None or stream_id != publish.stream_id:
            # Media before Publish.Start or on another stream: nothing to attach it to.
            self.dropped_media += 1
            return
        dts = publish.clock.unwrap(timestamp)
        try:
            if type_id == MessageType.VIDEO:
                events.extend(flv.parse_video(body, dts))
            else:
                events.extend(flv.parse_audio(body, dts))
        except UnsupportedCodecError as exc:
            self._on_status(publish.stream_id, "error", "NetStream.Publish.Failed", str(exc))
            events.append(PublishFailed(str(exc)))
            self.state = State.CLOSED

    def _data(self, stream_id: int, values: list[Any], events: list[Event]) -> None:
        if values and values[0] == "@setDataFrame":
            values = values[1:]
        if (
            self.state is State.PUBLISHING
            and len(values) >= 2
            and values[0] == "onMetaData"
            and isinstance(values[1], dict)
        ):
            events.append(MetadataReceived(dict(values[1])))

    def _command(self, stream_id: int, values: list[Any], events: list[Event]) -> None:
        if not values or not isinstance(values[0], str):
            raise ProtocolError("command message without a command name")
        name = values[0]
        txn = values[1] if len(values) > 1 and isinstance(values[1], float) else 0.0
        args = values[2:]
        if name not in _COMMANDS[self.state]:
            if self.state is State.AWAIT_CONNECT:
                raise ProtocolError(f"command {name!r} before connect")
            return
        handler = getattr(self, "_cmd_" + name)
        handler(stream_id, txn, args, events)

    # --- commands (RTMP 1.0, 7.2) -------------------------------------------------------

    def _cmd_connect(
        self, stream_id: int, txn: float, args: list[Any], events: list[Event]
    ) -> None:
        props = args[0] if args and isinstance(args[0], dict) else {}
        app = props.get("app")
        self._app = app if isinstance(app, str) else ""
        encoding = props.get("objectEncoding")
        self._object_encoding = encoding if isinstance(encoding, float) else 0.0
        window = self._config.window
        self._control(MessageType.WINDOW_ACK_SIZE, window_ack_size(window))
        self._control(MessageType.SET_PEER_BANDWIDTH, set_peer_bandwidth(window))
        self._control(MessageType.SET_CHUNK_SIZE, set_chunk_size(self._config.chunk_size))
        self._writer.chunk_size = self._config.chunk_size
        server = {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0}
        if "fourCcList" in props:
            # Enhanced RTMP v1, "Enhancing NetConnection connect Command": say which FourCCs
            # this server takes.
            server["fourCcList"] = list(_FOURCCS)
        info = {
            "level": "status",
            "code": "NetConnection.Connect.Success",
            "description": "Connection succeeded.",
            "objectEncoding": self._object_encoding,
        }
        self._send_command(0, "_result", txn, server, info)
        self.state = State.CONNECTED
        tc_url = props.get("tcUrl")
        flash_ver = props.get("flashVer") or props.get("flashver")
        events.append(
            Connected(
                self._app,
                tc_url if isinstance(tc_url, str) else "",
                flash_ver if isinstance(flash_ver, str) else "",
            )
        )

    def _cmd_releaseStream(
        self, stream_id: int, txn: float, args: list[Any], events: list[Event]
    ) -> None:
        if txn:
            self._send_command(0, "_result", txn, None, amf0.UNDEFINED)

    def _cmd_FCPublish(
        self, stream_id: int, txn: float, args: list[Any], events: list[Event]
    ) -> None:
        # Some encoders wait for onFCPublish before they publish (docs/protocol-notes.md,
        # "RTMP session").
        self._send_command(
            0,
            "onFCPublish",
            0.0,
            None,
            {"level": "status", "code": "NetStream.Publish.Start", "description": "FCPublish"},
        )
        if txn:
            self._send_command(0, "_result", txn, None, amf0.UNDEFINED)

    def _cmd_createStream(
        self, stream_id: int, txn: float, args: list[Any], events: list[Event]
    ) -> None:
        sid = self._next_stream_id
        self._next_stream_id += 1
        self._send_command(0, "_result", txn, None, float(sid))

    def _cmd_publish(
        self, stream_id: int, txn: float, args: list[Any], events: list[Event]
    ) -> None:
        raw = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
        kind = args[2] if len(args) > 2 and isinstance(args[2], str) else "live"
        if self._publish is not None:
            # One publication per connection: encoders open a connection per output.
            self._on_status(
                stream_id,
                "error",
                "NetStream.Publish.BadName",
                "This connection is already publishing.",
            )
            return
        name, _, query = raw.partition("?")
        if not name:
            self._on_status(stream_id, "error", "NetStream.Publish.BadName", "No stream key.")
            self.state = State.CLOSED
            return
        self._publish = _Publish(stream_id, self._app)
        self.state = State.PUBLISH_PENDING
        events.append(PublishRequested(stream_id, self._app, name, query, kind))

    def _end_publish(self, reason: str, events: list[Event]) -> None:
        if self._publish is None:
            return
        was_live = self.state is State.PUBLISHING
        self._publish = None
        self.state = State.CONNECTED
        if was_live:
            events.append(PublishEnded(reason))

    def _cmd_FCUnpublish(
        self, stream_id: int, txn: float, args: list[Any], events: list[Event]
    ) -> None:
        self._end_publish("FCUnpublish", events)

    def _cmd_deleteStream(
        self, stream_id: int, txn: float, args: list[Any], events: list[Event]
    ) -> None:
        self._end_publish("deleteStream", events)

    def _cmd_closeStream(
        self, stream_id: int, txn: float, args: list[Any], events: list[Event]
    ) -> None:
        self._end_publish("closeStream", events)

    def _cmd_play(self, stream_id: int, txn: float, args: list[Any], events: list[Event]) -> None:
        # golive plays out over HLS only; say so instead of leaving the player waiting.
        self._on_status(
            stream_id,
            "error",
            "NetStream.Play.StreamNotFound",
            "golive serves viewers over HLS, not RTMP.",
        )

    def _cmd_getStreamLength(
        self, stream_id: int, txn: float, args: list[Any], events: list[Event]
    ) -> None:
        pass

    def _cmd__checkbw(
        self, stream_id: int, txn: float, args: list[Any], events: list[Event]
    ) -> None:
        pass

    # --- output -------------------------------------------------------------------------

    def _control(self, type_id: MessageType, body: bytes) -> None:
        self._out.append(self._writer.write(CONTROL_CSID, 0, type_id, 0, body))

    def _send_command(self, stream_id: int, name: str, txn: float, *values: Any) -> None:
        body = amf0.encode(name, txn, *values)
        self._out.append(
            self._writer.write(COMMAND_CSID, 0, MessageType.COMMAND_AMF0, stream_id, body)
        )

    def _on_status(self, stream_id: int, level: str, code: str, description: str) -> None:
        """NetStream onStatus (RTMP 1.0, 7.2.2)."""
        self._send_command(
            stream_id,
            "onStatus",
            0.0,
            None,
            {"level": level, "code": code, "description": description},
        )
