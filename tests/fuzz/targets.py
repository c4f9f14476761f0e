"""Fuzz targets: every reader of peer-supplied bytes, with the errors it may raise.

A target takes any bytes and runs one reader on them. Raising one of the target's ``allowed``
errors (the reader's documented refusal) is a pass; any other exception (IndexError,
struct.error, KeyError, RecursionError, MemoryError, an AssertionError from a broken
invariant) is a finding, and so is a hang, which the fuzzer's per-input timeout catches.

Targets do not import atheris: ``scripts/fuzz.py`` drives them with it, and a unit test can
replay any input through ``run``.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from golive import codecs
from golive.codecs.avc import parse_avc_sps
from golive.codecs.hevc import parse_hevc_sps
from golive.codecs.opus import parse_opus_head
from golive.codecs.vp9 import vpcc_box_payload
from golive.hls import playlist
from golive.hls.playlist_parser import PlaylistError, parse_media, parse_multivariant
from golive.hls.reload import ReloadQueryError, parse_reload_query
from golive.media import Codec, Sample, TrackConfig
from golive.rtmp import amf0, flv
from golive.rtmp.chunk import ChunkReader, RawMessage
from golive.rtmp.connection import PublishRequested, RtmpConnection
from golive.rtmp.errors import ProtocolError
from golive.rtmp.handshake import HANDSHAKE_SIZE, ServerHandshake
from golive.rtmp.messages import parse_user_control, split_aggregate


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    allowed: tuple[type[Exception], ...]
    doc: str

    def check(self, data: bytes) -> None:
        """Run the reader on ``data``; a refusal it documents is fine, anything else raises."""
        with contextlib.suppress(*self.allowed):
            self.run(data)


def _pieces(data: bytes) -> Iterator[bytes]:
    """``data[1:]`` cut into reads of a size the first byte chooses (1 to 256 bytes), so the
    fuzzer also explores where reads end."""
    if not data:
        return
    size = data[0] + 1
    for start in range(1, len(data), size):
        yield data[start : start + size]


# --- RTMP -------------------------------------------------------------------------------


def _handshake_outcome(reads: Iterable[bytes]) -> tuple[bool, bytes, int]:
    hs = ServerHandshake()
    rest: list[bytes] = []
    sent = 0
    for read in reads:
        if hs.done:
            rest.append(read)  # what the connection would hand to the chunk reader
            continue
        rest = [hs.receive(read)]
        sent += len(hs.outgoing)
        hs.outgoing = b""
    return hs.done, b"".join(rest), sent


def fuzz_handshake(data: bytes) -> None:
    """One read or many, the handshake ends the same way: S0+S1+S2 once, the same leftover."""
    body = data[1:]
    whole = _handshake_outcome([body])
    assert _handshake_outcome(_pieces(data)) == whole
    done, rest, sent = whole
    assert sent in (0, 1 + 2 * HANDSHAKE_SIZE)
    if done:
        assert rest == body[1 + 2 * HANDSHAKE_SIZE :]


def _read_chunks(reads: Iterable[bytes]) -> tuple[list[RawMessage], int, int]:
    reader = ChunkReader(max_message_size=1 << 20)
    messages: list[RawMessage] = []
    for read in reads:
        messages += reader.feed(read)
    return messages, reader.buffered, reader.chunk_size


def fuzz_chunks(data: bytes) -> None:
    """The chunk reader gives the same messages however the bytes are cut into reads (RTMP 1.0,
    5.3), and each message is as long as its header said."""
    try:
        whole = _read_chunks([data[1:]])
    except ProtocolError:
        whole = None
    try:
        split = _read_chunks(_pieces(data))
    except ProtocolError:
        split = None
    assert split == whole, "a different outcome when the same bytes come in other reads"
    if whole is not None:
        assert whole[2] >= 1


_C0_C1 = bytes((3,)) + bytes(HANDSHAKE_SIZE)
_C2 = bytes(HANDSHAKE_SIZE)


def fuzz_connection(data: bytes) -> None:
    """Bytes after a valid handshake, in reads the first byte sizes. A publish is accepted
    after the next read, as the server does once the authorization (a coroutine) is done, and
    only if the peer has not withdrawn it meanwhile (what ``publish_pending`` says)."""
    conn = RtmpConnection(max_message_size=1 << 20)
    conn.receive_data(_C0_C1)
    conn.receive_data(_C2)
    requested = False
    for read in _pieces(data):
        events = conn.receive_data(read)
        conn.data_to_send()
        if requested and conn.publish_pending:
            conn.accept_publish()
        requested = any(isinstance(e, PublishRequested) for e in events)
        if conn.closed:
            return


def _encoded_size(value: Any, memo: dict[int, int]) -> int:
    """How many values encoding ``value`` writes: references make a decoded value a DAG,
    which re-encodes as a tree and may be exponentially larger."""
    key = id(value)
    if key in memo:
        return memo[key]
    items: Iterable[Any] = ()
    if isinstance(value, dict):
        items = value.values()
    elif isinstance(value, list | tuple):
        items = value
    elif isinstance(value, amf0.TypedObject):
        items = value.properties.values()
    total = 1 + sum(_encoded_size(v, memo) for v in items)
    memo[key] = total
    return total


def fuzz_amf0(data: bytes) -> None:
    """AMF0 values back to back (with AMF3 behind 0x11); what decodes re-encodes to a fixed
    point: encode(decode(encode(v))) == encode(v)."""
    if data:
        amf0.decode_one(data)
    values = amf0.decode_all(data)
    if _encoded_size(values, {}) > 10_000:
        return
    try:
        once = amf0.encode(*values)
    except (TypeError, ValueError):
        return  # AMF3 ByteArrays and names over 64 KiB have no AMF0 form: encode says so
    again = amf0.decode_all(once)
    assert amf0.encode(*again) == once
    assert len(again) == len(values)


def fuzz_amf3(data: bytes) -> None:
    """One AMF3 value behind the avmplus-object-marker (AMF0, 3.1)."""
    fuzz_amf0(b"\x11" + data)


def _check_events(events: list[flv.FlvEvent]) -> None:
    for event in events:
        if isinstance(event, Sample):
            assert event.data, "an empty coded frame"
            assert -(1 << 23) <= event.cts < (1 << 23)
        elif isinstance(event, flv.ConfigChanged):
            assert event.config.record or event.config.codec is Codec.OPUS


def fuzz_flv_video(data: bytes) -> None:
    _check_events(flv.parse_video(data, 1000))


def fuzz_flv_audio(data: bytes) -> None:
    _check_events(flv.parse_audio(data, 1000))


def fuzz_messages(data: bytes) -> None:
    """User Control (RTMP 1.0, 7.1.7) and aggregate messages (7.1.6)."""
    event, rest = parse_user_control(data)
    assert 0 <= event <= 0xFFFF and len(rest) == len(data) - 2
    total = 0
    for _type_id, timestamp, body in split_aggregate(data, 0xFFFFFFF0):
        assert 0 <= timestamp <= 0xFFFFFFFF
        total += 11 + len(body)
    assert total <= len(data)


# --- Codec configuration records ----------------------------------------------------------


def _describe(codec: Codec) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        info = codecs.describe(TrackConfig(codec, data))
        assert info.codec is codec and info.codec_string.isascii()
        # 0 is "unknown" (TrackInfo): vpcC has no picture size, and an AAC object type
        # without a program_config_element leaves the channel count open.
        assert min(info.width, info.height, info.channels) >= 0
        if codec in (Codec.AAC, Codec.OPUS):
            assert info.sample_rate > 0
        if codec is Codec.VP9:
            vpcc_box_payload(data)

    run.__doc__ = f"codecs.describe() of a {codec.name} record"
    return run


def fuzz_avc_sps(data: bytes) -> None:
    width, height, _ = parse_avc_sps(data)
    assert width > 0 and height > 0


def fuzz_hevc_sps(data: bytes) -> None:
    width, height, _ = parse_hevc_sps(data)
    assert width > 0 and height > 0


def fuzz_opus_head(data: bytes) -> None:
    head = parse_opus_head(data)
    assert head.channels > 0 and head.stream_count > 0


# --- HLS ----------------------------------------------------------------------------------


def fuzz_media_playlist(data: bytes) -> None:
    """What parses renders to text that reads back and renders the same (a fixed point: the
    renderer fills in defaults, such as PART-HOLD-BACK, that the input may leave out)."""
    text = playlist.render_media(parse_media(data.decode("utf-8", "replace")))
    assert playlist.render_media(parse_media(text)) == text


def fuzz_multivariant_playlist(data: bytes) -> None:
    text = playlist.render_multivariant(parse_multivariant(data.decode("utf-8", "replace")))
    assert playlist.render_multivariant(parse_multivariant(text)) == text


def fuzz_reload_query(data: bytes) -> None:
    """The query string of a media playlist request, as aiohttp hands it over (the first
    value of each name)."""
    query: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(data.decode("utf-8", "replace"), True):
        query.setdefault(name, value)
    parsed = parse_reload_query(query)
    for number in (parsed.msn, parsed.part):
        assert number is None or 0 <= number < 10**12
    assert parsed.part is None or parsed.msn is not None


_RTMP = (ProtocolError,)
_CODEC = (codecs.CodecError,)

_PLAYLIST = (PlaylistError,)

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("handshake", fuzz_handshake, _RTMP, "RTMP server handshake, C0+C1 and C2"),
        Target("chunks", fuzz_chunks, _RTMP, "ChunkReader.feed, whole and in pieces"),
        Target("connection", fuzz_connection, _RTMP, "RtmpConnection after a handshake"),
        Target("amf0", fuzz_amf0, _RTMP, "amf0.decode_all, re-encoding fixed point"),
        Target("amf3", fuzz_amf3, _RTMP, "one AMF3 value behind 0x11"),
        Target("flv_video", fuzz_flv_video, _RTMP, "flv.parse_video, legacy and enhanced"),
        Target("flv_audio", fuzz_flv_audio, _RTMP, "flv.parse_audio, legacy and enhanced"),
        Target("messages", fuzz_messages, _RTMP, "User Control and aggregate messages"),
        *(
            Target(f"codec_{c.name.lower()}", _describe(c), _CODEC, f"describe() of {c.name}")
            for c in Codec
        ),
        Target("avc_sps", fuzz_avc_sps, _CODEC, "parse_avc_sps"),
        Target("hevc_sps", fuzz_hevc_sps, _CODEC, "parse_hevc_sps"),
        Target("opus_head", fuzz_opus_head, _CODEC, "parse_opus_head"),
        Target("media_playlist", fuzz_media_playlist, _PLAYLIST, "parse_media, round trip"),
        Target(
            "multivariant_playlist",
            fuzz_multivariant_playlist,
            _PLAYLIST,
            "parse_multivariant, round trip",
        ),
        Target("reload_query", fuzz_reload_query, (ReloadQueryError,), "parse_reload_query"),
    )
}
