"""README's list of `make` benchmarks against the Makefile: `make bench` says what else it runs
(its bench-dialler prerequisite, a 15-minute run that rewrites docs/bench-dialler.md, was left
unsaid), and a target's duration is the same in both places (bench-failover: 6 vs 8 minutes)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = (ROOT / "Makefile").read_text()
README = (ROOT / "README.md").read_text()


def prerequisites(target: str) -> list[str]:
    match = re.search(rf"^{re.escape(target)}:(.*)$", MAKEFILE, re.M)
    assert match is not None, f"no target {target} in the Makefile"
    return match.group(1).split()


def comment_above(target: str) -> str:
    """The comment lines right above `target:` in the Makefile, joined."""
    lines = MAKEFILE[: MAKEFILE.index(f"\n{target}:")].splitlines()
    comment: list[str] = []
    while lines and lines[-1].startswith("#"):
        comment.insert(0, lines.pop().lstrip("# "))
    return " ".join(comment)


def readme_bullet(target: str) -> str:
    match = re.search(rf"^- `make {re.escape(target)}`(.*?)(?=^- |^$)", README, re.S | re.M)
    assert match is not None, f"README lists no `make {target}`"
    return " ".join(match.group(1).split())


def test_make_bench_says_which_other_benchmarks_it_runs() -> None:
    others = [p for p in prerequisites("bench") if p.startswith("bench-")]
    assert others == ["bench-dialler"]
    bullet = readme_bullet("bench")
    for other in others:
        assert f"`make {other}`" in bullet, bullet
    assert "bench-dialler" in comment_above("bench")


def test_a_benchmarks_duration_is_the_same_in_the_readme_and_the_makefile() -> None:
    said = dict(re.findall(r"^- `make (bench[a-z-]*)` \(about (\d+) min", README, re.M))
    assert "bench-failover" in said
    for target, minutes in said.items():
        match = re.search(r"(?:about|~)\s*(\d+)\s*min", comment_above(target))
        assert match is not None and match.group(1) == minutes, (target, minutes, comment_above(target))
