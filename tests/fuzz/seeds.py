"""Starting inputs of the fuzz targets: valid and nearly valid bytes, most of them from the
byte tables the unit tests share (``tests.harness.byte_tables``), so the fuzzer starts deep
inside each reader.

A seed of a target that reads in pieces (``targets._pieces``) starts with the byte that
chooses the read size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from golive.hls import playlist
from golive.media import Codec
from golive.rtmp import amf0
from golive.rtmp.chunk import ChunkWriter
from golive.rtmp.handshake import HANDSHAKE_SIZE
from golive.rtmp.messages import MessageType, UserControlEvent, user_control
from tests.harness import byte_tables as tables
from tests.harness import playlist_texts as texts
from tests.harness import records

# Read sizes the first byte of a piecewise seed chooses: all at once, and cut.
_WHOLE = b"\xff"
_CUT = b"\x06"


def _params(table: list[Any]) -> list[bytes]:
    """The byte inputs of a unit test's ``pytest.param`` table."""
    return [p.values[0] for p in table if isinstance(p.values[0], bytes)]


def handshake() -> Iterable[bytes]:
    c0c1 = bytes((3,)) + bytes(range(256)) * 6
    return [_WHOLE + c0c1 + bytes(HANDSHAKE_SIZE) + b"rest", _CUT + c0c1[:100], b"\x00\x16"]


def _chunked(*messages: tuple[int, int, bytes], chunk_size: int = 128) -> bytes:
    writer = ChunkWriter()
    out = []
    for type_id, stream_id, body in messages:
        out.append(writer.write(3, 40, type_id, stream_id, body))
        if type_id == MessageType.SET_CHUNK_SIZE:
            writer.chunk_size = int.from_bytes(body, "big")
    return b"".join(out)


_SET_CHUNK_SIZE = MessageType.SET_CHUNK_SIZE
_VIDEO = MessageType.VIDEO
_AUDIO = MessageType.AUDIO
_COMMAND = MessageType.COMMAND_AMF0


def _command(*values: Any, stream_id: int = 0) -> tuple[int, int, bytes]:
    return (_COMMAND, stream_id, amf0.encode(*values))


def chunks() -> Iterable[bytes]:
    unit = (
        bytes.fromhex("03 000102 000005 14 01000000") + b"hello",
        bytes.fromhex("04 FFFFFF 000001 09 01000000 01000000") + b"x",
        bytes.fromhex("04 000017 000001 08 01000000") + b"a" + bytes.fromhex("C4") + b"b",
    )
    big = _chunked(
        (_SET_CHUNK_SIZE, 0, (1).to_bytes(4, "big")),
        (_VIDEO, 1, bytes(300)),
        (_SET_CHUNK_SIZE, 0, (4096).to_bytes(4, "big")),
        (_AUDIO, 1, bytes(200)),
    )
    return [_WHOLE + u for u in unit] + [_WHOLE + big, _CUT + big, b"\x00" + big]


def _session() -> list[tuple[int, int, bytes]]:
    """What OBS sends after the handshake, up to a few media messages."""
    return [
        (_SET_CHUNK_SIZE, 0, (4096).to_bytes(4, "big")),
        _command("connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live", "fourCcList": []}),
        _command("releaseStream", 2.0, None, "key"),
        _command("FCPublish", 3.0, None, "key"),
        _command("createStream", 4.0, None),
        _command("publish", 5.0, None, "key?x=1", "live", stream_id=1),
        (MessageType.DATA_AMF0, 1, amf0.encode("@setDataFrame", "onMetaData", {"width": 2.0})),
        (_VIDEO, 1, bytes.fromhex("1700000000") + tables.AVCC),
        (_VIDEO, 1, bytes.fromhex("1701000000") + tables.NALUS),
        (_AUDIO, 1, bytes.fromhex("af00") + tables.ASC),
        (_AUDIO, 1, bytes.fromhex("af01") + tables.AAC_FRAME),
        (MessageType.USER_CONTROL, 0, user_control(UserControlEvent.PING_REQUEST, 7)),
        (MessageType.WINDOW_ACK_SIZE, 0, (1000).to_bytes(4, "big")),
        (MessageType.ABORT, 0, (3).to_bytes(4, "big")),
        _command("FCUnpublish", 6.0, None, "key"),
        _command("deleteStream", 7.0, None, 1.0),
    ]


def connection() -> Iterable[bytes]:
    session = _chunked(*_session())
    aggregate_tag = bytes.fromhex("09 000006 000000 00 000000 170100000001 00000011")
    with_aggregate = _chunked(*_session()[:6], (MessageType.AGGREGATE, 1, aggregate_tag * 2))
    # One byte per read: the publish is accepted before the media that follows it arrives.
    return [b"\x00" + session, _CUT + session, b"\x00" + with_aggregate]


def amf0_seeds() -> Iterable[bytes]:
    values: list[Any] = [
        {"a": [1.0, None, True], "b": amf0.EcmaArray(c="d")},
        amf0.TypedObject("T", {"x": amf0.AmfDate(1.0, 0)}),
        amf0.XmlDocument("<a/>"),
        amf0.UNDEFINED,
        "x" * 3000,
    ]
    # An object then a reference to it (AMF0, 2.9).
    ref = amf0.encode({"k": 1.0}) + bytes.fromhex("07 0000")
    return [tables.CONNECT_BYTES, ref, *(amf0.encode(v) for v in values)]


def amf3() -> Iterable[bytes]:
    return [
        bytes.fromhex("0a 0b 01 03 61 04 05 01"),  # dynamic anonymous object {a: 5}
        bytes.fromhex("09 05 01 04 01 06 03 61"),  # dense array [1, "a"]
        bytes.fromhex("09 03 03 6b 04 02 01 04 03"),  # array with an associative part
        bytes.fromhex("0c 07 61 62 63"),  # ByteArray
        bytes.fromhex("08 01 3ff0000000000000"),  # date
        bytes.fromhex("0a 23 01 03 61 03 62 04 01 04 02"),  # sealed object with 2 members
    ]


def flv_video() -> Iterable[bytes]:
    return [
        bytes.fromhex("1700000000") + tables.AVCC,
        bytes.fromhex("2701000010") + tables.NALUS,
        bytes.fromhex("1c00000000") + tables.HVCC,
        tables.h("90 'hvc1'") + tables.HVCC,
        tables.h("91 'hvc1' 000028") + tables.NALUS,
        tables.h("90 'av01'") + tables.AV1C,
        tables.h("93 'vp09'") + tables.NALUS,
        tables.h("94 'av01'") + tables.COLOR_INFO,
        tables.h("97 00 ff 01 'hvc1'") + tables.NALUS,  # ModEx then CodedFrames
        tables.h("96 01 'avc1' 00 000004 aabbccdd 01 000002 eeff"),  # multitrack
        tables.h("96 21 'avc1' 000000 04 aabbccdd"),  # many tracks, many codecs
    ]


def flv_audio() -> Iterable[bytes]:
    return [
        bytes.fromhex("af00") + tables.ASC,
        bytes.fromhex("af01") + tables.AAC_FRAME,
        tables.h("90 'Opus'") + tables.OPUS_HEAD,
        tables.h("91 'Opus'") + tables.OPUS_PACKET,
        tables.h("95 01 'mp4a' 00 000002 1190 01 000001 aa"),
        tables.h("97 00 ff 01 'mp4a'") + tables.AAC_FRAME,
    ]


def messages() -> Iterable[bytes]:
    tag = bytes.fromhex("09 000003 0000ff 01 000000") + b"abc" + bytes(4)
    return [user_control(UserControlEvent.PING_REQUEST, 7), tag * 3, tag[:-4]]


_RECORDS: dict[Codec, Callable[[], list[bytes]]] = {
    Codec.H264: lambda: [tables.GOOD_AVCC, *_params(tables.AVC_MALFORMED)],
    Codec.H265: lambda: [tables.GOOD_HVCC, *_params(tables.HEVC_MALFORMED)],
    Codec.AV1: lambda: [tables.AV1C, *_params(tables.AV1_MALFORMED)],
    Codec.VP9: lambda: [
        records.VPCC_BODY,
        b"\x01\x00\x00\x00" + records.VPCC_BODY,
        *_params(tables.VP9_MALFORMED),
    ],
    Codec.AAC: lambda: _params(tables.AAC_HAND) + _params(tables.AAC_MALFORMED),
    Codec.OPUS: lambda: [
        records.OPUS_STEREO,
        records.OPUS_5_1,
        *_params(tables.OPUS_MALFORMED),
    ],
}


def records_of(codec: Codec) -> Callable[[], Iterable[bytes]]:
    return _RECORDS[codec]


def avc_sps() -> Iterable[bytes]:
    return [records.sps_baseline_320x240(), tables.sps_high422_fields_cropped()]


def hevc_sps() -> Iterable[bytes]:
    return [sps for _, sps, _ in tables.H265_HAND]


def media() -> Iterable[bytes]:
    texts_ = [texts.LL_TEXT, texts.WINDOW_FULL, texts.RECONNECT_TEXT, texts.ENDED_TEXT]
    texts_.append(playlist.render_media(texts.LL_PLAYLIST, skip=True))
    return [t.encode() for t in texts_]


def multivariant() -> Iterable[bytes]:
    return [texts.MULTIVARIANT_TEXT.encode()]


def query() -> Iterable[bytes]:
    return [b"_HLS_msn=12&_HLS_part=3", b"_HLS_msn=5&_HLS_skip=YES", b"_HLS_part=1", b"x=1"]


SEEDS: dict[str, Callable[[], Iterable[bytes]]] = {
    "handshake": handshake,
    "chunks": chunks,
    "connection": connection,
    "amf0": amf0_seeds,
    "amf3": amf3,
    "flv_video": flv_video,
    "flv_audio": flv_audio,
    "messages": messages,
    **{f"codec_{codec.name.lower()}": records_of(codec) for codec in Codec},
    "avc_sps": avc_sps,
    "hevc_sps": hevc_sps,
    "opus_head": records_of(Codec.OPUS),
    "media_playlist": media,
    "multivariant_playlist": multivariant,
    "reload_query": query,
}
