"""docs/bench-scale.md (+ .png plot, + .json raw figures) from one run of bench.scale."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.machine import machine

LATENCY_GOAL_MS = 20.0


@dataclass(frozen=True)
class Step:
    label: str
    level: int  # callers kept waiting (0: the release)
    seconds: float
    waiting_min: int  # callers waiting as the simulator sees them (placed, up, not yet offered to an agent)
    waiting_max: int
    holdfast_waiting: float  # Holdfast's gauge holdfast_callers_waiting at the end of the step
    served: int  # callers offered to an agent during the step
    steps: int  # engine steps recorded
    ari_steps: int  # ... of which from an ARI event (the latency below)
    latency_p50_ms: float  # ARI event received -> step's commands issued
    latency_p99_ms: float
    latency_max_ms: float
    engine_p50_ms: float  # engine.handle (+ building the step) alone
    engine_p99_ms: float
    engine_cpu_p99_ms: float  # the engine step's CPU time (thread time), p99: its own work, no waiting for a CPU
    before_p50_ms: float  # received -> fed to the engine (lane queue, REST calls the handler awaited first)
    before_p99_ms: float
    after_p50_ms: float  # fed -> issued: the engine, the store's commit and the committer's queue
    after_p99_ms: float
    cpu_cores: dict[str, float]  # CPU seconds per second, per process
    machine_busy: float  # share of the whole machine (all CPUs) busy, every process included
    rtp_watched: int  # waiting callers whose received RTP was polled every second
    rtp_pps_mean: float  # packets/s received by them (20 ms packets: 50 is full)
    rtp_pps_min: float
    rtp_gap_intervals: int  # 1 s intervals with < 80 % of the expected packets, summed over them
    by_event: dict[str, tuple[int, float, float]]  # ARI event type -> (steps, p50 ms, p99 ms): the .json only


def _f(v: float, digits: int = 1) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def others(s: Step) -> float:
    """CPU cores used by processes the benchmark does not list (other sessions on a shared machine)."""
    return (os.cpu_count() or 1) * s.machine_busy - sum(s.cpu_cores.values())


def table(steps: list[Step]) -> list[str]:
    procs = list(steps[0].cpu_cores) if steps else []
    head = (
        "| step | waiting (sim min-max / Holdfast) | served in step | ARI steps | event→commands p50 / p99 / max ms"
        " | of which received→engine p50 / p99 | engine→issued p50 / p99 | engine alone p50 / p99 (p99 CPU) ms | "
        + " | ".join(f"CPU {p} (cores)" for p in procs)
        + " | machine busy (cores used by other processes)"
        " | MOH watched | RTP pkt/s mean / min | gap intervals |"
    )
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for s in steps:
        lines.append(
            f"| {s.label} | {s.waiting_min}-{s.waiting_max} / {_f(s.holdfast_waiting, 0)} | {s.served} | {s.ari_steps}"
            f" | {_f(s.latency_p50_ms)} / {_f(s.latency_p99_ms)} / {_f(s.latency_max_ms)}"
            f" | {_f(s.before_p50_ms)} / {_f(s.before_p99_ms)} | {_f(s.after_p50_ms)} / {_f(s.after_p99_ms)}"
            f" | {_f(s.engine_p50_ms, 2)} / {_f(s.engine_p99_ms, 2)} ({_f(s.engine_cpu_p99_ms, 2)}) | "
            + " | ".join(_f(s.cpu_cores.get(p, math.nan), 2) for p in procs)
            + f" | {_f(100 * s.machine_busy, 0)} % ({_f(others(s), 2)}) | {s.rtp_watched}"
            + f" | {_f(s.rtp_pps_mean)} / {_f(s.rtp_pps_min)}"
            f" | {s.rtp_gap_intervals} |"
        )
    return lines


@dataclass(frozen=True)
class Run:
    command: str
    started: float
    settings: dict[str, Any]
    outcome: dict[str, Any]
    steps: list[Step]

    @property
    def title(self) -> str:
        audio = "callers silent (send no RTP)" if self.settings.get("silent_callers") else "callers send audio"
        store = ", store on tmpfs (fsync free: diagnostic)" if self.settings.get("shm_store") else ""
        label = f" — {self.settings['label']}" if self.settings.get("label") else ""
        nice = self.settings.get("holdfast_nice") or 0
        first = " given the CPU first" if nice < 0 else ""
        priority = f", Holdfast{first} in its own scheduling group, nice {nice}" if nice else ""
        return f"{audio}, {self.settings['churn_agents']} agents serving during the steps{store}{priority}{label}"


def plot(runs: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for n, run in enumerate(runs):
        ramp = [s for s in run.steps if s.level > 0]
        if not ramp:
            continue
        ls = ("-", "--", "-.", ":")[n % 4]
        tag = f" (run {n + 1})" if len(runs) > 1 else ""
        x = [s.level for s in ramp]
        ax = axes[0]
        ax.plot(x, [s.latency_p50_ms for s in ramp], "o" + ls, color="tab:blue", label="event→commands p50" + tag)
        ax.plot(x, [s.latency_p99_ms for s in ramp], "o" + ls, color="tab:red", label="event→commands p99" + tag)
        ax.plot(x, [s.engine_p99_ms for s in ramp], "." + ls, color="tab:gray", label="engine alone p99" + tag)
        ax = axes[1]
        for proc, color in zip(ramp[0].cpu_cores, ("tab:red", "tab:blue", "tab:green", "tab:purple"), strict=False):
            ax.plot(x, [s.cpu_cores[proc] for s in ramp], "o" + ls, color=color, label=proc + tag)
        cores = [(os.cpu_count() or 1) * s.machine_busy for s in ramp]
        ax.plot(x, cores, ls, color="black", lw=0.8, label="whole machine, every process" + tag)
        ax = axes[2]
        ax.plot(x, [s.rtp_pps_mean for s in ramp], "o" + ls, color="tab:blue", label="mean" + tag)
        ax.plot(x, [s.rtp_pps_min for s in ramp], "o" + ls, color="tab:orange", label="worst watched caller" + tag)
    axes[0].axhline(LATENCY_GOAL_MS, color="gray", ls=":", label=f"goal p99 {LATENCY_GOAL_MS:g} ms")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("ms (log scale)")
    axes[0].set_title("Holdfast: ARI event → step's commands issued")
    axes[1].axhline(2.0, color="gray", lw=0.8)
    axes[1].set_ylabel("CPU cores (machine has 2)")
    axes[1].set_title("CPU")
    axes[2].axhline(50.0, color="gray", ls=":", label="full stream (50/s)")
    axes[2].set_ylim(bottom=0)
    axes[2].set_ylabel("RTP packets/s received")
    axes[2].set_title("Music on hold at waiting callers")
    for ax in axes:
        ax.set_xlabel("callers waiting")
        ax.legend(fontsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


NOTES_FILE = Path(__file__).with_name("notes.md")  # the reading of the published run, kept beside the code


def render(runs: list[Run]) -> str:
    settings = runs[0].settings
    when = "; ".join(f"`{r.command}` at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(r.started))}" for r in runs)
    lines = [
        "# Scale benchmark: waiting callers on one Holdfast + one Asterisk",
        "",
        f"Generated by `make bench-scale` ({when}) on {machine()}. The 'machine busy' column counts every"
        " process on it, ours included; whether anything else ran is said in the notes below. The first"
        " round's page (a busy machine) is kept as [bench-scale-round1.md](bench-scale-round1.md), the second's"
        " (30 s steps, default scheduling only) as [bench-scale-round2.md](bench-scale-round2.md).",
        "",
        "## Method",
        "",
        "* The real service, as `make bench-queue` runs it (`bench/queue`: one queue, ring 15 s, wrap-up 5 s, no"
        f" callbacks, SQLite store with commit before act), on the sandbox Asterisk 22 (the SUT). {settings['agents']}"
        " agents' phones are registered from a second Asterisk, the phone simulator of the e2e tests, which also"
        " places the callers (PJSIP trunk, 20 ms RTP; in the first run each caller also sends music, as a"
        " phone sends its microphone's audio; a run with --silent-callers has callers that send nothing, which"
        " takes half the RTP off both Asterisks). All three processes and the benchmark share the 2 CPUs."
        " A run with --holdfast-nice N starts the service in its own scheduling group weighted by nice N"
        " against the Asterisks (bench.queue.systems.prioritise), as the README advises for a machine"
        " shared with Asterisk (systemd CPUWeight=, Docker cpu_shares); without it the service is scheduled"
        " as any other process.",
        f"* Steps of {', '.join(str(s) for s in settings['steps'])} waiting callers. {settings['churn_agents']} agents"
        f" stay ready and serve (answer at once, talk {settings['talk']:g} s, then wrap-up); the others are paused."
        " Every caller taken by an agent is replaced by a new one (at most 25 new callers a second), so the"
        " number waiting stays at the step's level while the engine keeps handling calls. Each step is measured"
        f" for {settings['hold']:g} s after the level is reached. Then every agent is made ready and all callers"
        " must be served (the release row).",
        "* **Event latency** (the goal's 'engine event latency'): from an ARI event received by the service (the"
        " websocket reader handing it to the dispatcher) to the commands of the engine step it caused handed to"
        " the executor, after the step is stored (commit before act). Measured in the service process by"
        " `bench/scale/proc.py` (wrappers around four methods; the service's own histogram"
        " `holdfast_event_handling_seconds` times `engine.handle` alone, shown as 'engine alone'). Split in two:"
        " received → fed to the engine (the event's lane queue, and what the handler awaits before feeding, e.g."
        " the REST call that answers a new caller) and engine → issued (the engine, then the wait for the"
        " step's store commit with its fsync, group-committed with the steps around it). REST calls made"
        " after that are not in it.",
        "* **Music on hold**: on the simulator, the received RTP packet count of up to 10 of the newest waiting"
        " callers is read every second (ARI rtp_statistics); 50 packets/s is a full 20 ms stream, a 1 s"
        " interval with under 80 % of that is a gap.",
        "* **Lost / stuck**: a caller whose call ended (not hung up by the benchmark) without an agent having"
        " answered for them is lost; one still up at the end is stuck. Callers never hang up themselves.",
        "",
        "## Results",
        "",
    ]
    for n, run in enumerate(runs, 1):
        lines += [f"### Run {n}: {run.title}", "", *table(run.steps), ""]
        outcome = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in run.outcome.items() if v not in ([], None))
        lines += [f"Outcome: {outcome}.", ""]
    lines += ["![scale](bench-scale.png)", ""]
    if NOTES_FILE.exists():
        lines += [NOTES_FILE.read_text().strip(), ""]
    return "\n".join(lines)


OLD = {"engine_cpu_p99_ms": math.nan}  # a field the first published run did not record yet


def read(out: Path) -> list[Run]:
    path = out.with_suffix(".json")
    if not path.exists():
        return []
    return [
        Run(r["command"], r["started"], r["settings"], r["outcome"], [Step(**{**OLD, **s}) for s in r["steps"]])
        for r in json.loads(path.read_text())["runs"]
    ]


def write(runs: list[Run], out: Path | None) -> str:
    text = render(runs)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        out.with_suffix(".json").write_text(json.dumps({"runs": [asdict(r) for r in runs]}, indent=1))
        plot(runs, out.with_suffix(".png"))
    return text


if __name__ == "__main__":  # the page again from its .json, after editing notes.md
    print(write(read(Path("docs/bench-scale.md")), Path("docs/bench-scale.md")))
