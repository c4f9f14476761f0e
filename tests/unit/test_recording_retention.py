"""Retention (golive.recordings.retention): the oldest go first, by age, by count per
streamer, by total size; a recording being written is never deleted."""

from __future__ import annotations

from golive.recordings.retention import Kept, to_delete
from golive.recordings.settings import RecordingSettings

DAY = 86400.0
NOW = 100 * DAY
NONE = RecordingSettings(keep=0, max_bytes=0, max_age_days=0)


def rec(
    id: str, owner: str = "alice", started: float = 0.0, size: int = 10, *, live: bool = False
) -> Kept:
    return Kept(id, owner, started, None if live else started + 60, size)


def test_nothing_is_deleted_without_limits() -> None:
    recs = [rec(str(i), started=i) for i in range(50)]
    assert to_delete(recs, NONE, NOW) == []


def test_keep_the_newest_per_streamer() -> None:
    recs = [rec("a1", started=1), rec("a2", started=2), rec("a3", started=3), rec("b1", "bob", 0)]
    settings = RecordingSettings(keep=2, max_bytes=0, max_age_days=0)
    assert to_delete(recs, settings, NOW) == ["a1"]


def test_order_of_the_input_does_not_matter() -> None:
    recs = [rec("a3", started=3), rec("a1", started=1), rec("a2", started=2)]
    settings = RecordingSettings(keep=1, max_bytes=0, max_age_days=0)
    assert to_delete(recs, settings, NOW) == ["a1", "a2"]


def test_a_recording_being_written_is_never_deleted_but_counts() -> None:
    recs = [rec("a1", started=1), rec("a2", started=2, live=True)]
    settings = RecordingSettings(keep=1, max_bytes=0, max_age_days=0)
    assert to_delete(recs, settings, NOW) == ["a1"]
    only_live = [rec("a2", started=2, live=True), rec("a3", started=3, live=True)]
    assert to_delete(only_live, settings, NOW) == []


def test_max_age_counts_from_the_end() -> None:
    old = Kept("old", "alice", NOW - 40 * DAY, NOW - 31 * DAY, 1)
    recent_end = Kept("long", "alice", NOW - 40 * DAY, NOW - 29 * DAY, 1)
    settings = RecordingSettings(keep=0, max_bytes=0, max_age_days=30)
    assert to_delete([old, recent_end], settings, NOW) == ["old"]


def test_total_size_deletes_the_oldest_of_anyone_first() -> None:
    recs = [rec("b1", "bob", 1, 40), rec("a1", "alice", 2, 40), rec("a2", "alice", 3, 40)]
    settings = RecordingSettings(keep=0, max_bytes=100, max_age_days=0)
    assert to_delete(recs, settings, NOW) == ["b1"]
    settings = RecordingSettings(keep=0, max_bytes=40, max_age_days=0)
    assert to_delete(recs, settings, NOW) == ["b1", "a1"]


def test_size_skips_what_other_rules_delete_already() -> None:
    recs = [
        rec("a1", started=1, size=50),
        rec("a2", started=2, size=50),
        rec("a3", started=3, size=50),
    ]
    settings = RecordingSettings(keep=2, max_bytes=100, max_age_days=0)
    assert to_delete(recs, settings, NOW) == ["a1"]


def test_the_defaults_bound_the_disk() -> None:
    d = RecordingSettings()
    assert d.enabled and d.keep > 0 and d.max_bytes > 0 and d.max_age_days > 0
    assert d.min_free_bytes > 0
