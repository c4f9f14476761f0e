"""Fragmented MP4: the init segment, and the movie fragments HLS serves as segments and parts.

ISO/IEC 14496-12 (ISO BMFF) boxes as bytes, CMAF-style (ISO/IEC 23000-19): one ``moov``
with empty sample tables and a ``trex`` per track, then ``moof`` + ``mdat`` pairs whose
``tfdt`` carries the absolute decode time and whose ``trun`` (version 1) carries every
sample's duration, size, flags and signed composition offset, so B-frames need no edit list.

Nothing here does I/O or keeps state. ``fragment`` runs on the event loop for every LL-HLS
part (about 10 video and 16 audio samples each third of a second): it packs fixed fields
with precompiled ``struct.Struct`` objects, joins pieces once, patches the ``trun`` data
offsets in place once the ``moof`` size is known, and never copies sample data more than
the one final join.

Conventions the callers rely on:

- Sample data is what ``golive.media.Sample`` carries: 4-byte length-prefixed NAL units for
  H.264/H.265 (matching the avcC/hvcC ``lengthSizeMinusOne`` of 3 that encoders write), the
  raw frame otherwise.
- Audio samples are marked ``keyframe=True`` by the caller: every AAC and Opus frame is a
  sync sample.
- The timescale is the caller's: 90 kHz for video, the sample rate for audio (48 kHz for
  Opus). The movie timescale is 1000 and every duration in ``moov`` is 0 (unknown: live).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from golive.codecs import TrackInfo, describe
from golive.codecs.opus import OPUS_SAMPLE_RATE, OpusHead, parse_opus_head
from golive.codecs.vp9 import vpcc_box_payload
from golive.media import Codec, Kind, TrackConfig, record

__all__ = ["FragmentSample", "TrackRun", "TrackSpec", "fragment", "init_segment"]


@dataclass(frozen=True, slots=True)
class TrackSpec:
    """One track of the init segment."""

    track_id: int
    config: TrackConfig
    timescale: int
    """Ticks per second: 90000 for video, the sample rate for audio (48000 for Opus)."""


@record
class FragmentSample:
    """One sample of a ``trun``; times are in the track timescale."""

    duration: int
    size: int
    """Must equal ``len(data)``."""
    keyframe: bool
    composition_offset: int
    """PTS - DTS, signed (``trun`` version 1)."""
    data: bytes


@record
class TrackRun:
    """The samples of one track in one fragment, in decode order."""

    track_id: int
    base_decode_time: int
    """The ``tfdt`` baseMediaDecodeTime: the first sample's DTS, 64-bit, track timescale."""
    samples: Sequence[FragmentSample]


# --- Box helpers --------------------------------------------------------------------------

_HEADER: Final = struct.Struct(">I4s")
_FULL_HEADER: Final = struct.Struct(">I4sI")  # size, type, version << 24 | flags
_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")

# 14496-12, 6.2.2 / 8.3.2.3: the identity transformation matrix, in 16.16 and 2.30.
_MATRIX: Final = struct.pack(">9i", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)


def _box(kind: bytes, *payload: bytes) -> bytes:
    """Box, 14496-12 4.2: 32-bit size and type; init segments never need a largesize."""
    return b"".join((_HEADER.pack(8 + sum(map(len, payload)), kind), *payload))


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    """FullBox, 14496-12 4.2: a Box with an 8-bit version and 24-bit flags."""
    size = 12 + sum(map(len, payload))
    return b"".join((_FULL_HEADER.pack(size, kind, version << 24 | flags), *payload))


# --- Init segment -------------------------------------------------------------------------

_MOVIE_TIMESCALE: Final = 1000
_LANGUAGE_UND: Final = (ord("u") - 0x60) << 10 | (ord("n") - 0x60) << 5 | (ord("d") - 0x60)
_TRACK_ENABLED_IN_MOVIE: Final = 0x000003  # track_enabled | track_in_movie (8.3.2.3)


def init_segment(tracks: Sequence[TrackSpec]) -> bytes:
    """The initialization segment: ``ftyp`` + ``moov`` (ISO/IEC 14496-12, 8.8.1 for the
    movie-fragment signalling; CMAF 7.3.1 for the header constraints).

    Raises ``golive.codecs.CodecError`` for a malformed configuration record and
    ``ValueError`` for track ids that are not unique positive 32-bit integers or a
    timescale that is not positive.
    """
    if not tracks:
        raise ValueError("an init segment needs at least one track")
    ids = [t.track_id for t in tracks]
    if len(set(ids)) != len(ids) or not all(0 < i < 1 << 32 for i in ids):
        raise ValueError(f"track ids must be unique and in 1..2**32-1, got {ids}")
    for t in tracks:
        if not 0 < t.timescale < 1 << 32:
            raise ValueError(f"track {t.track_id}: timescale {t.timescale}")

    # ftyp
    # moov
    #   mvhd
    #   trak                (one per track)
    #     tkhd
    #     mdia
    #       mdhd
    #       hdlr
    #       minf
    #         vmhd | smhd
    #         dinf
    #           dref
    #             url
    #         stbl
    #           stsd
    #             avc1 | hvc1 | av01 | vp09 | mp4a | Opus   (with avcC | hvcC | av1C | vpcC |
    #                                                        esds | dOps)
    #           stts
    #           stsc
    #           stsz
    #           stco
    #   mvex
    #     trex              (one per track)
    return b"".join(
        (
            _ftyp(tracks),
            _box(
                b"moov",
                _mvhd(max(ids) + 1),
                *(_trak(t) for t in tracks),
                _box(b"mvex", *(_trex(t.track_id) for t in tracks)),
            ),
        )
    )


def _ftyp(tracks: Sequence[TrackSpec]) -> bytes:
    """File Type Box, 14496-12 4.3. ``iso6`` covers tfdt, trun version 1 and default-base-is-
    moof; ``cmfc`` (CMAF 7.2) is claimed only for a single track, as CMAF allows one track
    per file; ``mp41`` keeps older players that look for it content."""
    brands = [b"iso6", b"mp41"]
    if len(tracks) == 1:
        brands.append(b"cmfc")
    return _box(b"ftyp", b"iso6", _U32.pack(0), *brands)


def _mvhd(next_track_id: int) -> bytes:
    """Movie Header Box, 14496-12 8.2.2, version 0; duration 0 because the stream is live."""
    return _full_box(
        b"mvhd",
        0,
        0,
        struct.pack(
            ">IIII", 0, 0, _MOVIE_TIMESCALE, 0
        ),  # creation, modification, timescale, duration
        struct.pack(">iH10x", 0x00010000, 0x0100),  # rate 1.0, volume 1.0, reserved
        _MATRIX,
        bytes(24),  # pre_defined
        _U32.pack(next_track_id),
    )


def _trak(track: TrackSpec) -> bytes:
    config = track.config
    info = describe(config)
    video = config.kind is Kind.VIDEO
    if video:
        handler, name = b"vide", b"VideoHandler\x00"
        media_header = _full_box(b"vmhd", 0, 1, bytes(8))  # 12.1.2: flags 1, copy mode
    else:
        handler, name = b"soun", b"SoundHandler\x00"
        media_header = _full_box(b"smhd", 0, 0, bytes(4))  # 12.2.2: balance 0, reserved
    # 8.7.2: one 'url ' entry with flag 1: the media data is in this file.
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, _U32.pack(1), _full_box(b"url ", 0, 1)))
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, _U32.pack(1), _sample_entry(config, info)),
        _full_box(b"stts", 0, 0, _U32.pack(0)),
        _full_box(b"stsc", 0, 0, _U32.pack(0)),
        _full_box(b"stsz", 0, 0, _U32.pack(0), _U32.pack(0)),  # sample_size, sample_count
        _full_box(b"stco", 0, 0, _U32.pack(0)),
    )
    return _box(
        b"trak",
        _tkhd(track.track_id, video, info.width, info.height),
        _box(
            b"mdia",
            _mdhd(track.timescale),
            # 8.4.3: pre_defined, handler_type, reserved[3], name (null-terminated UTF-8)
            _full_box(b"hdlr", 0, 0, _U32.pack(0), handler, bytes(12), name),
            _box(b"minf", media_header, dinf, stbl),
        ),
    )


def _tkhd(track_id: int, video: bool, width: int, height: int) -> bytes:
    """Track Header Box, 14496-12 8.3.2, version 0: volume 1.0 for audio, the picture size
    in 16.16 fixed point for video."""
    return _full_box(
        b"tkhd",
        0,
        _TRACK_ENABLED_IN_MOVIE,
        struct.pack(
            ">IIIII", 0, 0, track_id, 0, 0
        ),  # creation, modification, id, reserved, duration
        # reserved[2], layer, alternate_group, volume, reserved
        struct.pack(">8xhhhH", 0, 0, 0 if video else 0x0100, 0),
        _MATRIX,
        struct.pack(">II", width << 16, height << 16),
    )


def _mdhd(timescale: int) -> bytes:
    """Media Header Box, 14496-12 8.4.2, version 0, language ``und`` (ISO 639-2/T, packed as
    three 5-bit letters offset by 0x60)."""
    return _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, 0, _LANGUAGE_UND, 0))


def _trex(track_id: int) -> bytes:
    """Track Extends Box, 14496-12 8.8.3: description 1, no defaults (every trun says all)."""
    return _full_box(b"trex", 0, 0, struct.pack(">IIIII", track_id, 1, 0, 0, 0))


# --- Sample entries -----------------------------------------------------------------------


def _sample_entry(config: TrackConfig, info: TrackInfo) -> bytes:
    codec = config.codec
    record = config.record
    if codec is Codec.H264:
        return _visual_entry(info, b"avc1", _box(b"avcC", record))
    if codec is Codec.H265:
        return _visual_entry(info, b"hvc1", _box(b"hvcC", record))
    if codec is Codec.AV1:
        return _visual_entry(info, b"av01", _box(b"av1C", record))
    if codec is Codec.VP9:
        return _visual_entry(info, b"vp09", _box(b"vpcC", vpcc_box_payload(record)))
    if codec is Codec.AAC:
        # 14496-14 5.6: the values here are informative for mp4a; the decoder reads the
        # AudioSpecificConfig. Unknown channels are written as stereo.
        return _audio_entry(b"mp4a", info.channels or 2, info.sample_rate, _esds(record))
    head = parse_opus_head(record)
    return _audio_entry(b"Opus", head.channels, OPUS_SAMPLE_RATE, _dops(head))


def _visual_entry(info: TrackInfo, kind: bytes, codec_box: bytes) -> bytes:
    """VisualSampleEntry, 14496-12 12.1.3; the size is the cropped picture size."""
    if info.width > 0xFFFF or info.height > 0xFFFF:
        raise ValueError(f"{info.width}x{info.height} does not fit a visual sample entry")
    return _box(
        kind,
        bytes(6),  # SampleEntry reserved
        _U16.pack(1),  # data_reference_index
        bytes(16),  # pre_defined, reserved, pre_defined[3]
        struct.pack(">HH", info.width, info.height),
        struct.pack(">II4xH", 0x00480000, 0x00480000, 1),  # 72 dpi, reserved, frame_count 1
        bytes(32),  # compressorname: empty Pascal string
        struct.pack(">Hh", 0x0018, -1),  # depth 24 (colour, no alpha), pre_defined -1
        codec_box,
    )


def _audio_entry(kind: bytes, channels: int, sample_rate: int, codec_box: bytes) -> bytes:
    """AudioSampleEntry, 14496-12 12.2.3, version 0. The 16.16 samplerate field cannot hold
    rates above 65535 Hz; such rates are written as 0 and left to the decoder config."""
    rate = sample_rate << 16 if sample_rate <= 0xFFFF else 0
    return _box(
        kind,
        bytes(6),  # SampleEntry reserved
        _U16.pack(1),  # data_reference_index
        bytes(8),  # reserved[2]
        struct.pack(">HHHHI", channels, 16, 0, 0, rate),  # samplesize 16, pre_defined, reserved
        codec_box,
    )


def _descriptor(tag: int, *payload: bytes) -> bytes:
    """An MPEG-4 descriptor, ISO/IEC 14496-1 8.3.3: tag and expandable size, 7 bits a byte
    with the high bit set on every byte but the last."""
    size = sum(map(len, payload))
    size_bytes = [size & 0x7F]
    size >>= 7
    while size:
        size_bytes.append(0x80 | size & 0x7F)
        size >>= 7
    return b"".join((bytes((tag, *reversed(size_bytes))), *payload))


def _esds(audio_specific_config: bytes) -> bytes:
    """ES Descriptor Box, ISO/IEC 14496-14 5.6.1, holding an ES_Descriptor (14496-1 7.2.6.5)
    with a DecoderConfigDescriptor (7.2.6.6: objectTypeIndication 0x40 MPEG-4 Audio,
    streamType 5 audio, upStream 0, reserved 1), the AudioSpecificConfig as
    DecoderSpecificInfo (7.2.6.7) and an SLConfigDescriptor with predefined 2 (MP4 files,
    14496-14 3.1.2). Buffer size and bitrates are 0: unknown for a live stream."""
    decoder_config = _descriptor(
        0x04,
        struct.pack(">BB3sII", 0x40, 0x05 << 2 | 0x01, bytes(3), 0, 0),
        _descriptor(0x05, audio_specific_config),
    )
    es = _descriptor(
        0x03,
        struct.pack(">HB", 0, 0),  # ES_ID 0 (14496-14 3.1.2), no dependence/URL/OCR, priority 0
        decoder_config,
        _descriptor(0x06, b"\x02"),
    )
    return _full_box(b"esds", 0, 0, es)


def _dops(head: OpusHead) -> bytes:
    """Opus Specific Box, Opus in ISOBMFF 4.3.2: OpusHead's fields in big-endian (OpusHead
    is little-endian), version 0, the mapping table only for a family other than 0."""
    fields = struct.pack(
        ">BBHIhB",
        0,
        head.channels,
        head.pre_skip,
        head.input_sample_rate,
        head.output_gain,
        head.mapping_family,
    )
    if head.mapping_family == 0:
        return _box(b"dOps", fields)
    return _box(b"dOps", fields, bytes((head.stream_count, head.coupled_count)), head.mapping)


# --- Fragments ----------------------------------------------------------------------------

# tfhd flags (8.8.7.1): default-base-is-moof, so data offsets count from the moof's first byte.
_TFHD_DEFAULT_BASE_IS_MOOF: Final = 0x020000
# trun flags (8.8.8.1): data-offset, sample-duration, sample-size, sample-flags and
# sample-composition-time-offset present.
_TRUN_FLAGS: Final = 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800
# sample_flags (8.8.3.1): is_leading 2 bits, sample_depends_on 2, sample_is_depended_on 2,
# sample_has_redundancy 2, padding 3, sample_is_non_sync_sample 1, degradation priority 16.
_SYNC_FLAGS: Final = 2 << 24  # depends on no other sample
_NON_SYNC_FLAGS: Final = 1 << 24 | 1 << 16  # depends on others, not a sync sample

_MOOF_HEADER: Final = struct.Struct(">I4s")
_MFHD: Final = struct.Struct(">I4sII")  # size, 'mfhd', version/flags, sequence_number
# traf header + tfhd (track_ID only) + tfdt version 1 + trun header up to data_offset
_TRAF_HEAD: Final = struct.Struct(">I4s" + "I4sII" + "I4sIQ" + "I4sIIi")
_TRUN_SAMPLE: Final = struct.Struct(">IIIi")
_DATA_OFFSET_AT: Final = _TRAF_HEAD.size - 4  # where trun's data_offset sits in a traf
_MDAT_HEADER: Final = struct.Struct(">I4s")
_MDAT_LARGE_HEADER: Final = struct.Struct(">I4sQ")


def fragment(sequence_number: int, runs: Sequence[TrackRun]) -> bytes:
    """One movie fragment: ``moof`` + ``mdat`` (ISO/IEC 14496-12, 8.8.4 to 8.8.8 and 8.8.12).

    The ``mdat`` holds each run's samples in order, run after run; each ``trun`` data offset
    points at its run's first sample, counted from the first byte of the ``moof``.
    ``sequence_number`` starts at 1 and grows by one per fragment (8.8.5.3).

    Raises ``ValueError`` when a sample's size is not ``len(data)`` or a field is out of
    range (durations and sizes unsigned 32-bit, composition offsets signed 32-bit).
    """
    # moof
    #   mfhd
    #   traf            (one per run)
    #     tfhd          (default-base-is-moof, track_ID)
    #     tfdt          (version 1: 64-bit baseMediaDecodeTime)
    #     trun          (version 1: data offset; duration, size, flags, signed cto per sample)
    # mdat              (every run's samples, in order)
    pieces: list[bytes] = [b"", _MFHD.pack(16, b"mfhd", 0, sequence_number)]
    patches: list[tuple[int, int]] = []  # (where a data_offset sits in the moof, mdat offset)
    moof_size = _MOOF_HEADER.size + _MFHD.size
    data_size = 0
    payloads: list[bytes] = []
    try:
        for run in runs:
            samples = run.samples
            count = len(samples)
            trun_size = 20 + _TRUN_SAMPLE.size * count
            traf_size = 8 + 16 + 20 + trun_size
            pieces.append(
                _TRAF_HEAD.pack(
                    traf_size,
                    b"traf",
                    16,
                    b"tfhd",
                    _TFHD_DEFAULT_BASE_IS_MOOF,
                    run.track_id,
                    20,
                    b"tfdt",
                    1 << 24,
                    run.base_decode_time,
                    trun_size,
                    b"trun",
                    1 << 24 | _TRUN_FLAGS,
                    count,
                    0,  # data_offset: patched below, once the moof size is known
                )
            )
            pieces.extend(
                [
                    _TRUN_SAMPLE.pack(
                        s.duration,
                        s.size,
                        _SYNC_FLAGS if s.keyframe else _NON_SYNC_FLAGS,
                        s.composition_offset,
                    )
                    for s in samples
                ]
            )
            patches.append((moof_size + _DATA_OFFSET_AT, data_size))
            moof_size += traf_size
            for s in samples:
                if s.size != len(s.data):
                    raise ValueError(
                        f"track {run.track_id}: sample size {s.size} but {len(s.data)} bytes"
                    )
                data_size += s.size
            payloads.extend([s.data for s in samples])
        pieces[0] = _MOOF_HEADER.pack(moof_size, b"moof")
        moof = bytearray(b"".join(pieces))
        if data_size + 8 > 0xFFFFFFFF:
            mdat_header = _MDAT_LARGE_HEADER.pack(1, b"mdat", data_size + 16)
        else:
            mdat_header = _MDAT_HEADER.pack(data_size + 8, b"mdat")
        first_sample = moof_size + len(mdat_header)
        for at, offset in patches:
            struct.pack_into(">i", moof, at, first_sample + offset)
    except struct.error as exc:
        raise ValueError(f"fragment {sequence_number}: a field is out of range: {exc}") from None
    return b"".join([moof, mdat_header, *payloads])
