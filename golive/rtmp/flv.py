"""FLV tag bodies of RTMP audio and video messages, legacy and Enhanced RTMP, to media events.

An RTMP video message (type 9) or audio message (type 8) carries the body of an FLV tag
(RTMP 1.0, 7.1.5; FLV 10.1, E.4.2 and E.4.3). This module reads that body and hands back
codec-agnostic events: the decoder configuration (``ConfigChanged``), coded frames
(``golive.media.Sample``), the end of a sequence and Enhanced RTMP video metadata. Nothing
here keeps state: each call sees one message body and the caller's unwrapped 64-bit DTS in ms.

Formats read:

- Legacy video (FLV 10.1, E.4.3.1 VIDEODATA): codec id 7 (AVC) with an AVCVIDEOPACKET
  (E.4.3.2): AVCPacketType, SI24 CompositionTime, data. Codec id 12 is HEVC with the same
  layout, as Chinese CDNs and OBS forks sent it before Enhanced RTMP existed.
- Legacy audio (FLV 10.1, E.4.2.1 AUDIODATA): sound format 10 (AAC) with an AACAUDIODATA
  (E.4.2.2): AACPacketType, data.
- Enhanced RTMP v1 and v2 (veovera), ExVideoTagHeader and ExAudioTagHeader: FourCC codec
  signalling (avc1, hvc1, av01, vp09; mp4a, Opus), packet types, ModEx and Multitrack.

Choices where the specs leave room:

- ModEx (Enhanced RTMP v2, VideoPacketType.ModEx / AudioPacketType.ModEx) is parsed and
  skipped. Its one defined modifier, TimestampOffsetNano, is below 1 ms by definition (at most
  999,999 ns) and "does not alter the core RTMP timestamps"; golive's timeline is in ms, so
  there is nothing to apply. Unknown modifier types are skipped the same way: their size is
  explicit, so skipping cannot desynchronise the parse.
- Multitrack (Enhanced RTMP v2, Multitrack Streaming): only track id 0, the default track, is
  kept; other tracks are dropped unread (their codec is not even checked).
- Empty coded frames and empty AVC/HEVC/AV1/VP9/AAC configuration records carry nothing a
  packager can use and are ignored. An empty Opus SequenceStart is passed on, because the
  spec allows it (the decoder then defaults to mono/stereo).
- MPEG2TSSequenceStart (av01 with an MPEG-2 TS video descriptor) is ignored for now.
- Reserved frame types, packet types and multitrack types raise ``ProtocolError``: the spec
  says unrecognised critical signalling MUST fail in a controlled manner, and the layout that
  follows them is unknown.

Speed: this runs once per media message (about 75 per second per stream, for hundreds of
streams). Fixed fields are read with precompiled ``struct.Struct`` objects at offsets, and
the only copy made is the one slice that becomes a payload.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final, TypeAlias

from golive.media import Codec, Kind, Sample, TrackConfig

from .errors import ProtocolError, UnsupportedCodecError

__all__ = [
    "ConfigChanged",
    "EndOfSequence",
    "FlvEvent",
    "VideoMetadata",
    "parse_audio",
    "parse_video",
]


@dataclass(frozen=True, slots=True)
class ConfigChanged:
    """A sequence header / SequenceStart: the decoder configuration of a track."""

    config: TrackConfig


@dataclass(frozen=True, slots=True)
class EndOfSequence:
    """AVC end of sequence (FLV 10.1, E.4.3.2) or Enhanced RTMP SequenceEnd."""

    kind: Kind


@dataclass(frozen=True, slots=True)
class VideoMetadata:
    """Enhanced RTMP v2 VideoPacketType.Metadata: AMF-encoded ``[name, value]`` pairs such
    as ``colorInfo`` (Enhanced RTMP v2, Metadata Frame), kept as the raw bytes."""

    codec: Codec
    payload: bytes


FlvEvent: TypeAlias = ConfigChanged | Sample | EndOfSequence | VideoMetadata

_U16: Final = struct.Struct(">H")
# One big-endian UI32 read covers a UI8 followed by a UI24 (AVCPacketType + CompositionTime,
# trackId + sizeOfTrack) and a FourCC; one call instead of a slice plus int.from_bytes.
_U32: Final = struct.Struct(">I")
_U32_U32: Final = struct.Struct(">II")
_SI24_SIGN: Final = 0x800000
_U24_MASK: Final = 0xFFFFFF

_VIDEO_HINT: Final = "publish H.264, H.265, AV1 or VP9"
_AUDIO_HINT: Final = "publish AAC or Opus"

# --- Video constants (FLV 10.1, E.4.3.1; Enhanced RTMP v2, Enhanced Video) -----------------

_EX_VIDEO_HEADER: Final = 0x80  # IsExVideoHeader, bit 7 of the first byte
_FRAME_KEY: Final = 1
_FRAME_COMMAND: Final = 5  # video info / command frame: a UI8 command, no video data
# 1 key, 2 inter, 3 disposable inter (H.263 only), 4 generated key (server use), 5 command.
_RESERVED_FRAME_TYPES: Final = frozenset((0, 6, 7))

_CODEC_ID_AVC: Final = 7
_CODEC_ID_HEVC: Final = 12  # not in FLV 10.1: the pre-Enhanced-RTMP Chinese extension
_LEGACY_VIDEO: Final[dict[int, Codec]] = {_CODEC_ID_AVC: Codec.H264, _CODEC_ID_HEVC: Codec.H265}
_VIDEO_CODEC_NAMES: Final[dict[int, str]] = {
    1: "JPEG",
    2: "Sorenson H.263",
    3: "Screen Video",
    4: "On2 VP6",
    5: "On2 VP6 with alpha",
    6: "Screen Video v2",
}

# AVCPacketType (E.4.3.2), and the same numbers for VideoPacketType 0 to 2.
_SEQUENCE_START: Final = 0
_CODED_FRAMES: Final = 1
_SEQUENCE_END: Final = 2
# VideoPacketType only.
_CODED_FRAMES_X: Final = 3
_METADATA: Final = 4
_MPEG2TS_SEQUENCE_START: Final = 5
_VIDEO_MULTITRACK: Final = 6
_MODEX: Final = 7  # the same value in VideoPacketType and AudioPacketType
_VIDEO_PACKET_TYPES: Final = frozenset(range(8))

# --- Audio constants (FLV 10.1, E.4.2.1; Enhanced RTMP v2, Enhanced Audio) -----------------

_SOUND_FORMAT_EX_HEADER: Final = 9
_SOUND_FORMAT_AAC: Final = 10
_SOUND_FORMAT_NAMES: Final[dict[int, str]] = {
    0: "Linear PCM, platform endian",
    1: "ADPCM",
    2: "MP3",
    3: "Linear PCM, little endian",
    4: "Nellymoser 16 kHz mono",
    5: "Nellymoser 8 kHz mono",
    6: "Nellymoser",
    7: "G.711 A-law",
    8: "G.711 mu-law",
    11: "Speex",
    14: "MP3 8 kHz",
    15: "device-specific sound",
}
# AudioPacketType: 0 SequenceStart, 1 CodedFrames, 2 SequenceEnd as for video, then:
_MULTICHANNEL_CONFIG: Final = 4
_AUDIO_MULTITRACK: Final = 5
_AUDIO_PACKET_TYPES: Final = frozenset((0, 1, 2, 4, 5, 7))

# AvMultitrackType (shared by audio and video).
_ONE_TRACK: Final = 0
_MANY_TRACKS_MANY_CODECS: Final = 2


def _fourcc(text: str) -> int:
    return int.from_bytes(text.encode("latin-1"), "big")


# Codec's values are the ISO BMFF sample entry names, which are also the E-RTMP FourCCs.
_VIDEO_FOURCCS: Final[dict[int, Codec]] = {
    _fourcc(c.value): c for c in (Codec.H264, Codec.H265, Codec.AV1, Codec.VP9)
}
_AUDIO_FOURCCS: Final[dict[int, Codec]] = {_fourcc(c.value): c for c in (Codec.AAC, Codec.OPUS)}
_FOURCC_NAMES: Final[dict[int, str]] = {
    _fourcc("vp08"): "VP8",
    _fourcc(".mp3"): "MP3",
    _fourcc("fLaC"): "FLAC",
    _fourcc("ac-3"): "AC-3",
    _fourcc("ec-3"): "E-AC-3",
}
# Codecs whose CodedFrames carry an SI24 composition time offset (Enhanced RTMP v2,
# ExVideoTagBody); av01 and vp09 frames are in presentation order and have none.
_HAS_COMPOSITION_TIME: Final = frozenset((Codec.H264, Codec.H265))
_CODEC_NAMES: Final[dict[Codec, str]] = {
    Codec.H264: "AVC",
    Codec.H265: "HEVC",
    Codec.AV1: "AV1",
    Codec.VP9: "VP9",
    Codec.AAC: "AAC",
    Codec.OPUS: "Opus",
}


# --- Video -----------------------------------------------------------------------------


def parse_video(body: bytes, timestamp: int) -> list[FlvEvent]:
    """Events of one RTMP video message body (FLV 10.1, E.4.3.1 VIDEODATA, or Enhanced RTMP
    v2 ExVideoTagHeader when bit 7 of the first byte, IsExVideoHeader, is set).

    ``timestamp`` is the message's unwrapped time in ms, the DTS. Raises ``ProtocolError``
    for a malformed body and ``UnsupportedCodecError`` for a codec golive does not package.
    """
    if not body:
        return []
    first = body[0]
    frame_type = (first >> 4) & 0x07
    if first & _EX_VIDEO_HEADER:
        return _parse_ex_video(body, frame_type, first & 0x0F, timestamp)
    if frame_type == _FRAME_COMMAND:
        # Client-side seek start/end (E.4.3.1): no video data, nothing for a live packager.
        return []
    codec_id = first & 0x0F
    codec = _LEGACY_VIDEO.get(codec_id)
    if codec is None:
        name = _VIDEO_CODEC_NAMES.get(codec_id, "reserved")
        raise UnsupportedCodecError(
            f"video codec id {codec_id} ({name}) is not supported; {_VIDEO_HINT}"
        )
    if frame_type in _RESERVED_FRAME_TYPES:
        raise ProtocolError(f"video frame type {frame_type} is reserved")
    if len(body) < 5:
        raise ProtocolError(f"{_CODEC_NAMES[codec]} packet shorter than its 5-byte header")
    # AVCVIDEOPACKET (E.4.3.2): AVCPacketType UI8, CompositionTime SI24, then the data.
    word = _U32.unpack_from(body, 1)[0]
    packet_type = word >> 24
    if packet_type == _CODED_FRAMES:
        data = body[5:]
        if not data:
            return []
        cts = ((word & _U24_MASK) ^ _SI24_SIGN) - _SI24_SIGN
        return [Sample(codec, timestamp, cts, frame_type == _FRAME_KEY, data)]
    if packet_type == _SEQUENCE_START:
        # The CompositionTime of a sequence header is 0 by the spec and meaningless anyway.
        record = body[5:]
        return [ConfigChanged(TrackConfig(codec, record))] if record else []
    if packet_type == _SEQUENCE_END:
        return [EndOfSequence(Kind.VIDEO)]
    raise ProtocolError(f"{_CODEC_NAMES[codec]} packet type {packet_type} is not defined")


def _parse_ex_video(
    body: bytes, frame_type: int, packet_type: int, timestamp: int
) -> list[FlvEvent]:
    """Enhanced RTMP v2, ExVideoTagHeader then ExVideoTagBody (v1's header without ModEx and
    Multitrack reads the same way)."""
    end = len(body)
    pos = 1
    while packet_type == _MODEX:
        pos, packet_type = _skip_modex(body, pos, "video")
    if packet_type not in _VIDEO_PACKET_TYPES:
        raise ProtocolError(f"video packet type {packet_type} is reserved")
    if frame_type == _FRAME_COMMAND and packet_type != _METADATA:
        # A UI8 VideoCommand and no body: no FourCC, no multitrack header follow. (The spec
        # tests the packet type as read here, before any multitrack header.)
        return []
    keyframe = frame_type == _FRAME_KEY

    if packet_type != _VIDEO_MULTITRACK:
        _check_frame_type(frame_type, packet_type)
        if pos + 4 > end:
            raise ProtocolError("enhanced video tag ends before its FourCC")
        codec = _video_codec(_U32.unpack_from(body, pos)[0])
        return _ex_video_track(body, pos + 4, end, codec, packet_type, keyframe, timestamp)

    if pos >= end:
        raise ProtocolError("enhanced video tag ends before its multitrack header")
    multitrack_type, packet_type = body[pos] >> 4, body[pos] & 0x0F
    pos += 1
    if packet_type not in _VIDEO_PACKET_TYPES:
        raise ProtocolError(f"video packet type {packet_type} is reserved")
    if packet_type in (_VIDEO_MULTITRACK, _MODEX):
        raise ProtocolError(f"video packet type {packet_type} inside a multitrack packet")
    _check_frame_type(frame_type, packet_type)
    events: list[FlvEvent] = []
    for codec_fourcc, start, stop in _tracks(body, pos, multitrack_type, "video"):
        codec = _video_codec(codec_fourcc)
        events.extend(_ex_video_track(body, start, stop, codec, packet_type, keyframe, timestamp))
    return events


def _ex_video_track(
    body: bytes,
    start: int,
    stop: int,
    codec: Codec,
    packet_type: int,
    keyframe: bool,
    timestamp: int,
) -> list[FlvEvent]:
    """One track's ExVideoTagBody, ``body[start:stop]`` (Enhanced RTMP v2, ExVideoTagBody)."""
    if packet_type == _CODED_FRAMES:
        cts = 0
        if codec in _HAS_COMPOSITION_TIME:
            if stop - start < 3:
                raise ProtocolError(
                    f"{_CODEC_NAMES[codec]} coded frames shorter than their composition time"
                )
            # The UI32 ending at start + 3 has the SI24 in its low 24 bits; at least a header
            # byte and a FourCC precede start, so start - 1 is inside the body.
            word = _U32.unpack_from(body, start - 1)[0]
            cts = ((word & _U24_MASK) ^ _SI24_SIGN) - _SI24_SIGN
            start += 3
        data = body[start:stop]
        return [Sample(codec, timestamp, cts, keyframe, data)] if data else []
    if packet_type == _CODED_FRAMES_X:
        # Composition time implied 0: the SI24 is left off the wire.
        data = body[start:stop]
        return [Sample(codec, timestamp, 0, keyframe, data)] if data else []
    if packet_type == _SEQUENCE_START:
        record = body[start:stop]
        return [ConfigChanged(TrackConfig(codec, record))] if record else []
    if packet_type == _SEQUENCE_END:
        return [EndOfSequence(Kind.VIDEO)]
    if packet_type == _METADATA:
        return [VideoMetadata(codec, body[start:stop])]
    # MPEG2TSSequenceStart: an AV1 video descriptor (for MPEG-2 TS carriage) instead of the
    # AV1CodecConfigurationRecord. Not supported yet; the spec makes it and SequenceStart
    # mutually exclusive, so such a track simply never gets a ConfigChanged from here.
    return []


def _check_frame_type(frame_type: int, packet_type: int) -> None:
    # "If VideoPacketType.Metadata is present, the FrameType flags should be ignored."
    if frame_type in _RESERVED_FRAME_TYPES and packet_type != _METADATA:
        raise ProtocolError(f"video frame type {frame_type} is reserved")


def _video_codec(fourcc: int) -> Codec:
    codec = _VIDEO_FOURCCS.get(fourcc)
    if codec is None:
        raise UnsupportedCodecError(
            f"video FourCC {_describe_fourcc(fourcc)} is not supported; {_VIDEO_HINT}"
        )
    return codec


# --- Audio -----------------------------------------------------------------------------


def parse_audio(body: bytes, timestamp: int) -> list[FlvEvent]:
    """Events of one RTMP audio message body (FLV 10.1, E.4.2.1 AUDIODATA, or Enhanced RTMP
    v2 ExAudioTagHeader when SoundFormat is 9, ExHeader).

    ``timestamp`` is the message's unwrapped time in ms. Raises ``ProtocolError`` for a
    malformed body and ``UnsupportedCodecError`` for a codec golive does not package.
    """
    if not body:
        # The "audio silence" message of Enhanced RTMP v2 (AudioPacketType notes).
        return []
    first = body[0]
    sound_format = first >> 4
    if sound_format == _SOUND_FORMAT_AAC:
        # AACAUDIODATA (E.4.2.2): AACPacketType UI8, then the ASC or a raw frame. The
        # rate/size/type bits are fixed for AAC and say nothing the ASC does not.
        if len(body) < 2:
            raise ProtocolError("AAC packet shorter than its 2-byte header")
        packet_type = body[1]
        if packet_type == _CODED_FRAMES:
            data = body[2:]
            return [Sample(Codec.AAC, timestamp, 0, True, data)] if data else []
        if packet_type == _SEQUENCE_START:
            asc = body[2:]
            return [ConfigChanged(TrackConfig(Codec.AAC, asc))] if asc else []
        raise ProtocolError(f"AAC packet type {packet_type} is not defined")
    if sound_format == _SOUND_FORMAT_EX_HEADER:
        return _parse_ex_audio(body, first & 0x0F, timestamp)
    name = _SOUND_FORMAT_NAMES.get(sound_format, "reserved")
    raise UnsupportedCodecError(
        f"audio format {sound_format} ({name}) is not supported; {_AUDIO_HINT}"
    )


def _parse_ex_audio(body: bytes, packet_type: int, timestamp: int) -> list[FlvEvent]:
    """Enhanced RTMP v2, ExAudioTagHeader then ExAudioTagBody."""
    end = len(body)
    pos = 1
    while packet_type == _MODEX:
        pos, packet_type = _skip_modex(body, pos, "audio")
    if packet_type not in _AUDIO_PACKET_TYPES:
        raise ProtocolError(f"audio packet type {packet_type} is reserved")

    if packet_type != _AUDIO_MULTITRACK:
        if pos + 4 > end:
            raise ProtocolError("enhanced audio tag ends before its FourCC")
        codec = _audio_codec(_U32.unpack_from(body, pos)[0])
        return _ex_audio_track(body, pos + 4, end, codec, packet_type, timestamp)

    if pos >= end:
        raise ProtocolError("enhanced audio tag ends before its multitrack header")
    multitrack_type, packet_type = body[pos] >> 4, body[pos] & 0x0F
    pos += 1
    if packet_type not in _AUDIO_PACKET_TYPES:
        raise ProtocolError(f"audio packet type {packet_type} is reserved")
    if packet_type in (_AUDIO_MULTITRACK, _MODEX):
        raise ProtocolError(f"audio packet type {packet_type} inside a multitrack packet")
    events: list[FlvEvent] = []
    for codec_fourcc, start, stop in _tracks(body, pos, multitrack_type, "audio"):
        codec = _audio_codec(codec_fourcc)
        events.extend(_ex_audio_track(body, start, stop, codec, packet_type, timestamp))
    return events


def _ex_audio_track(
    body: bytes, start: int, stop: int, codec: Codec, packet_type: int, timestamp: int
) -> list[FlvEvent]:
    """One track's ExAudioTagBody, ``body[start:stop]`` (Enhanced RTMP v2, ExAudioTagBody)."""
    if packet_type == _CODED_FRAMES:
        # Every AAC and Opus packet decodes on its own: all are sync samples.
        data = body[start:stop]
        return [Sample(codec, timestamp, 0, True, data)] if data else []
    if packet_type == _SEQUENCE_START:
        record = body[start:stop]
        # An empty Opus ID header is allowed (the decoder defaults to mono/stereo); an
        # empty AudioSpecificConfig describes nothing.
        if record or codec is Codec.OPUS:
            return [ConfigChanged(TrackConfig(codec, record))]
        return []
    if packet_type == _SEQUENCE_END:
        return [EndOfSequence(Kind.AUDIO)]
    # MultichannelConfig: channel order and mask for codecs that do not describe their own
    # layout. AAC's ASC and the Opus ID header both do, so it adds nothing golive uses.
    return []


def _audio_codec(fourcc: int) -> Codec:
    codec = _AUDIO_FOURCCS.get(fourcc)
    if codec is None:
        raise UnsupportedCodecError(
            f"audio FourCC {_describe_fourcc(fourcc)} is not supported; {_AUDIO_HINT}"
        )
    return codec


# --- Shared by audio and video ---------------------------------------------------------


def _skip_modex(body: bytes, pos: int, kind: str) -> tuple[int, int]:
    """Skips one ModEx block at ``pos``; returns the position after it and the packet type
    it carries (Enhanced RTMP v2, ExVideoTagHeader / ExAudioTagHeader, ModEx loop).

    Layout: modExDataSize = UI8 + 1, or UI16 + 1 when the UI8 is 255; modExData; then one
    byte of PacketModExType (high nibble) and the next PacketType (low nibble). The
    modifier itself is not applied; see the module docstring.
    """
    end = len(body)
    if pos >= end:
        raise ProtocolError(f"{kind} ModEx block ends before its size")
    size = body[pos] + 1
    pos += 1
    if size == 256:
        if pos + 2 > end:
            raise ProtocolError(f"{kind} ModEx block ends before its 16-bit size")
        size = _U16.unpack_from(body, pos)[0] + 1
        pos += 2
    pos += size
    if pos >= end:
        raise ProtocolError(f"{kind} ModEx data runs past the end of the message")
    return pos + 1, body[pos] & 0x0F


def _tracks(body: bytes, pos: int, multitrack_type: int, kind: str) -> list[tuple[int, int, int]]:
    """The default track (id 0) of a multitrack body as ``(fourcc, start, stop)``, found by
    walking every track header (Enhanced RTMP v2, Multitrack Streaming; ExVideoTagBody and
    ExAudioTagBody loops).

    After the multitrack byte: a FourCC shared by all tracks unless the type is
    ManyTracksManyCodecs; then per track an own FourCC (ManyTracksManyCodecs only), trackId
    UI8 and, unless OneTrack, sizeOfTrack UI24 counted from just after that field. Tracks
    other than 0 are skipped unread.
    """
    end = len(body)
    if multitrack_type > _MANY_TRACKS_MANY_CODECS:
        raise ProtocolError(f"{kind} multitrack type {multitrack_type} is reserved")
    shared_fourcc = 0
    if multitrack_type != _MANY_TRACKS_MANY_CODECS:
        if pos + 4 > end:
            raise ProtocolError(f"{kind} multitrack packet ends before its FourCC")
        shared_fourcc = _U32.unpack_from(body, pos)[0]
        pos += 4
    if pos >= end:
        raise ProtocolError(f"{kind} multitrack packet has no track")
    if multitrack_type == _ONE_TRACK:
        # One trackId and the rest of the message is that track's body.
        return [(shared_fourcc, pos + 1, end)] if body[pos] == 0 else []

    found: list[tuple[int, int, int]] = []
    while pos < end:
        if multitrack_type == _MANY_TRACKS_MANY_CODECS:
            if pos + 8 > end:
                raise ProtocolError(f"{kind} multitrack track header is truncated")
            fourcc, word = _U32_U32.unpack_from(body, pos)
            pos += 8
        else:
            if pos + 4 > end:
                raise ProtocolError(f"{kind} multitrack track header is truncated")
            fourcc = shared_fourcc
            word = _U32.unpack_from(body, pos)[0]
            pos += 4
        stop = pos + (word & _U24_MASK)
        if stop > end:
            raise ProtocolError(f"{kind} track {word >> 24} runs past the end of the message")
        if word >> 24 == 0:
            found.append((fourcc, pos, stop))
        pos = stop
    return found


def _describe_fourcc(fourcc: int) -> str:
    """``'vp08' (VP8)`` for a known name, else the quoted characters (escaped by repr)."""
    text = repr(fourcc.to_bytes(4, "big").decode("latin-1"))
    name = _FOURCC_NAMES.get(fourcc)
    return f"{text} ({name})" if name else text
