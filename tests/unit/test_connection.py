"""The sans-I/O RTMP connection driven by a scripted client, no sockets (RTMP 1.0, 7.2, 7.3)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.media import Codec, Sample, TrackConfig
from golive.rtmp import amf0, flv
from golive.rtmp.chunk import ChunkReader, ChunkWriter, RawMessage
from golive.rtmp.connection import (
    Connected,
    MetadataReceived,
    PublishEnded,
    PublishFailed,
    PublishRequested,
    RtmpConnection,
    State,
)
from golive.rtmp.errors import LocalProtocolError, ProtocolError

C0C1 = b"\x03" + bytes(1536)
AVC_HEADER = bytes.fromhex("1700000000") + bytes([1, 0x64, 0, 0x1F, 0xFF, 0xE0, 0x00])
AAC_HEADER = bytes.fromhex("af00") + bytes.fromhex("1190")


class Client:
    """The client half, scripted: chunks out, chunks in."""

    def __init__(self, conn: RtmpConnection) -> None:
        self.conn = conn
        self.writer = ChunkWriter()
        self.reader = ChunkReader()
        self.inbox: list[RawMessage] = []
        self.events: list[Any] = []

    def feed(self, data: bytes, bytewise: bool = False) -> list[Any]:
        events: list[Any] = []
        if bytewise:
            for i in range(len(data)):
                events.extend(self.conn.receive_data(data[i : i + 1]))
        else:
            events.extend(self.conn.receive_data(data))
        out = self.conn.data_to_send()
        if self.conn.state not in (State.HANDSHAKE,) and out:
            self.inbox.extend(self.reader.feed(out))
        self.events.extend(events)
        return events

    def handshake(self) -> None:
        self.conn.receive_data(C0C1)
        s = self.conn.data_to_send()
        assert len(s) == 1 + 1536 * 2 and s[0] == 3
        assert s[1 + 1536 :] == bytes(1536), "S2 echoes C1"
        self.conn.receive_data(s[1 : 1 + 1536])  # C2
        assert self.conn.state is State.AWAIT_CONNECT

    def send(
        self,
        type_id: int,
        body: bytes,
        ts: int = 0,
        sid: int = 0,
        csid: int = 3,
        bytewise: bool = False,
    ) -> list[Any]:
        return self.feed(self.writer.write(csid, ts, type_id, sid, body), bytewise)

    def command(self, *values: Any, sid: int = 0) -> list[Any]:
        return self.send(20, amf0.encode(*values), sid=sid)

    def replies(self) -> list[list[Any]]:
        out = [amf0.decode_all(m.body) for m in self.inbox if m.type_id == 20]
        self.inbox = [m for m in self.inbox if m.type_id != 20]
        return out

    def publish(self, key: str = "key") -> PublishRequested:
        self.command("connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live"})
        self.command("releaseStream", 2.0, None, key)
        self.command("FCPublish", 3.0, None, key)
        self.command("createStream", 4.0, None)
        [event] = self.command("publish", 5.0, None, key, "live", sid=1)
        assert isinstance(event, PublishRequested)
        return event


def live_client() -> Client:
    client = Client(RtmpConnection())
    client.handshake()
    client.publish()
    client.conn.accept_publish()
    client.feed(b"")
    client.inbox.extend(client.reader.feed(client.conn.data_to_send()))
    client.replies()
    return client


def test_connect_answer_order_and_result() -> None:
    client = Client(RtmpConnection())
    client.handshake()
    [event] = client.command(
        "connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live", "flashVer": "FMLE/3.0"}
    )
    assert event == Connected("live", "rtmp://h/live", "FMLE/3.0")
    # Window Ack Size, Set Peer Bandwidth, Set Chunk Size, then _result (docs/protocol-notes.md).
    assert [m.type_id for m in client.inbox] == [5, 6, 1, 20]
    assert client.inbox[2].body == (4096).to_bytes(4, "big")
    [result] = client.replies()
    assert result[0] == "_result" and result[1] == 1.0
    assert result[3]["code"] == "NetConnection.Connect.Success"


def test_full_publish_conversation_as_obs_sends_it() -> None:
    client = Client(RtmpConnection())
    client.handshake()
    event = client.publish("abc?token=x")
    assert event == PublishRequested(1, "live", "abc", "token=x", "live")
    replies = client.replies()
    names = [r[0] for r in replies]
    assert names == ["_result", "_result", "onFCPublish", "_result", "_result"]
    assert replies[-1] == ["_result", 4.0, None, 1.0], "createStream gives stream id 1"
    assert client.conn.state is State.PUBLISH_PENDING
    client.conn.accept_publish()
    client.inbox.extend(client.reader.feed(client.conn.data_to_send()))
    user_control = [m for m in client.inbox if m.type_id == 4]
    assert user_control[0].body == bytes.fromhex("0000 00000001"), "Stream Begin 1"
    [status] = client.replies()
    assert status[0] == "onStatus" and status[3]["code"] == "NetStream.Publish.Start"

    [meta] = client.send(
        18, amf0.encode("@setDataFrame", "onMetaData", amf0.EcmaArray(width=1280.0)), sid=1
    )
    assert meta == MetadataReceived({"width": 1280.0})
    [aac] = client.send(8, AAC_HEADER, 0, sid=1, csid=4)
    assert aac == flv.ConfigChanged(TrackConfig(Codec.AAC, bytes.fromhex("1190")))
    [avc] = client.send(9, AVC_HEADER, 0, sid=1, csid=4)
    assert isinstance(avc, flv.ConfigChanged) and avc.config.codec is Codec.H264
    [frame] = client.send(9, bytes.fromhex("1701FFFFDF") + b"\x00\x00\x00\x01\x65", 40, 1, 4)
    assert frame == Sample(Codec.H264, 40, -33, True, b"\x00\x00\x00\x01\x65")
    assert client.command("FCUnpublish", 6.0, None, "abc") == [PublishEnded("FCUnpublish")]
    assert client.command("deleteStream", 7.0, None, 1.0) == []


def test_publish_one_byte_at_a_time_gives_the_same_events() -> None:
    whole = live_client()
    bytewise = live_client()
    body = bytes.fromhex("2701000000") + bytes(range(256)) * 40
    assert whole.send(9, body, 100, 1, 4) == bytewise.send(9, body, 100, 1, 4, bytewise=True)


def test_reject_publish_sends_the_code_and_closes() -> None:
    client = Client(RtmpConnection())
    client.handshake()
    client.publish()
    client.replies()
    client.conn.reject_publish("NetStream.Publish.Denied", "Unknown stream key.")
    client.inbox.extend(client.reader.feed(client.conn.data_to_send()))
    [status] = client.replies()
    assert status[3] == {
        "level": "error",
        "code": "NetStream.Publish.Denied",
        "description": "Unknown stream key.",
    }
    assert client.conn.closed
    assert client.conn.receive_data(b"more") == []


def test_accept_twice_is_a_local_error() -> None:
    client = live_client()
    with pytest.raises(LocalProtocolError):
        client.conn.accept_publish()


@pytest.mark.parametrize("withdraw", ["deleteStream", "FCUnpublish", "closeStream"])
def test_a_publish_withdrawn_before_the_answer_is_no_longer_pending(withdraw: str) -> None:
    # Seen when the connection's fuzz target began answering one read late, as the server does
    # after its authorization coroutine: the server accepted anyway (LocalProtocolError).
    client = Client(RtmpConnection())
    client.handshake()
    client.publish()
    assert client.conn.publish_pending
    client.command(withdraw, 6.0, None, 1.0)
    assert not client.conn.publish_pending
    assert client.conn.state is State.CONNECTED
    with pytest.raises(LocalProtocolError):
        client.conn.accept_publish()


def test_media_before_publish_start_is_dropped() -> None:
    client = Client(RtmpConnection())
    client.handshake()
    client.publish()
    assert client.send(9, AVC_HEADER, 0, sid=1, csid=4) == []
    assert client.conn.dropped_media == 1


def test_command_before_connect_is_a_protocol_error() -> None:
    client = Client(RtmpConnection())
    client.handshake()
    with pytest.raises(ProtocolError, match="before connect"):
        client.command("publish", 1.0, None, "k", "live")


def test_amf3_command_message() -> None:
    client = Client(RtmpConnection())
    client.handshake()
    body = b"\x00" + amf0.encode("connect", 1.0, {"app": "live", "objectEncoding": 3.0})
    [event] = client.send(17, body)
    assert isinstance(event, Connected) and event.app == "live"
    [result] = client.replies()
    assert result[3]["objectEncoding"] == 3.0


def tag(type_id: int, ts: int, data: bytes) -> bytes:
    """One part of an aggregate message: an FLV tag (RTMP 1.0, 7.1.6)."""
    header = (
        bytes([type_id])
        + len(data).to_bytes(3, "big")
        + (ts & 0xFFFFFF).to_bytes(3, "big")
        + bytes([ts >> 24])
        + bytes(3)
    )
    return header + data + (11 + len(data)).to_bytes(4, "big")


def test_aggregate_message_splits_into_media_with_rebased_times() -> None:
    client = live_client()
    body = tag(8, 500, AAC_HEADER) + tag(8, 523, bytes.fromhex("af01") + b"aac")
    events = client.send(22, body, 1000, sid=1, csid=4)
    assert events[0] == flv.ConfigChanged(TrackConfig(Codec.AAC, bytes.fromhex("1190")))
    assert events[1] == Sample(Codec.AAC, 1023, 0, True, b"aac")


def test_acknowledgement_every_window_with_32_bit_wrap() -> None:
    client = live_client()
    client.send(5, (1000).to_bytes(4, "big"))  # the peer's window: ack every 1000 bytes
    client.inbox.clear()
    conn = client.conn
    conn._received = 0xFFFFFF00  # near the 32-bit wrap of the sequence number
    conn._acked = conn._received
    client.send(9, bytes.fromhex("2701000000") + bytes(1200), 0, 1, 4)
    acks = [m for m in client.inbox if m.type_id == 3]
    assert len(acks) == 1
    assert int.from_bytes(acks[0].body, "big") == (0xFFFFFF00 + 1205 + 12 + 9) & 0xFFFFFFFF


def test_ping_request_is_answered() -> None:
    client = live_client()
    client.inbox.clear()
    client.send(4, bytes.fromhex("0006 0000abcd"), csid=2)
    assert [(m.type_id, m.body) for m in client.inbox] == [(4, bytes.fromhex("0007 0000abcd"))]


def test_media_times_unwrap_past_2_32_ms() -> None:
    client = live_client()
    times = [0xFFFFFF00, 0xFFFFFFF0, 0x10, 0x30]
    got = []
    for t in times:
        [sample] = client.send(8, bytes.fromhex("af01") + b"a", t, 1, 4)
        got.append(sample.dts)
    assert got == [0xFFFFFF00, 0xFFFFFFF0, 0x100000010, 0x100000030]


def test_unsupported_codec_refuses_and_closes() -> None:
    client = live_client()
    [event] = client.send(9, bytes.fromhex("22") + b"h263", 0, 1, 4)
    assert isinstance(event, PublishFailed)
    [status] = client.replies()
    assert status[3]["code"] == "NetStream.Publish.Failed"
    assert client.conn.closed


def test_play_is_answered_with_stream_not_found() -> None:
    client = Client(RtmpConnection())
    client.handshake()
    client.command("connect", 1.0, {"app": "live"})
    client.replies()
    client.command("play", 0.0, None, "x", sid=1)
    [status] = client.replies()
    assert status[3]["code"] == "NetStream.Play.StreamNotFound"


@given(st.binary(max_size=3000))
@settings(max_examples=200, deadline=None)
def test_arbitrary_bytes_after_handshake_raise_only_protocol_errors(data: bytes) -> None:
    conn = RtmpConnection(max_message_size=1 << 20)
    conn.receive_data(C0C1 + bytes(1536))
    with contextlib.suppress(ProtocolError):
        conn.receive_data(data)


@given(st.binary(max_size=2000))
@settings(max_examples=200, deadline=None)
def test_arbitrary_media_bodies_on_a_live_stream_raise_only_protocol_errors(data: bytes) -> None:
    client = live_client()
    for type_id in (8, 9, 18, 22):
        with contextlib.suppress(ProtocolError):
            client.send(type_id, data, 0, 1, 4)


@pytest.mark.parametrize("type_id", [15, 16, 17, 18, 19, 20])
def test_commands_and_data_over_16_kib_are_refused_before_decoding(type_id: int) -> None:
    # A live publisher's metadata at the limit passes; one byte more closes the connection
    # before any AMF is decoded (an AMF decode of hostile bytes holds the event loop).
    limit = 16 * 1024
    fits = amf0.encode("@setDataFrame", "onMetaData", amf0.EcmaArray(title="x" * 100))
    fits += amf0.encode("p" * (limit - len(fits) - 3))
    assert len(fits) == limit
    ok = live_client()
    ok.send(18, fits, sid=1)
    assert ok.conn.state is State.PUBLISHING
    client = live_client()
    with pytest.raises(ProtocolError, match=r"of 16385 bytes, over the limit of 16384 bytes"):
        client.send(type_id, bytes([0x05]) * (limit + 1), sid=1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # A ping inside an aggregate would make the server answer each: not a stream's part.
        (tag(4, 0, bytes.fromhex("0006 00000001")), "message of type 4 inside an aggregate"),
        (tag(20, 0, amf0.encode("publish", 0.0, None)), "message of type 20 inside"),
        (b"".join(tag(9, i, bytes.fromhex("2701000000")) for i in range(1025)), "1024 parts"),
        (
            b"".join(tag(18, i, amf0.encode("onTextData", "x" * 4000)) for i in range(5)),
            "16384 bytes of data",
        ),
    ],
)
def test_aggregate_messages_carry_a_bounded_stream_part(body: bytes, message: str) -> None:
    client = live_client()
    with pytest.raises(ProtocolError, match=message):
        client.send(22, body, 1000, sid=1, csid=4)


def test_each_part_of_an_aggregate_counts_as_a_message() -> None:
    client = live_client()
    before = client.conn.messages_received
    body = b"".join(tag(9, i, bytes.fromhex("2701000000") + b"x") for i in range(1024))
    client.send(22, body, 1000, sid=1, csid=4)
    assert client.conn.messages_received - before == 1 + 1024
