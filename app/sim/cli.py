"""`holdfast sim SCENARIO.yaml`: run a scenario through the real engine and print a report."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from app.sim.report import render, summarize
from app.sim.scenario import Scenario
from app.sim.simulator import Simulator


class ProgressBar:
    def __init__(self, stream: TextIO, width: int = 40) -> None:
        self.stream = stream
        self.width = width
        self.started = time.perf_counter()
        self._last = -1
        self._done = False

    def __call__(self, fraction: float) -> None:
        if self._done:
            return
        filled = int(self.width * fraction)
        if filled == self._last and fraction < 1.0:
            return
        self._last = filled
        elapsed = time.perf_counter() - self.started
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {100 * fraction:5.1f} %  {elapsed:6.1f} s")
        if fraction >= 1.0:
            self._done = True
            self.stream.write("\n")
        self.stream.flush()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="holdfast sim",
        description="Simulate callers and agents against the Holdfast core engine and report waits, "
        "abandonment, SLA, occupancy, callbacks and the accuracy of the estimated wait.",
    )
    parser.add_argument("scenario", help="scenario YAML (see examples/sim-basic.yaml)")
    parser.add_argument("--seed", type=int, help="override the scenario's seed")
    parser.add_argument("--callers", type=int, help="stop arrivals after this many callers")
    parser.add_argument("--plots", metavar="DIR", help="write PNG plots here (needs matplotlib: pip install '.[sim]')")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    outbound = _outbound(args.scenario)
    if outbound is not None:
        return _run_outbound(args.scenario, outbound, args.seed)
    try:
        scenario = Scenario.load(args.scenario)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        print(f"holdfast sim: cannot load {args.scenario}: {exc}", file=sys.stderr)
        return 2
    if args.seed is not None:
        scenario = replace(scenario, seed=args.seed)
    if args.callers is not None:
        scenario = replace(scenario, max_callers=args.callers, horizon=float("inf"))
    progress = None if args.quiet else ProgressBar(sys.stderr)
    started = time.perf_counter()
    result = Simulator(scenario, progress=progress).run()
    elapsed = time.perf_counter() - started
    print(render(result, summarize(result)))
    print(
        f"\n  run                {len(result.callers)} callers, {result.events} engine events in {elapsed:.1f} s "
        f"({len(result.callers) / max(elapsed, 1e-9):,.0f} callers/s)"
    )
    if args.plots:
        try:
            from app.sim.plots import write_plots
        except ImportError as exc:
            print(f"holdfast sim: plots need matplotlib ({exc}); install with pip install '.[sim]'", file=sys.stderr)
            return 1
        for path in write_plots(result, Path(args.plots)):
            print(f"  wrote {path}")
    return 0


def _outbound(path: str) -> dict[str, object] | None:
    """The scenario's YAML when it is an outbound campaign (`kind: outbound`), else None."""
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return None  # the inbound loader reports it
    return raw if isinstance(raw, dict) and raw.get("kind") == "outbound" else None


def _run_outbound(path: str, raw: dict[str, object], seed: int | None) -> int:
    from app.sim.outbound import OutboundScenario, render, simulate_outbound

    try:
        scenario = OutboundScenario.from_dict(raw)
    except (ValueError, TypeError, KeyError) as exc:
        print(f"holdfast sim: cannot load {path}: {exc}", file=sys.stderr)
        return 2
    if seed is not None:
        scenario = replace(scenario, seed=seed)
    started = time.perf_counter()
    result = simulate_outbound(scenario)
    print(render(result))
    print(f"\n  run                {result.events} engine events in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
