"""Coverage-guided fuzzing of golive's byte readers with atheris (libFuzzer for Python).

    .venv/bin/python scripts/fuzz.py --seconds 30              # every target, 30 s each
    .venv/bin/python scripts/fuzz.py --target chunks --runs 100000
    .venv/bin/python scripts/fuzz.py --list
    .venv/bin/python scripts/fuzz.py --target amf0 --replay tests/fuzz/findings/amf0/crash-...

The targets and what each may raise are in tests/fuzz/targets.py. Each target runs in its own
process (atheris takes over the process and exits it), one after the other, with its corpus
in tests/fuzz/corpus/<target>/ (not committed; seeded from the unit tests' byte tables) and
what it finds in tests/fuzz/findings/<target>/. The script prints the executions of every
target and each finding with its input in hex, and exits with status 1 if there was one.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUZZ_DIR = ROOT / "tests" / "fuzz"
# A hang is an input that takes longer than this (seconds); a reader works in microseconds.
INPUT_TIMEOUT = 10
RSS_LIMIT_MB = 1024
MAX_LEN = 4096
MAX_HEX = 512  # bytes of a finding's input printed; the whole input is in the saved file


@dataclass
class Outcome:
    target: str
    executions: int
    seconds: float
    finding: str | None = None
    """What went wrong: the exception (or hang, or memory) and the input in hex."""


def _child(name: str, libfuzzer_args: list[str]) -> None:
    """Run one target under atheris; never returns (libFuzzer exits the process)."""
    sys.path.insert(0, str(ROOT))
    import atheris

    # Only golive's code is instrumented for coverage: the targets and the tests they take
    # their seeds from are the harness, not what is explored.
    with atheris.instrument_imports(include=["golive"]):
        from tests.fuzz.targets import TARGETS

    target = TARGETS[name]
    atheris.Setup([sys.argv[0], *libfuzzer_args], target.check)
    atheris.Fuzz()


def _seed_corpus(name: str, corpus: Path) -> None:
    # The seeds come from the unit tests, whose imports (pytest, hypothesis) are slow: the
    # parent process writes them once, the fuzzing processes only read the corpus.
    from tests.fuzz.seeds import SEEDS

    corpus.mkdir(parents=True, exist_ok=True)
    for seed in SEEDS[name]():
        path = corpus / f"seed-{hashlib.sha1(seed).hexdigest()[:16]}"
        if not path.exists():
            path.write_bytes(seed)


def _executions(output: str) -> int:
    found = re.findall(r"stat::number_of_executed_units:\s*(\d+)", output)
    if found:
        return int(found[-1])
    done = re.findall(r"Done (\d+) runs", output)
    return int(done[-1]) if done else 0


def _finding(output: str) -> str:
    """The exception (or libFuzzer's reason) and the offending input as hex."""
    noise = ("INFO:", "WARNING:", "MS:", "Base64:", "#", "artifact_prefix", "stat::", "Done ")
    lines = [line for line in output.splitlines() if line and not line.startswith(noise)]
    start = next(
        (i for i, line in enumerate(lines) if "Uncaught Python" in line or "ERROR:" in line),
        max(len(lines) - 30, 0),
    )
    report = lines[start : start + 40]
    written = re.search(r"Test unit written to (\S+)", output)
    if written:
        data = Path(written.group(1)).read_bytes()
        report.append(f"input ({len(data)} bytes, saved as {written.group(1)}):")
        shown = data[:MAX_HEX]
        report.append(
            shown.hex() + (f"... ({len(data) - len(shown)} more)" if data != shown else "")
        )
    return "\n".join(report)


def run_target(
    name: str,
    *,
    seconds: float | None,
    runs: int | None,
    corpus_root: Path,
    findings_root: Path,
    seed: int | None = None,
    max_len: int = MAX_LEN,
    extra: list[str] | None = None,
) -> Outcome:
    corpus = corpus_root / name
    findings = findings_root / name
    _seed_corpus(name, corpus)
    findings.mkdir(parents=True, exist_ok=True)
    args = [
        str(corpus),
        f"-timeout={INPUT_TIMEOUT}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-max_len={max_len}",
        f"-artifact_prefix={findings}/",
        "-print_final_stats=1",
    ]
    if runs is not None:
        args.append(f"-runs={runs}")
    if seconds is not None:
        args.append(f"-max_total_time={max(int(seconds), 1)}")
    if seed is not None:
        args.append(f"-seed={seed}")
    args += extra or []
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, __file__, "--child", name, "--", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    output = done.stdout + done.stderr
    outcome = Outcome(name, _executions(output), time.monotonic() - started)
    if done.returncode != 0:
        outcome.finding = _finding(output) or f"exit status {done.returncode}"
    return outcome


def replay(name: str, path: Path) -> int:
    """Run one input through a target without atheris, to see the traceback."""
    sys.path.insert(0, str(ROOT))
    from tests.fuzz.targets import TARGETS

    data = path.read_bytes()
    print(f"{name}: {len(data)} bytes: {data.hex()}")
    try:
        TARGETS[name].check(data)
    except Exception:
        traceback.print_exc()
        return 1
    print("no finding")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child(argv[1], argv[3:])
        return 0  # not reached
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", help="a target name (repeatable; all)")
    parser.add_argument("--seconds", type=float, help="time per target")
    parser.add_argument("--runs", type=int, help="executions per target")
    parser.add_argument("--corpus", type=Path, default=FUZZ_DIR / "corpus", help="corpus root")
    parser.add_argument("--findings", type=Path, default=FUZZ_DIR / "findings")
    parser.add_argument("--seed", type=int, help="libFuzzer's random seed")
    parser.add_argument("--list", action="store_true", help="list the targets")
    parser.add_argument("--replay", type=Path, help="run one input through --target")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from tests.fuzz.targets import TARGETS

    if args.list:
        for target in TARGETS.values():
            allowed = ", ".join(e.__name__ for e in target.allowed)
            print(f"{target.name:24} {target.doc} (may raise {allowed})")
        return 0
    names = args.target or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; see --list")
    if args.replay is not None:
        if len(names) != 1:
            parser.error("--replay needs exactly one --target")
        return replay(names[0], args.replay)
    if args.seconds is None and args.runs is None:
        args.seconds = 10.0

    total = 0
    found = 0
    for name in names:
        outcome = run_target(
            name,
            seconds=args.seconds,
            runs=args.runs,
            corpus_root=args.corpus,
            findings_root=args.findings,
            seed=args.seed,
        )
        total += outcome.executions
        status = "FINDING" if outcome.finding else "ok"
        print(f"{name:24} {outcome.executions:>10,} executions {outcome.seconds:7.1f} s  {status}")
        if outcome.finding:
            found += 1
            print(outcome.finding, "\n")
        sys.stdout.flush()
    print(f"{'total':24} {total:>10,} executions, {found} target(s) with a finding")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
