"""HLS playlists rendered (golive.hls.playlist): exact texts, the EXT-X-VERSION each feature
needs, delta updates, and models that refuse what cannot be rendered.

Reading playlists back is tested in ``test_playlist_parser``; ffmpeg reading a rendered
playlist in ``tests/integration/test_media_interop.py``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from golive.hls.playlist import (
    MediaPlaylist,
    Part,
    PreloadHint,
    RenditionReport,
    Segment,
    Variant,
    render_media,
    render_multivariant,
)
from golive.hls.playlist_parser import PlaylistError
from tests.harness import playlist_texts as texts
from tests.harness.playlist_texts import playlist, segment, version_of

# ---------------------------------------------------------------------------------------
# Exact texts, written by hand (tests/unit/playlist_texts.py).


def test_low_latency_playlist_exact_text() -> None:
    assert render_media(texts.LL_PLAYLIST) == texts.LL_TEXT


def test_discontinuity_and_new_map_exact_text() -> None:
    assert render_media(texts.WINDOW) == texts.WINDOW_FULL


def test_delta_update_exact_text() -> None:
    assert render_media(texts.WINDOW, skip=True) == texts.WINDOW_DELTA


def test_delta_update_only_when_possible() -> None:
    # No CAN-SKIP-UNTIL: never skip. Nothing old enough: the full playlist is the answer.
    no_skip = dataclasses.replace(texts.WINDOW, can_skip_until=None)
    assert render_media(no_skip, skip=True) == render_media(no_skip)
    short = dataclasses.replace(texts.WINDOW, can_skip_until=20.0)
    assert render_media(short, skip=True) == render_media(short)
    assert "#EXT-X-SKIP" not in render_media(short, skip=True)
    # Exactly on the boundary: the segment that ends 12 s before the end is skipped.
    assert "SKIPPED-SEGMENTS=4\n" in render_media(texts.WINDOW, skip=True)
    just_over = dataclasses.replace(texts.WINDOW, can_skip_until=12.00001)
    assert "SKIPPED-SEGMENTS=3\n" in render_media(just_over, skip=True)


def test_reconnect_before_the_first_new_segment_exact_text() -> None:
    # PART-HOLD-BACK defaults to three part targets (4.4.3.8).
    assert render_media(texts.RECONNECT) == texts.RECONNECT_TEXT


def test_ended_playlist_exact_text() -> None:
    # The preload hint is left out: that part will never exist.
    assert render_media(texts.ENDED) == texts.ENDED_TEXT


def test_multivariant_exact_text() -> None:
    # The caller's order is kept: the first variant is where hls.js starts.
    assert render_multivariant(texts.MULTIVARIANT) == texts.MULTIVARIANT_TEXT


# ---------------------------------------------------------------------------------------
# EXT-X-VERSION per feature (RFC 8216bis, 7).

PLAIN = playlist((segment(0, map_uri=None), segment(1, map_uri=None)))


@pytest.mark.parametrize(
    ("pl", "skip", "version"),
    [
        # Floating-point EXTINF: 3.
        (PLAIN, False, 3),
        # LL-HLS tags alone raise nothing.
        (
            dataclasses.replace(
                PLAIN,
                part_target=0.5,
                part_hold_back=1.5,
                trailing_parts=(Part("p.m4s", 0.5, True),),
                preload_hint=PreloadHint("q.m4s"),
                rendition_reports=(RenditionReport("r.m3u8", 1, 0),),
            ),
            False,
            3,
        ),
        # EXT-X-MAP without EXT-X-I-FRAMES-ONLY: 6.
        (texts.WINDOW, False, 6),
        (texts.LL_PLAYLIST, False, 6),
        (texts.RECONNECT, False, 6),
        # A map for the trailing parts only counts too.
        (
            dataclasses.replace(
                PLAIN,
                part_target=0.5,
                trailing_parts=(Part("p.m4s", 0.5, True),),
                trailing_map_uri="init.mp4",
            ),
            False,
            6,
        ),
        # EXT-X-SKIP: 9.
        (texts.WINDOW, True, 9),
        (dataclasses.replace(PLAIN, can_skip_until=2.0), True, 9),
        # Asked to skip, but nothing is skipped: no EXT-X-SKIP, no 9.
        (dataclasses.replace(PLAIN, can_skip_until=4.0), True, 3),
    ],
)
def test_version_per_feature(pl: MediaPlaylist, skip: bool, version: int) -> None:
    assert version_of(render_media(pl, skip=skip)) == version


# ---------------------------------------------------------------------------------------
# The models refuse what cannot be rendered (ValueError: the caller's mistake).


@pytest.mark.parametrize(
    "build",
    [
        lambda: Part('a"b', 0.5, False),
        lambda: Part("p.m4s", -0.5, False),
        lambda: Part("p.m4s", math.inf, False),
        lambda: Segment(0, "#seg.m4s", 2.0, (), None, False, None),
        lambda: Segment(0, " seg.m4s", 2.0, (), None, False, None),
        lambda: Segment(0, "seg\n.m4s", 2.0, (), None, False, None),
        lambda: Segment(-1, "seg.m4s", 2.0, (), None, False, None),
        lambda: Segment(0, "seg.m4s", 2.0, (), datetime(2024, 1, 1), False, None),
        lambda: PreloadHint(""),
        lambda: RenditionReport("r", 1, -1),
        lambda: Variant("v.m3u8", 1, None, 'a"', None, None),
        lambda: Variant("v.m3u8", 1, None, "", (0, 720), None),
        # Consecutive numbers from media_sequence on.
        lambda: playlist((segment(1), segment(3))),
        lambda: playlist((segment(1),), media_sequence=2),
        # Parts need a part target; trailing tags need trailing parts.
        lambda: playlist((segment(0, parts=(Part("p", 0.5, True),)),)),
        lambda: playlist((segment(0),), preload_hint=PreloadHint("p")),
        lambda: playlist((segment(0),), part_target=0.5, trailing_discontinuity=True),
        # A map cannot be taken back.
        lambda: playlist((segment(0), segment(1, map_uri=None))),
    ],
)
def test_models_refuse_what_cannot_be_rendered(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError) as caught:
        build()
    assert not isinstance(caught.value, PlaylistError)


def test_date_times_are_kept_in_utc_and_rendered_to_the_millisecond() -> None:
    paris = timezone(timedelta(hours=2))
    seg = segment(0, pdt=datetime(2024, 5, 1, 14, 0, 0, 123999, tzinfo=paris))
    assert seg.program_date_time == datetime(2024, 5, 1, 12, 0, 0, 123999, tzinfo=UTC)
    assert seg.program_date_time is not None and seg.program_date_time.tzinfo is UTC
    assert "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.123Z\n" in render_media(playlist((seg,)))
