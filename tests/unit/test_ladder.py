"""The ladder's pure parts: configuration, planning (never upscale), keyframe placement and the
order and timing of degradation, with a fake clock; and the session's bounded inbox and the
worker's scheduling, with no codec."""

from __future__ import annotations

import itertools
import os
import threading

import pytest

from golive.media import Codec, Sample
from golive.transcode.degrade import Degrader
from golive.transcode.events import Command, Encoded, Feed, Flush, Start
from golive.transcode.keyframes import KeyframePlanner
from golive.transcode.ladder import (
    NO_LADDER,
    Ladder,
    LadderError,
    RenditionSpec,
    ladder_from_table,
    parse_bitrate,
    plan,
)
from golive.transcode.session import BACKLOG_SECONDS_PER_LAG, LadderSession
from golive.transcode.workers import lower_priority
from tests.harness.streams import AVC

# --- configuration ----------------------------------------------------------------------


def test_default_ladder_is_720_480_360_and_the_empty_ladder_is_false() -> None:
    assert [(r.name, r.height, r.video_bitrate) for r in Ladder().renditions] == [
        ("720p", 720, 3_000_000),
        ("480p", 480, 1_500_000),
        ("360p", 360, 800_000),
    ]
    assert Ladder().preset == "veryfast"
    assert Ladder() and not NO_LADDER


def test_table_from_the_config_file() -> None:
    ladder = ladder_from_table(
        {
            "preset": "superfast",
            "max_lag": 2,
            "worker": "process",
            "rendition": [
                {"height": 540, "bitrate": "2M"},
                {"name": "low", "height": 234, "video_bitrate": 300_000, "fps": 15},
            ],
        }
    )
    assert ladder.preset == "superfast" and ladder.max_lag == 2.0 and ladder.worker == "process"
    assert ladder.renditions == (
        RenditionSpec("540p", 540, 2_000_000),
        RenditionSpec("low", 234, 300_000, 15.0),
    )
    assert ladder_from_table(None) == Ladder()
    assert ladder_from_table({}) == Ladder()


@pytest.mark.parametrize(
    "table",
    [{"rendition": []}, {"enabled": False}, {"rendition": [{"height": 240, "bitrate": "1k0"}]}],
)
def test_switched_off_or_broken(table: dict[str, object]) -> None:
    if table.get("rendition") == [] or table.get("enabled") is False:
        assert not ladder_from_table(table)
    else:
        with pytest.raises(LadderError, match="bitrate"):
            ladder_from_table(table)


def test_no_transcode_flag_wins_over_the_file() -> None:
    table = {"rendition": [{"height": 240, "bitrate": "400k"}]}
    assert ladder_from_table(table) and not ladder_from_table(table, enabled=False)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"colour": 1}, "unknown key"),
        ({"rendition": [{"height": 240}]}, "'bitrate' is required"),
        ({"rendition": [{"bitrate": "1M"}]}, "'height'"),
        ({"rendition": [{"height": 240, "bitrate": "1M", "crf": 3}]}, "unknown key"),
        ({"rendition": [{"name": "Source", "height": 240, "bitrate": "1M"}]}, "name"),
        ({"rendition": [{"name": "source", "height": 240, "bitrate": "1M"}]}, "not 'source'"),
        ({"rendition": [{"name": "a/b", "height": 240, "bitrate": "1M"}]}, "name"),
        (
            {"rendition": [{"height": 240, "bitrate": "1M"}, {"height": 240, "bitrate": "2M"}]},
            "duplicate",
        ),
        ({"rendition": [{"height": 4, "bitrate": "1M"}]}, "height"),
        ({"rendition": [{"height": 240, "bitrate": "1M", "fps": 0}]}, "fps"),
        ({"rendition": {"height": 240}}, "array of tables"),
        ({"worker": "fiber"}, "worker"),
        ({"preset": "very fast"}, "preset"),
        ({"max_lag": 0.1}, "max_lag"),
        ({"max_lag": "3"}, "max_lag"),
        ({"enabled": "no"}, "enabled"),
    ],
)
def test_bad_tables_name_the_setting(table: dict[str, object], message: str) -> None:
    with pytest.raises(LadderError, match=message):
        ladder_from_table(table)


@pytest.mark.parametrize(
    ("text", "bps"),
    [("3000k", 3_000_000), ("3M", 3_000_000), ("1.5m", 1_500_000), (" 800 kbps", 800_000),
     ("64000", 64_000), (250_000, 250_000)],
)  # fmt: skip
def test_bitrates(text: str | int, bps: int) -> None:
    assert parse_bitrate(text) == bps


# --- planning: never upscale ------------------------------------------------------------


def test_1080p_source_gets_the_whole_default_ladder_with_even_widths() -> None:
    planned = plan(Ladder(), 1920, 1080, 30.0)
    assert [(r.name, r.width, r.height) for r in planned] == [
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("360p", 640, 360),
    ]


@pytest.mark.parametrize(
    ("size", "names"),
    [
        ((1280, 720), ["480p", "360p"]),  # 720p is the source's own height: skipped
        ((1000, 500), ["480p", "360p"]),
        ((640, 360), []),
        ((320, 240), []),
        ((0, 0), []),  # unknown size (a VP9 record has none): nothing
    ],
)
def test_never_upscales(size: tuple[int, int], names: list[str]) -> None:
    assert [r.name for r in plan(Ladder(), *size)] == names


def test_portrait_and_odd_sizes_keep_the_aspect_ratio_in_even_numbers() -> None:
    [r] = plan(Ladder((RenditionSpec("a", 481, 500_000),)), 1080, 1920)
    assert r.height % 2 == 0 and abs(r.height - 481) <= 1
    assert r.width % 2 == 0 and abs(r.width / r.height - 1080 / 1920) < 0.01


def test_frame_rate_never_above_the_source() -> None:
    ladder = Ladder((RenditionSpec("a", 240, 400_000, 60.0), RenditionSpec("b", 180, 200_000, 15)))
    a, b = plan(ladder, 640, 360, 30.0)
    assert a.fps is None and b.fps == 15.0


# --- keyframes ----------------------------------------------------------------------------


def keys_of(
    planner: KeyframePlanner, frames: int, source_keys: set[int], fps: float = 30.0
) -> list[int]:
    """Frame numbers the planner makes keyframes, for frames at a constant rate."""
    return [i for i in range(frames) if planner.decide(round(i * 1000 / fps), i in source_keys)]


def test_regular_publisher_keyframes_are_kept_exactly() -> None:
    planner = KeyframePlanner(2000)
    keys = keys_of(planner, 600, set(range(0, 600, 60)))  # 2 s GOP
    assert keys == list(range(0, 600, 60))
    assert planner.aligned


def test_short_regular_gop_is_followed_too() -> None:
    keys = keys_of(KeyframePlanner(2000), 300, set(range(0, 300, 30)))  # 1 s GOP
    # Regular once two intervals agree (frame 60); before that, the constant 2 s GOP.
    assert keys == [0, *range(60, 300, 30)]


def test_obs_default_gop_of_250_frames_is_divided_into_equal_steps() -> None:
    planner = KeyframePlanner(2000)
    source = set(range(0, 1500, 250))
    keys = keys_of(planner, 1500, source)
    assert {k for k in source if k >= 500} <= set(keys), "publisher keyframes kept once aligned"
    aligned_part = [k for k in keys if k >= 500]
    steps = [b - a for a, b in itertools.pairwise(aligned_part)]
    # 250 frames = 8.33 s = four steps of 62 or 63 frames (2.08 s, at least the GOP).
    assert set(steps) <= {62, 63}, steps
    # Before the GOP was known to be regular (two equal intervals), a constant 2 s GOP.
    assert [k for k in keys if k < 250] == [0, 60, 120, 180, 240]


def test_irregular_publisher_keyframes_give_a_constant_gop() -> None:
    source = {0, 47, 200, 230, 410, 560}  # scene cuts
    keys = keys_of(KeyframePlanner(2000), 600, source)
    assert keys == list(range(0, 600, 60))


def test_a_missing_publisher_keyframe_falls_back_to_the_constant_gop() -> None:
    source = {0, 60, 120, 180}  # then the publisher stops sending keyframes
    planner = KeyframePlanner(2000)
    keys = keys_of(planner, 480, source)
    assert keys[:4] == [0, 60, 120, 180]
    assert not planner.aligned
    later = keys[4:]
    assert later and all(b - a == 60 for a, b in itertools.pairwise(later))
    assert later[0] - 180 <= 62  # no long hole


def test_the_same_decisions_for_every_rendition() -> None:
    source = {i for i in range(0, 900, 75)}
    a = keys_of(KeyframePlanner(2000), 900, source)
    b = keys_of(KeyframePlanner(2000), 900, source)
    assert a == b


def test_29_97_fps_timestamps_do_not_drift() -> None:
    source = set(range(0, 1200, 60))
    keys = keys_of(KeyframePlanner(2000), 1200, source, fps=30000 / 1001)
    assert keys == sorted(source)


# --- degradation, on a fake clock ---------------------------------------------------------


def test_drops_most_expensive_first_and_only_when_not_catching_up() -> None:
    ladder = Ladder(
        (
            RenditionSpec("720p15", 720, 1_500_000, 15.0),
            RenditionSpec("540p", 540, 2_000_000),
            RenditionSpec("360p", 360, 800_000),
        )
    )
    planned = plan(ladder, 1920, 1080, 30.0)
    # Pixels per second: 960x540 at 30 fps (15.6M) costs more than 1280x720 at 15 (13.8M).
    costs = [r.cost for r in planned]
    assert costs[1] > costs[0] > costs[2]
    d = Degrader(costs, max_lag=3.0, settle=3.0)
    t = 0.0
    for lag in (0.05, 0.1, 2.9):  # keeping up, then a hiccup under the limit
        assert d.observe(lag, t) is None
        t += 1
    first = d.observe(3.2, t)
    assert first is not None and planned[first.index].name == "540p"
    # Within the settling time nothing more goes, however late.
    for _ in range(2):
        t += 1
        assert d.observe(4.0 + t, t) is None
    # Still behind and not catching up after settling: the next most expensive goes.
    t += 1.5
    second = d.observe(6.0, t)
    assert second is not None and planned[second.index].name == "720p15"
    # Catching up (the lag shrinks faster than 10% of the time waited): nothing goes.
    t += 3
    assert d.observe(4.5, t) is None
    t += 3
    assert d.observe(3.5, t) is None
    # Back under the limit resets the watch; a later overload starts over.
    t += 3
    assert d.observe(0.1, t) is None
    t += 60
    third = d.observe(3.5, t)
    assert third is not None and planned[third.index].name == "360p"
    assert [drop.index for drop in d.dropped] == [1, 0, 2]
    assert not d.active
    assert d.observe(30.0, t + 100) is None, "nothing left to drop"


def test_equal_costs_drop_in_ladder_order() -> None:
    d = Degrader([5.0, 5.0, 1.0], max_lag=1.0, settle=0.0)
    assert [d.observe(2.0, t).index for t in (0.0, 1.0, 2.0)] == [0, 1, 2]  # type: ignore[union-attr]


# --- the session's bounded inbox, with a worker that never works ----------------------------


class StuckWorker:
    def __init__(self) -> None:
        self.sent: list[Command | None] = []

    def send(self, command: Command | None) -> None:
        self.sent.append(command)

    def clear_feeds(self) -> list[Feed]:
        feeds = [c for c in self.sent if isinstance(c, Feed)]
        self.sent = [c for c in self.sent if not isinstance(c, Feed)]
        return feeds

    async def join(self, within: float) -> None:
        return None


async def test_a_stuck_worker_costs_bounded_memory_and_resumes_at_a_keyframe() -> None:
    worker = StuckWorker()
    ladder = Ladder((RenditionSpec("360p", 360, 800_000),), max_lag=1.0)
    session = LadderSession(
        ladder, room="r", gop=2.0, on_events=lambda events: None, make_worker=lambda _: worker
    )
    assert [r.name for r in session.configure(AVC, 30.0)] == ["360p"]
    assert isinstance(worker.sent[0], Start)
    bound = BACKLOG_SECONDS_PER_LAG * 60  # samples, for a max_lag of 1 s
    frames = [Sample(Codec.H264, i * 33, 0, i % 50 == 0, b"x" * 100) for i in range(bound + 90)]
    for frame in frames:
        session.feed(frame)
        assert sum(isinstance(c, Feed) for c in worker.sent) <= bound
    # The backlog was thrown away at the bound; the samples up to the next keyframe too.
    assert session.status.restarts == 1
    feeds = [c for c in worker.sent if isinstance(c, Feed)]
    assert feeds[0].sample.dts == frames[250].dts and feeds[0].sample.keyframe
    i = worker.sent.index(feeds[0])
    assert worker.sent[i - 1] == Flush(restart=True), "fresh codecs after the gap"
    # The worker answering brings the count down again.
    session._deliver([Encoded((), 0.2, 1, 100) for _ in feeds])
    assert session._queued == 0 and session._queued_bytes == 0
    assert session.status.lag == 0.2


def test_the_worker_thread_is_time_shared_and_nice_even_if_its_creator_was_real_time() -> None:
    """SVT-AV1 leaves the thread that opened it at SCHED_FIFO 99; threads inherit that."""
    seen: dict[str, int] = {}

    def run() -> None:
        tid = threading.get_native_id()
        try:
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(1))
        except PermissionError:
            seen["skip"] = 1
            return
        lower_priority(10, tid)
        seen["policy"] = os.sched_getscheduler(tid)
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, tid)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "skip" in seen:
        pytest.skip("not allowed to make a thread real-time here")
    assert seen == {"policy": os.SCHED_OTHER, "nice": 10}


def test_a_tune_with_lookahead_and_a_short_hold_back_is_warned_of() -> None:
    """The variants trail the source copy by x264's lookahead; a player that sits
    PART-HOLD-BACK behind the source's edge would stall on moving to one."""
    from golive.config import Settings, short_hold_back
    from golive.hls.settings import HlsSettings
    from golive.transcode.ladder import NO_LADDER, Ladder

    assert Ladder().tune == "zerolatency" and not Ladder().lookahead
    assert short_hold_back(Settings()) is None
    film = Ladder(tune="film")
    assert film.lookahead and Ladder(tune="zerolatency,fastdecode").lookahead is False
    warning = short_hold_back(Settings(transcode=film))
    assert warning is not None and "part_hold_back = 5" in warning
    assert short_hold_back(Settings(transcode=film, hls=HlsSettings(part_hold_back=5))) is None
    assert short_hold_back(Settings(transcode=Ladder((), tune=""))) is None
    assert not NO_LADDER.lookahead
