"""The queue benchmark's before/after in the same run (bench/queue): an older Holdfast checkout
runs beside this one in every repeat, and the page pairs the two within each repeat."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.queue.__main__ import variants
from bench.queue.metrics import RunFigures
from bench.queue.report import Run, between_holdfasts


def test_the_base_tree_runs_right_after_this_holdfast_in_every_repeat() -> None:
    old = Path("/old")
    args = argparse.Namespace(
        systems=["app_queue", "holdfast"],
        label="after",
        holdfast_tree=None,
        holdfast_nice=-10,
        base_tree=old,
        base_label="before",
        base_nice=0,
    )
    assert variants(args) == [
        ("app_queue", "", None, 0),
        ("holdfast", "after", None, -10),  # each Holdfast with its own CPU priority
        ("holdfast", "before", old, 0),
    ]
    args.base_tree = None
    assert variants(args) == [("app_queue", "", None, 0), ("holdfast", "after", None, -10)]


def run(repeat: int, label: str, holdfast_cpu: float) -> Run:
    figures = RunFigures(100, 100, 100, 0, 0, 0, [], [], [0.01] * 10, [0.005] * 10, {"holdfast": holdfast_cpu})
    return Run("c", repeat, "holdfast", 60.0, 13 + repeat, figures, label)


def test_two_holdfast_columns_are_compared_within_each_repeat() -> None:
    # repeat 0: 1.0 / 2.0; repeat 1: 3.0 / 2.0 -> ratios 0.5 and 1.5, median 1 (0.5-1.5)
    runs = [run(0, "after", 1.0), run(0, "before", 2.0), run(1, "after", 3.0), run(1, "before", 2.0)]
    lines = between_holdfasts(runs, ["holdfast (after)", "holdfast (before)"])
    assert "| figure | holdfast (after) / holdfast (before) |" in lines
    assert "| CPU s/100 calls: Holdfast | 1 (0.5-1.5) |" in lines
    assert between_holdfasts(runs, ["holdfast (after)"]) == []  # one column: nothing to pair
