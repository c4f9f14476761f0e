"""A short, bounded fuzzing run of every target (scripts/fuzz.py, atheris), so the test suite
fails when a reader raises something it does not document, breaks an invariant or hangs on
an input the fuzzer reaches within a few thousand executions. Long runs: scripts/fuzz.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import fuzz
from tests.fuzz.seeds import SEEDS
from tests.fuzz.targets import TARGETS

# Per target; with libFuzzer's seed fixed, the run explores the same inputs every time. Inputs
# stay short so that the whole run takes seconds; the seeds fit.
RUNS = 2000
MAX_LEN = 1024


def test_every_target_has_seeds() -> None:
    assert SEEDS.keys() == TARGETS.keys()


@pytest.mark.parametrize("name", list(TARGETS))
def test_seeds_are_read_without_a_finding(name: str) -> None:
    for seed in SEEDS[name]():
        TARGETS[name].check(seed)


@pytest.mark.parametrize("name", list(TARGETS))
def test_bounded_fuzzing_run_finds_nothing(name: str, tmp_path: Path) -> None:
    outcome = fuzz.run_target(
        name,
        seconds=None,
        runs=RUNS,
        corpus_root=tmp_path / "corpus",
        findings_root=tmp_path / "findings",
        seed=1,
        max_len=MAX_LEN,
    )
    assert outcome.finding is None, outcome.finding
    assert outcome.executions >= RUNS
