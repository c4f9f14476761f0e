"""VP9 records (golive.codecs.vp9): vpcC from libvpx-vp9 through PyAV's FLV muxer, a
hand-made record with and without its FullBox header, and malformed records."""

from __future__ import annotations

import pytest

from golive.codecs import TrackInfo, describe
from golive.codecs.vp9 import vpcc_box_payload
from golive.media import Codec, TrackConfig
from tests.harness.byte_tables import VP9_MALFORMED
from tests.harness.encoders import encode_video
from tests.harness.records import VPCC_BODY, assert_refused

# --- A real record from libvpx-vp9 --------------------------------------------------------


def test_vp9_from_libvpx_through_flv() -> None:
    # FFmpeg's Enhanced RTMP muxer sends vpcC with its FullBox version and flags.
    enc = encode_video(
        "libvpx-vp9", 322, 242, frames=2, fmt="flv", options={"deadline": "realtime"}
    )
    rec = enc.extradata
    assert rec[:4] == b"\x01\x00\x00\x00"
    info = describe(TrackConfig(Codec.VP9, rec))
    assert info.codec_string.split(".") == [
        "vp09",
        f"{rec[4]:02d}",
        f"{rec[5]:02d}",
        f"{rec[6] >> 4:02d}",
    ]
    assert info.codec_string.startswith("vp09.00.")
    assert info.codec_string.endswith(".08")
    assert (info.width, info.height) == (0, 0)  # vpcC has no picture size


# --- A hand-made record ------------------------------------------------------------------


@pytest.mark.parametrize("record", [VPCC_BODY, b"\x01\x00\x00\x00" + VPCC_BODY])
def test_vp9_with_and_without_fullbox_header(record: bytes) -> None:
    assert describe(TrackConfig(Codec.VP9, record)) == TrackInfo(Codec.VP9, "vp09.02.31.10")
    assert vpcc_box_payload(record) == b"\x01\x00\x00\x00" + VPCC_BODY


# --- Malformed records --------------------------------------------------------------------


@pytest.mark.parametrize(("record", "message"), VP9_MALFORMED)
def test_malformed_vpcc_raises_codec_error(record: bytes, message: str) -> None:
    assert_refused(Codec.VP9, record, message)
