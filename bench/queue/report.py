"""docs/bench-queue.md (+ .png plot, + .json raw figures) from the runs of one invocation."""

from __future__ import annotations

import json
import math
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.queue.metrics import RunFigures, quantile
from bench.queue.workload import LOADS

SYSTEMS = ("app_queue", "holdfast")


@dataclass(frozen=True)
class Run:
    load: str
    repeat: int
    system: str
    duration: float
    seed: int
    figures: RunFigures


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    import os

    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, Python {platform.python_version()}"


def cpu_per_100(f: RunFigures, key: str) -> float:
    total = sum(f.cpu.values()) if key == "sum" else f.cpu.get(key, math.nan)
    return 100 * total / f.calls if f.calls else math.nan


# (column title, value from one run's figures); latencies in milliseconds
METRICS: list[tuple[str, Callable[[RunFigures], float]]] = [
    ("calls", lambda f: f.calls),
    ("abandoned", lambda f: f.abandoned),
    ("lost+stuck", lambda f: f.lost + f.stuck),
    ("dispatch p50", lambda f: 1000 * quantile(f.dispatch, 0.5)),
    ("dispatch p95", lambda f: 1000 * quantile(f.dispatch, 0.95)),
    ("dispatch p99", lambda f: 1000 * quantile(f.dispatch, 0.99)),
    ("dispatch n", lambda f: len(f.dispatch)),
    ("wait p50", lambda f: 1000 * quantile(f.wait, 0.5)),
    ("wait p95", lambda f: 1000 * quantile(f.wait, 0.95)),
    ("agent OK→bridged p50", lambda f: 1000 * quantile(f.agent_to_bridge, 0.5)),
    ("agent OK→bridged p99", lambda f: 1000 * quantile(f.agent_to_bridge, 0.99)),
    ("INVITE→answered p50", lambda f: 1000 * quantile(f.invite_to_answer, 0.5)),
    ("INVITE→answered p99", lambda f: 1000 * quantile(f.invite_to_answer, 0.99)),
    ("CPU s/100 calls: SUT Asterisk", lambda f: cpu_per_100(f, "asterisk")),
    ("CPU s/100 calls: Holdfast", lambda f: cpu_per_100(f, "holdfast")),
    ("CPU s/100 calls: sum", lambda f: cpu_per_100(f, "sum")),
]
RATIOS = [m for m in METRICS if m[0].startswith(("dispatch p", "wait", "agent", "INVITE", "CPU s/100 calls: sum"))]
RATIOS = [m for m in RATIOS if m[0] != "dispatch n"]


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "-"
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _spread(values: Sequence[float]) -> str:
    vals = [v for v in values if not math.isnan(v)]
    if not vals:
        return "-"
    if len(vals) == 1:
        return _fmt(vals[0])
    return f"{_fmt(statistics.median(vals))} ({_fmt(min(vals))}-{_fmt(max(vals))})"


def render(runs: Sequence[Run], command: str, notes: str, plot_name: str | None) -> str:
    loads = sorted({r.load for r in runs})
    out = [
        "# Queue benchmark: Holdfast vs Asterisk app_queue",
        "",
        f"Produced by `{command}` (bench/queue). Machine: {machine()}.",
        "",
        "Both systems run one after the other on the same Asterisk 22 with the same modules (app_queue.so",
        "added for app_queue), against the same seeded workload; a second Asterisk plays callers and",
        "agents. Definitions of every figure: bench/queue/metrics.py. Latencies in ms; each cell is the",
        "median over repeats with (min-max) when there were several. CPU from /proc utime+stime over the",
        "run (arrivals and drain), per 100 offered calls.",
        "",
        notes,
        "",
    ]
    for load in loads:
        ld = LOADS[load]
        sel = [r for r in runs if r.load == load]
        dur = sel[0].duration
        repeats = len({r.repeat for r in sel})
        out += [
            f"## Load {load}: {ld.agents} agents, talk {ld.talk_mean:g} s, patience {ld.patience_mean:g} s,"
            f" rho {ld.rho:g} — arrivals {dur:g} s, {repeats} repeat(s)",
            "",
            "| figure | " + " | ".join(SYSTEMS) + " |",
            "| --- | " + " | ".join("---" for _ in SYSTEMS) + " |",
        ]
        for title, fn in METRICS:
            cells = [_spread([fn(r.figures) for r in sel if r.system == s]) for s in SYSTEMS]
            out.append(f"| {title} | " + " | ".join(cells) + " |")
        out += [
            "",
            "Ratios Holdfast / app_queue, paired within each repeat:",
            "",
            "| figure | ratio |",
            "| --- | --- |",
        ]
        for title, fn in RATIOS:
            ratios = []
            for rep in sorted({r.repeat for r in sel}):
                pair = {r.system: fn(r.figures) for r in sel if r.repeat == rep}
                if "holdfast" in pair and "app_queue" in pair and pair["app_queue"]:
                    ratios.append(pair["holdfast"] / pair["app_queue"])
            out.append(f"| {title} | {_spread(ratios)} |")
        out.append("")
    if plot_name:
        out += [f"![dispatch latency and CPU per load]({plot_name})", ""]
    return "\n".join(out)


def plot(runs: Sequence[Run], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    loads = sorted({r.load for r in runs})
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    panels = [
        ("dispatch latency p95 (ms)", lambda f: 1000 * quantile(f.dispatch, 0.95)),
        ("wait join→bridged p50 (ms)", lambda f: 1000 * quantile(f.wait, 0.5)),
        ("CPU s per 100 calls (SUT + Holdfast)", lambda f: cpu_per_100(f, "sum")),
    ]
    for ax, (title, fn) in zip(axes, panels, strict=True):
        for k, system in enumerate(SYSTEMS):
            xs, ys = [], []
            for i, load in enumerate(loads):
                for r in runs:
                    if r.load == load and r.system == system:
                        xs.append(i + (k - 0.5) * 0.25)
                        ys.append(fn(r.figures))
            ax.plot(xs, ys, "o", label=system)
        ax.set_xticks(range(len(loads)), [f"load {x}" for x in loads])
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write(runs: Sequence[Run], out_md: Path, command: str, notes: str) -> None:
    png = out_md.with_suffix(".png")
    has_plot = plot(runs, png)
    out_md.write_text(render(runs, command, notes, png.name if has_plot else None))
    out_md.with_suffix(".json").write_text(json.dumps([asdict(r) for r in runs], indent=1))
