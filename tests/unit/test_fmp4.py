"""Fragmented MP4 (golive.formats.fmp4): byte tables worked out by hand for the init segment
and a fragment, and data offsets and signed composition offsets under fuzzing. Files read back
by FFmpeg are in ``tests/integration/test_media_interop.py``."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.codecs import CodecError
from golive.formats.fmp4 import FragmentSample, TrackRun, TrackSpec, fragment, init_segment
from golive.media import Codec, TrackConfig
from tests.harness.records import OPUS_5_1, OPUS_STEREO, VPCC_BODY, avcc, sps_baseline_320x240

# --- A box walker -------------------------------------------------------------------------

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"dinf", b"stbl", b"mvex", b"moof", b"traf"}
# Sample entries: the fixed fields before their child boxes (14496-12, 12.1.3 and 12.2.3).
ENTRY_FIELDS = {b"avc1": 78, b"hvc1": 78, b"av01": 78, b"vp09": 78, b"mp4a": 28, b"Opus": 28}


@dataclass
class Box:
    kind: bytes
    start: int  # offset of the box header in the whole buffer
    payload: bytes
    children: list[Box] = field(default_factory=list)

    def find(self, path: str) -> Box:
        return find(self.children, path)


def walk(data: bytes, base: int = 0) -> list[Box]:
    boxes = []
    pos = 0
    while pos < len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        assert size >= header and pos + size <= len(data), f"bad size for {kind!r}"
        box = Box(kind, base + pos, data[pos + header : pos + size])
        if kind in CONTAINERS:
            box.children = walk(box.payload, base + pos + header)
        elif kind in (b"stsd", b"dref"):  # FullBox header and entry_count, then boxes
            box.children = walk(box.payload[8:], base + pos + header + 8)
        if kind in ENTRY_FIELDS:
            fixed = ENTRY_FIELDS[kind]
            box.children = walk(box.payload[fixed:], base + pos + header + fixed)
        boxes.append(box)
        pos += size
    return boxes


def find(boxes: Sequence[Box], path: str) -> Box:
    head, _, rest = path.partition("/")
    matches = [b for b in boxes if b.kind == head.encode()]
    assert len(matches) == 1, f"{len(matches)} {head!r} boxes"
    return matches[0].find(rest) if rest else matches[0]


def h(text: str) -> bytes:
    """Hex with spaces and comments (``# ...`` to the end of a line), FourCCs as 'xxxx'
    (without spaces inside)."""
    out = bytearray()
    for line in text.splitlines():
        for part in line.split("#")[0].split():
            out += part[1:-1].encode() if part.startswith("'") else bytes.fromhex(part)
    return bytes(out)


# --- Init segment, byte for byte ----------------------------------------------------------

ASC = bytes.fromhex("1190")
MATRIX = "00010000 00000000 00000000 00000000 00010000 00000000 00000000 00000000 40000000"

AAC_INIT = h(
    f"""
    0000001c 'ftyp' 'iso6' 00000000 'iso6' 'mp41' 'cmfc'
    00000238 'moov'
      0000006c 'mvhd' 00000000
        00000000 00000000 000003e8 00000000   # creation, modification, timescale 1000, duration
        00010000 0100 0000 00000000 00000000  # rate 1.0, volume 1.0, reserved
        {MATRIX}
        000000000000000000000000000000000000000000000000  # pre_defined
        00000003                              # next_track_ID
      0000019c 'trak'
        0000005c 'tkhd' 00000003              # enabled, in movie
          00000000 00000000 00000002 00000000 00000000  # track_ID 2, duration 0
          00000000 00000000 0000 0000 0100 0000         # layer, group, volume 1.0
          {MATRIX}
          00000000 00000000                   # width, height
        00000138 'mdia'
          00000020 'mdhd' 00000000 00000000 00000000 0000bb80 00000000 55c4 0000  # 48 kHz, und
          0000002d 'hdlr' 00000000 00000000 'soun' 000000000000000000000000
            'Soun' 'dHan' 'dler' 00
          000000e3 'minf'
            00000010 'smhd' 00000000 0000 0000
            00000024 'dinf'
              0000001c 'dref' 00000000 00000001
                0000000c 75726c20 00000001  # 'url ', self-contained
            000000a7 'stbl'
              0000005b 'stsd' 00000000 00000001
                0000004b 'mp4a' 000000000000 0001 00000000 00000000
                  0002 0010 0000 0000 bb800000  # stereo, 16 bits, 48000 in 16.16
                  00000027 'esds' 00000000
                    03 19 0000 00               # ES_Descriptor: ES_ID 0, no flags
                      04 11 40 15 000000 00000000 00000000  # MPEG-4 Audio, audio stream
                        05 02 1190              # DecoderSpecificInfo: the AudioSpecificConfig
                      06 01 02                  # SLConfigDescriptor: predefined 2
              00000010 'stts' 00000000 00000000
              00000010 'stsc' 00000000 00000000
              00000014 'stsz' 00000000 00000000 00000000
              00000010 'stco' 00000000 00000000
      00000028 'mvex'
        00000020 'trex' 00000000 00000002 00000001 00000000 00000000 00000000
    """
)


def test_aac_init_segment_byte_for_byte() -> None:
    data = init_segment([TrackSpec(2, TrackConfig(Codec.AAC, ASC), 48000)])
    assert data == AAC_INIT


def test_h264_init_segment_fields() -> None:
    record = avcc(sps_baseline_320x240())  # 320x240
    data = init_segment([TrackSpec(1, TrackConfig(Codec.H264, record), 90000)])
    boxes = walk(data)
    assert [b.kind for b in boxes] == [b"ftyp", b"moov"]
    tkhd = find(boxes, "moov/trak/tkhd").payload
    assert tkhd[:4] == h("00000003")
    assert tkhd[12:16] == h("00000001")  # track_ID
    assert tkhd[36:38] == h("0000")  # volume 0 for video
    assert tkhd[-8:] == h("01400000 00f00000")  # 320.0 x 240.0 in 16.16
    assert find(boxes, "moov/trak/mdia/mdhd").payload[12:16] == h("00015f90")  # 90000
    assert find(boxes, "moov/trak/mdia/hdlr").payload == h(
        "00000000 00000000 'vide' 000000000000000000000000 'Vide' 'oHan' 'dler' 00"
    )
    assert find(boxes, "moov/trak/mdia/minf/vmhd").payload == h("00000001 0000 000000000000")
    avc1 = find(boxes, "moov/trak/mdia/minf/stbl/stsd/avc1")
    assert avc1.payload[:78] == h(
        """
        000000000000 0001                       # reserved, data_reference_index 1
        0000 0000 000000000000000000000000      # pre_defined, reserved, pre_defined
        0140 00f0                               # 320 x 240
        00480000 00480000 00000000 0001         # 72 dpi, reserved, frame_count 1
        0000000000000000000000000000000000000000000000000000000000000000  # compressorname
        0018 ffff                               # depth 24, pre_defined -1
        """
    )
    assert avc1.find("avcC").payload == record
    assert find(boxes, "moov/mvhd").payload[-4:] == h("00000002")


def test_opus_init_segment_dops() -> None:
    # dOps repeats OpusHead in big-endian: pre-skip 312 (OpusHead 3801 -> 0138), 44100 Hz
    # (44ac0000 -> 0000ac44), gain 256 (0001 -> 0100).
    data = init_segment([TrackSpec(1, TrackConfig(Codec.OPUS, OPUS_STEREO), 48000)])
    entry = find(walk(data), "moov/trak/mdia/minf/stbl/stsd/Opus")
    assert entry.payload[:28] == h(
        "000000000000 0001 00000000 00000000 0002 0010 0000 0000 bb800000"
    )
    assert entry.find("dOps").payload == h("00 02 0138 0000ac44 0100 00")

    data = init_segment([TrackSpec(1, TrackConfig(Codec.OPUS, OPUS_5_1), 48000)])
    entry = find(walk(data), "moov/trak/mdia/minf/stbl/stsd/Opus")
    assert entry.payload[16:18] == h("0006")
    # family 1: stream count 4, coupled 2, then the mapping table
    assert entry.find("dOps").payload == h("00 06 0138 0000bb80 ff00 01 04 02 000401020305")

    data = init_segment([TrackSpec(1, TrackConfig(Codec.OPUS, b""), 48000)])
    entry = find(walk(data), "moov/trak/mdia/minf/stbl/stsd/Opus")
    assert entry.find("dOps").payload == h("00 02 0000 0000bb80 0000 00")


@pytest.mark.parametrize("record", [VPCC_BODY, b"\x01\x00\x00\x00" + VPCC_BODY])
def test_vp9_init_segment_writes_a_version_1_vpcc(record: bytes) -> None:
    data = init_segment([TrackSpec(1, TrackConfig(Codec.VP9, record), 90000)])
    vp09 = find(walk(data), "moov/trak/mdia/minf/stbl/stsd/vp09")
    assert vp09.find("vpcC").payload == b"\x01\x00\x00\x00" + VPCC_BODY
    assert vp09.payload[24:28] == h("0000 0000")  # size unknown from vpcC alone


def test_two_tracks() -> None:
    video = TrackSpec(7, TrackConfig(Codec.H264, avcc(sps_baseline_320x240())), 90000)
    audio = TrackSpec(3, TrackConfig(Codec.AAC, ASC), 48000)
    boxes = walk(init_segment([video, audio]))
    assert boxes[0].payload == h("'iso6' 00000000 'iso6' 'mp41'")  # no cmfc: two tracks
    moov = find(boxes, "moov")
    assert [b.kind for b in moov.children] == [b"mvhd", b"trak", b"trak", b"mvex"]
    assert moov.children[0].payload[-4:] == h("00000008")  # next_track_ID: max + 1
    handlers = [t.find("mdia/hdlr").payload[8:12] for t in moov.children[1:3]]
    assert handlers == [b"vide", b"soun"]
    trex_ids = [t.payload[4:8] for t in moov.find("mvex").children]
    assert trex_ids == [h("00000007"), h("00000003")]


@pytest.mark.parametrize(
    ("tracks", "error"),
    [
        ([], ValueError),
        ([TrackSpec(1, TrackConfig(Codec.AAC, ASC), 48000)] * 2, ValueError),
        ([TrackSpec(0, TrackConfig(Codec.AAC, ASC), 48000)], ValueError),
        ([TrackSpec(1, TrackConfig(Codec.AAC, ASC), 0)], ValueError),
        ([TrackSpec(1, TrackConfig(Codec.H264, b"\x01\x64"), 90000)], CodecError),
        ([TrackSpec(1, TrackConfig(Codec.AAC, b""), 48000)], CodecError),
    ],
)
def test_init_segment_refuses(tracks: list[TrackSpec], error: type[Exception]) -> None:
    with pytest.raises(error):
        init_segment(tracks)


# --- Fragments, byte for byte -------------------------------------------------------------


def sample(duration: int, keyframe: bool, cto: int, data: bytes) -> FragmentSample:
    return FragmentSample(duration, len(data), keyframe, cto, data)


VIDEO_RUN = [sample(3000, True, 0, b"\x00\x00\x00\x01"), sample(3000, False, -3000, b"abc")]
TWO_RUNS = [TrackRun(1, 1 << 32, VIDEO_RUN), TrackRun(2, 1024, [sample(1024, True, 0, b"xy")])]

# moof = 8 + mfhd 16 + traf 96 + traf 80 = 200; the mdat header is 8 bytes, so the first
# run's data starts at 208 and the second's at 208 + 4 + 3 = 215.
TWO_RUNS_FRAGMENT = h(
    """
    000000c8 'moof'
      00000010 'mfhd' 00000000 00000007        # sequence_number 7
      00000060 'traf'
        00000010 'tfhd' 00020000 00000001      # default-base-is-moof, track 1
        00000014 'tfdt' 01000000 0000000100000000  # version 1, 2**32
        00000034 'trun' 01000f01 00000002 000000d0  # version 1, offset/dur/size/flags/cto
          00000bb8 00000004 02000000 00000000  # 3000, 4 bytes, sync, cto 0
          00000bb8 00000003 01010000 fffff448  # 3000, 3 bytes, non-sync, cto -3000
      00000050 'traf'
        00000010 'tfhd' 00020000 00000002
        00000014 'tfdt' 01000000 0000000000000400
        00000024 'trun' 01000f01 00000001 000000d7
          00000400 00000002 02000000 00000000
    00000011 'mdat' 00000001 'abc' 'xy'
    """
)


def test_fragment_byte_for_byte() -> None:
    data = fragment(7, TWO_RUNS)
    assert data == TWO_RUNS_FRAGMENT
    # The data offsets, counted from the moof, land on each run's first sample.
    assert data[0xD0 : 0xD0 + 4] == b"\x00\x00\x00\x01"
    assert data[0xD7 : 0xD7 + 2] == b"xy"


def test_fragment_with_an_empty_run_and_no_runs() -> None:
    data = fragment(1, [TrackRun(1, 0, [])])
    boxes = walk(data)
    trun = find(boxes, "moof/traf/trun").payload
    assert trun == h("01000f01 00000000") + struct.pack(">i", len(data))  # offset: past the end
    assert find(boxes, "mdat").payload == b""
    assert fragment(2, []) == h("00000018 'moof' 00000010 'mfhd' 00000000 00000002 00000008 'mdat'")


@pytest.mark.parametrize(
    "bad",
    [
        FragmentSample(1, 5, True, 0, b"abcd"),  # size is not len(data)
        FragmentSample(-1, 4, True, 0, b"abcd"),  # negative duration
        FragmentSample(1 << 32, 4, True, 0, b"abcd"),  # duration past 32 bits
        FragmentSample(1, 4, True, 1 << 31, b"abcd"),  # composition offset past signed 32 bits
    ],
)
def test_fragment_refuses_bad_samples(bad: FragmentSample) -> None:
    with pytest.raises(ValueError, match=r"fragment 1|sample size"):
        fragment(1, [TrackRun(1, 0, [bad])])


def test_fragment_refuses_a_decode_time_past_64_bits() -> None:
    with pytest.raises(ValueError, match="out of range"):
        fragment(1, [TrackRun(1, 1 << 64, [sample(1, True, 0, b"a")])])


samples_st = st.builds(
    sample,
    st.integers(0, (1 << 32) - 1),
    st.booleans(),
    st.integers(-(1 << 31), (1 << 31) - 1),
    st.binary(max_size=40),
)
runs_st = st.lists(
    st.builds(
        TrackRun,
        st.integers(1, (1 << 32) - 1),
        st.integers(0, (1 << 64) - 1),
        st.lists(samples_st, max_size=8),
    ),
    max_size=4,
)


@settings(max_examples=150)
@given(st.integers(0, (1 << 32) - 1), runs_st)
def test_fragment_reads_back(sequence_number: int, runs: list[TrackRun]) -> None:
    data = fragment(sequence_number, runs)
    boxes = walk(data)
    assert [b.kind for b in boxes] == [b"moof", b"mdat"]
    moof, mdat = boxes
    assert moof.children[0].payload == struct.pack(">II", 0, sequence_number)
    trafs = moof.children[1:]
    assert len(trafs) == len(runs)
    for traf, run in zip(trafs, runs, strict=True):
        assert traf.find("tfhd").payload == struct.pack(">II", 0x020000, run.track_id)
        assert traf.find("tfdt").payload == struct.pack(">IQ", 1 << 24, run.base_decode_time)
        trun = traf.find("trun").payload
        flags, count, offset = struct.unpack_from(">IIi", trun)
        assert (flags, count) == (0x01000F01, len(run.samples))
        for i, s in enumerate(run.samples):
            duration, size, sample_flags, cto = struct.unpack_from(">IIIi", trun, 12 + 16 * i)
            assert (duration, size, cto) == (s.duration, s.size, s.composition_offset)
            assert sample_flags == (0x02000000 if s.keyframe else 0x01010000)
            assert data[offset : offset + size] == s.data
            offset += size
    assert mdat.payload == b"".join(s.data for r in runs for s in r.samples)
