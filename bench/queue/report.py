"""docs/bench-queue.md (+ .png plot, + .json raw figures) from the runs of one invocation."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.machine import machine
from bench.queue.metrics import RunFigures, quantile
from bench.queue.workload import LOADS


@dataclass(frozen=True)
class Run:
    load: str
    repeat: int
    system: str
    duration: float
    seed: int
    figures: RunFigures
    label: str = ""  # which code the run measured (e.g. "before perf13"): shown as its own column

    @property
    def column(self) -> str:
        return f"{self.system} ({self.label})" if self.label else self.system


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
    ("agent OK→bridged p99, arrivals only", lambda f: 1000 * quantile(f.agent_to_bridge_arrivals, 0.99)),
    ("INVITE→answered p99, arrivals only", lambda f: 1000 * quantile(f.invite_to_answer_arrivals, 0.99)),
    ("CPU s/100 calls: SUT Asterisk", lambda f: cpu_per_100(f, "asterisk")),
    ("CPU s/100 calls: Holdfast", lambda f: cpu_per_100(f, "holdfast")),
    ("CPU s/100 calls: sum", lambda f: cpu_per_100(f, "sum")),
]
RATIOS = [m for m in METRICS if m[0].startswith(("dispatch p", "wait", "agent", "INVITE", "CPU s/100 calls: sum"))]
RATIOS = [m for m in RATIOS if m[0] != "dispatch n"]


COUNTER_TITLES = {
    "rest_requests": "ARI REST requests",
    "ari_events": "ARI events received",
    "store_commits": "store transactions (fsyncs)",
    "steps_stored": "engine steps stored",
    "acted_early": "steps acted on before stored (agent answered: bridge)",
    "cpu_user_ms": "Holdfast's CPU ms: user (its own code)",
    "cpu_kernel_ms": "Holdfast's CPU ms: system (the kernel's work for it: sockets, fsync, wake-ups)",
}


def columns(runs: Sequence[Run]) -> list[str]:
    """app_queue first, then each system/label in the order first run."""
    seen: list[str] = []
    for r in sorted(runs, key=lambda r: (r.system != "app_queue",)):
        if r.column not in seen:
            seen.append(r.column)
    return seen


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


METHOD = """## How it is measured

- **SUTs.** app_queue: asterisk-conf/ with bench/queue/asterisk-appqueue/ laid over it
  (`Answer(,i)` then `Queue(bench)`; queues.conf strategy leastrecent, timeout 15, retry 1,
  wrapuptime 5, ringinuse no, autofill, static members `PJSIP/<agent>`, music on hold per caller).
  Holdfast: asterisk-conf/ unchanged (`Answer(,i)` then `Stasis(holdfast)`) and the service in its own process
  (bench/queue/holdfast_proc.py), one queue with ring_timeout 15 s, wrap_up 5 s, no callbacks, no
  announcements; every agent made ready over the API before the run. Agents' qualify is off on both.
- **Phones.** A second Asterisk (tests/e2e/phonesim-conf/) driven by tests/e2e/phonesim.py places the
  callers' calls and is every agent's phone: it rings at once, answers 0.5 s after the INVITE, talks
  for the talk time drawn for the caller it got (the caller id carries the caller's index) and hangs
  up. A caller hangs up when its patience runs out before it is bridged.
- **Timestamps** are the Asterisks' own event timestamps (ms), not Python's: INVITE = the SUT creates
  the caller's channel; answered = the phone gets the 200 OK (enters its Stasis app); agent 200 OK =
  the agent phone's channel goes Up; bridged = first SUT event where one bridge holds the caller's and
  an agent's channel, seen by a watcher ARI app on the SUT subscribed to all channels and bridges (the
  same for both systems; its cost is in both SUTs' CPU).
- **Dispatch latency**: an agent's wrap-up ends (its hang-up + 5 s) -> its phone gets the next INVITE,
  counted only when at that moment a caller was waiting (answered, not yet offered to any agent) and
  no other agent was idle. app_queue re-checks waiting callers every `retry` (1 s), hence its spread.
- **Lost**: a call not answered, or ended by the SUT before any bridge; **stuck**: a caller's or an
  agent's call still up when the run ended (30 s after the last caller's natural end at the latest).
- **CPU**: utime+stime of the SUT Asterisk process (all threads) and of the Holdfast process from
  /proc/<pid>/stat, from just before the first call to the end of the drain. The phone simulator and
  the harness are not counted. The machine is shared (2 cores, other work running at the same time):
  CPU and the tails of latencies are noisy, hence the repeats and the paired ratios.
- **Arrivals only**: the same latency over the Poisson arrivals alone, leaving out the warm start (one
  caller per agent at t=0, then every agent answering at once 0.5 s later), whose burst otherwise
  sets the p99 of both systems.
- **Holdfast's counters** (per offered call): from its /metrics before and after the run: ARI REST
  requests and events received (holdfast_ari_*), store transactions (one fsync each with SQLite's
  synchronous=FULL) and engine steps stored (holdfast_commit_batch_steps count and sum); REST
  requests by kind ("rest: ...") and events by type ("event: ...", "copy dropped: ...") where the
  Holdfast has those counters (holdfast_ari_*_by_*); Holdfast's CPU split into user and system time
  (ms per call, /proc).
- **Columns**: a run made with `--label X` is shown as "holdfast (X)"; ratios pair each column with
  app_queue's run of the same repeat, and the app_queue column takes every repeat.
"""


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
        cols = columns(sel)
        out += [
            f"## Load {load}: {ld.agents} agents, talk {ld.talk_mean:g} s, patience {ld.patience_mean:g} s,"
            f" rho {ld.rho:g} — arrivals {dur:g} s, {repeats} repeat(s)",
            "",
            "| figure | " + " | ".join(f"{c} n={sum(1 for r in sel if r.column == c)}" for c in cols) + " |",
            "| --- | " + " | ".join("---" for _ in cols) + " |",
        ]
        for title, fn in METRICS:
            cells = [_spread([fn(r.figures) for r in sel if r.column == c]) for c in cols]
            out.append(f"| {title} | " + " | ".join(cells) + " |")
        if any(r.figures.counters for r in sel):
            out += ["", "Holdfast's own counters per offered call:", ""]
            held = [c for c in cols if any(r.figures.counters for r in sel if r.column == c)]
            out += ["| counter | " + " | ".join(held) + " |", "| --- | " + " | ".join("---" for _ in held) + " |"]
            kinds = sorted({k for r in sel for k in r.figures.counters if k not in COUNTER_TITLES})
            for key, title in [*COUNTER_TITLES.items(), *((k, k) for k in kinds)]:
                cells = [
                    _spread([r.figures.counters[key] / r.figures.calls for r in sel
                             if r.column == c and key in r.figures.counters and r.figures.calls])
                    for c in held
                ]  # fmt: skip
                out.append(f"| {title} | " + " | ".join(cells) + " |")
        paired = [c for c in cols if c != "app_queue"]
        out += [
            "",
            "Ratios Holdfast / app_queue, paired within each repeat:",
            "",
            "| figure | " + " | ".join(paired) + " |",
            "| --- | " + " | ".join("---" for _ in paired) + " |",
        ]
        for title, fn in RATIOS:
            cells = []
            for c in paired:
                ratios = []
                for rep in sorted({r.repeat for r in sel}):
                    pair = {r.column: fn(r.figures) for r in sel if r.repeat == rep}
                    if c in pair and "app_queue" in pair and pair["app_queue"]:
                        ratios.append(pair[c] / pair["app_queue"])
                cells.append(_spread(ratios))
            out.append(f"| {title} | " + " | ".join(cells) + " |")
        out += between_holdfasts(sel, paired)
        out.append("")
    if plot_name:
        out += [f"![dispatch latency and CPU per load]({plot_name})", ""]
    out += [METHOD]
    return "\n".join(out)


# Figures compared between two Holdfast columns (e.g. after / before a change): its own CPU too.
BETWEEN = [*RATIOS, ("CPU s/100 calls: Holdfast", lambda f: cpu_per_100(f, "holdfast"))]


def between_holdfasts(sel: Sequence[Run], holdfasts: Sequence[str]) -> list[str]:
    """The first Holdfast column over each other one, paired within each repeat (both ran beside
    the same app_queue run, on the machine in the same state): before/after in the same run."""
    if len(holdfasts) < 2:
        return []
    first, others = holdfasts[0], holdfasts[1:]
    out = [
        "",
        f"Ratios {first} / the other Holdfast column, paired within each repeat:",
        "",
        "| figure | " + " | ".join(f"{first} / {c}" for c in others) + " |",
        "| --- | " + " | ".join("---" for _ in others) + " |",
    ]
    for title, fn in BETWEEN:
        cells = []
        for c in others:
            ratios = []
            for rep in sorted({r.repeat for r in sel}):
                pair = {r.column: fn(r.figures) for r in sel if r.repeat == rep}
                if first in pair and c in pair and pair[c]:
                    ratios.append(pair[first] / pair[c])
            cells.append(_spread(ratios))
        out.append(f"| {title} | " + " | ".join(cells) + " |")
    return out


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
        ("wait join→bridged p95 (ms)", lambda f: 1000 * quantile(f.wait, 0.95)),
        ("CPU s per 100 calls (SUT + Holdfast)", lambda f: cpu_per_100(f, "sum")),
    ]
    for ax, (title, fn) in zip(axes, panels, strict=True):
        cols = columns(runs)
        for k, col in enumerate(cols):
            xs, ys = [], []
            for i, load in enumerate(loads):
                for r in runs:
                    if r.load == load and r.column == col:
                        xs.append(i + (k - (len(cols) - 1) / 2) * 0.2)
                        ys.append(fn(r.figures))
            ax.plot(xs, ys, "o", label=col)
        ax.set_xticks(range(len(loads)), [f"load {x}" for x in loads])
        ax.set_xlim(-0.5, len(loads) - 0.5)
        ax.set_ylim(bottom=0)  # differences read against zero, not magnified
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write(runs: Sequence[Run], out_md: Path, command: str, notes: str) -> None:
    """The page, its plot and the raw figures (which `rerender` reads back)."""
    png = out_md.with_suffix(".png")
    has_plot = plot(runs, png)
    out_md.write_text(render(runs, command, notes, png.name if has_plot else None))
    raw = {"command": command, "notes": notes, "machine": machine(), "runs": [asdict(r) for r in runs]}
    out_md.with_suffix(".json").write_text(json.dumps(raw, indent=1))


def read(out_md: Path) -> tuple[list[Run], str, str]:
    """Runs, command and notes stored beside the page by `write`."""
    raw = json.loads(out_md.with_suffix(".json").read_text())
    if isinstance(raw, list):  # the first format: runs only
        raw = {"command": "python -m bench.queue", "notes": "", "runs": raw}
    runs = [Run(**{**r, "figures": RunFigures(**r["figures"])}) for r in raw["runs"]]  # older runs: no label
    return runs, raw["command"], raw["notes"]


def rerender(out_md: Path, notes: str | None = None) -> None:
    """Write the page again from its .json (e.g. after a change of the page's layout or notes)."""
    runs, command, old_notes = read(out_md)
    write(runs, out_md, command, old_notes if notes is None else notes)


if __name__ == "__main__":
    import sys

    # python -m bench.queue.report docs/bench-queue.md ["new notes"]
    rerender(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
