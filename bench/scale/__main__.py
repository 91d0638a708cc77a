"""`python -m bench.scale`: run the scale benchmark; see bench/scale/__init__.py and --help."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.sandbox import AgentEndpoint, AsteriskInstance, find_asterisk
from bench.queue import systems
from bench.queue.phonesim_driver import AriError, MiniAri, PhoneSim, SimCall
from bench.queue.workload import caller_id, caller_index
from bench.scale.report import Run, Step, read, write

log = logging.getLogger("bench.scale")

PLACE_RATE = 25.0  # new callers per second while a step ramps up
RTP_SAMPLE = 10  # caller channels whose received RTP is watched in each step
PTIME_PPS = 50.0  # packets per second of a 20 ms stream
GAP_SHARE = 0.8  # a 1 s poll interval with fewer than this share of the expected packets is a gap


class ScaleProcess(systems.HoldfastProcess):
    """bench.queue's Holdfast process, started through bench.scale.proc (the latency probe)."""

    def __init__(self, *args: Any, samples: Path, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.samples = samples

    def start(self, timeout: float = 60.0) -> None:
        import subprocess

        real_popen = subprocess.Popen

        def popen(cmd: list[str], **kw: Any) -> Any:  # same command line, the probe's module instead
            cmd = [*cmd[:2], "bench.scale.proc", *cmd[3:], str(self.samples)]
            return real_popen(cmd, **kw)

        systems.subprocess.Popen = popen  # type: ignore[assignment,misc]
        try:
            super().start(timeout)
        finally:
            systems.subprocess.Popen = real_popen  # type: ignore[misc]

    def post(self, path: str) -> None:
        self._post(path, {})

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
        m = re.search(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", text, re.M)
        return float(m.group(1)) if m else math.nan


@dataclass
class Caller:
    index: int
    call: SimCall | None = None
    placed_at: float = 0.0
    failed: str = ""
    legs: list[SimCall] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.call is not None and self.call.hung_up

    @property
    def served(self) -> bool:
        return any(leg.answered for leg in self.legs)

    @property
    def waiting(self) -> bool:
        return not self.failed and not self.legs and not self.ended


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    f = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + f[4]
    return sum(f) - idle, sum(f)


def quantile(xs: list[float], q: float) -> float:
    if not xs:
        return math.nan
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


class Bench:
    def __init__(self, sim: PhoneSim, hf: ScaleProcess, pids: dict[str, int], samples: Path) -> None:
        self.sim, self.hf, self.pids, self.samples = sim, hf, pids, samples
        self.callers: dict[int, Caller] = {}
        self.target = 0
        self.inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.errors: list[str] = []
        sim.ari.listeners.append(self._on_event)  # after the simulator's own: its SimCall exists

    def _on_event(self, ev: dict[str, Any]) -> None:
        if ev.get("type") != "StasisStart" or (ev.get("args") or [""])[0] != "agent":
            return
        call = self.sim.calls.get(ev["channel"]["id"])
        idx = caller_index(call.caller_number) if call is not None else None
        if call is not None and idx is not None and idx in self.callers:
            self.callers[idx].legs.append(call)

    def waiting(self) -> int:
        return sum(1 for c in self.callers.values() if c.waiting)

    async def _place(self, c: Caller) -> None:
        try:
            c.call = await self.sim.call(systems.QUEUE_NUMBER, caller_id(c.index), timeout=30)
            c.placed_at = time.time()
        except AriError as e:
            c.failed = f"originate refused: {e}"
        finally:
            self.inflight -= 1

    async def placer(self) -> None:
        """Keeps `target` callers waiting: places new ones (at most PLACE_RATE a second) as callers
        are taken by an agent."""
        while True:
            if self.waiting() < self.target:
                c = Caller(len(self.callers))
                self.callers[c.index] = c
                self.inflight += 1
                task = asyncio.create_task(self._place(c))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                await asyncio.sleep(1.0 / PLACE_RATE)
            else:
                await asyncio.sleep(0.05)

    async def rtp_watch(self, calls: list[SimCall], stop: asyncio.Event) -> list[tuple[float, int]]:
        """Per watched call: (packets/s received, gap intervals), over the time it stayed waiting."""
        polls: dict[str, list[tuple[float, int]]] = {c.id: [] for c in calls}
        while not stop.is_set():
            t = time.monotonic()
            for call in calls:
                if call.hung_up:
                    continue
                with contextlib.suppress(AriError):
                    st = await call.rtp_stats()
                    polls[call.id].append((time.monotonic(), int(st.get("rxcount", 0))))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, 1.0 - (time.monotonic() - t)))
        out = []
        for call in calls:
            p = polls[call.id]
            if len(p) < 3:
                continue
            gaps = sum(1 for a, b in itertools.pairwise(p) if b[1] - a[1] < GAP_SHARE * PTIME_PPS * (b[0] - a[0]))
            out.append(((p[-1][1] - p[0][1]) / (p[-1][0] - p[0][0]), gaps))
        return out

    def read_samples(
        self, t0: float, t1: float
    ) -> tuple[list[float], list[float], list[float], list[float], dict[str, list[float]]]:
        """(received -> issued, engine, received -> fed) seconds of the steps recorded between t0 and
        t1 (wall), and received -> issued per ARI event type."""
        total: list[float] = []
        engine: list[float] = []
        before: list[float] = []
        engine_cpu: list[float] = []
        kinds: dict[str, list[float]] = {}
        for line in self.samples.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) < 5 or not t0 <= float(parts[0]) < t1:
                continue
            engine.append(float(parts[2]))
            if len(parts) > 5:
                engine_cpu.append(float(parts[5]))
            if parts[3] != "nan":
                total.append(float(parts[3]))
                before.append(float(parts[4]))
                kinds.setdefault(parts[1], []).append(float(parts[3]))
        return total, engine, before, engine_cpu, kinds

    def cpu(self) -> dict[str, float]:
        out = {k: systems.cpu_seconds(p) for k, p in self.pids.items()}
        busy, all_ = machine_busy()
        out["machine busy"], out["machine all"] = busy, all_
        return out

    async def measure(self, label: str, level: int, hold: float, done: Callable[[], bool] | None = None) -> Step:
        """Figures over `hold` seconds (or until `done()`); with `done`, no music is watched (callers
        are being taken)."""
        # the newest callers that have been waiting a little: the ones least likely to be taken soon
        now = time.time()
        sample = [
            c.call
            for c in sorted(self.callers.values(), key=lambda c: -c.index)
            if c.waiting and c.call is not None and c.call.answered and now - c.placed_at > 2.0
        ][: 0 if done is not None else RTP_SAMPLE]
        stop = asyncio.Event()
        wall0, mono0, cpu0 = time.time(), time.monotonic(), self.cpu()
        served0 = sum(1 for c in self.callers.values() if c.legs)
        watcher = asyncio.create_task(self.rtp_watch(sample, stop))
        waiting_seen: list[int] = []
        deadline = mono0 + hold
        while time.monotonic() < deadline and not (done is not None and done()):
            waiting_seen.append(self.waiting())
            await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        stop.set()
        rtp = await watcher
        wall1, mono1, cpu1 = time.time(), time.monotonic(), self.cpu()
        await asyncio.sleep(0.7)  # the probe flushes its samples every 0.5 s
        total, engine, before, engine_cpu, kinds = self.read_samples(wall0, wall1)
        after = [t - b for t, b in zip(total, before, strict=True)]  # includes the engine's own time
        span = mono1 - mono0
        jiffies = cpu1["machine all"] - cpu0["machine all"]
        cores = {k: (cpu1[k] - cpu0[k]) / span for k in self.pids}
        step = Step(
            label=label,
            level=level,
            seconds=span,
            waiting_min=min(waiting_seen, default=0),
            waiting_max=max(waiting_seen, default=0),
            holdfast_waiting=self.hf.metric("holdfast_callers_waiting"),
            served=sum(1 for c in self.callers.values() if c.legs) - served0,
            steps=len(engine),
            ari_steps=len(total),
            latency_p50_ms=1000 * quantile(total, 0.5),
            latency_p99_ms=1000 * quantile(total, 0.99),
            latency_max_ms=1000 * max(total, default=math.nan),
            engine_p50_ms=1000 * quantile(engine, 0.5),
            engine_p99_ms=1000 * quantile(engine, 0.99),
            engine_cpu_p99_ms=1000 * quantile(engine_cpu, 0.99),
            before_p50_ms=1000 * quantile(before, 0.5),
            before_p99_ms=1000 * quantile(before, 0.99),
            after_p50_ms=1000 * quantile(after, 0.5),
            after_p99_ms=1000 * quantile(after, 0.99),
            cpu_cores=cores,
            machine_busy=(cpu1["machine busy"] - cpu0["machine busy"]) / jiffies if jiffies else math.nan,
            rtp_watched=len(rtp),
            rtp_pps_mean=sum(r[0] for r in rtp) / len(rtp) if rtp else math.nan,
            rtp_pps_min=min((r[0] for r in rtp), default=math.nan),
            rtp_gap_intervals=sum(r[1] for r in rtp),
            by_event={
                k: (len(v), round(1000 * quantile(v, 0.5), 2), round(1000 * quantile(v, 0.99), 2))
                for k, v in sorted(kinds.items())
            },
        )
        log.info("%s", json.dumps(asdict(step)))
        return step


async def run(args: argparse.Namespace) -> tuple[list[Step], dict[str, Any]]:
    install = find_asterisk()
    ports = systems.Ports.pick()
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    agents: list[AgentEndpoint] = systems.make_agents(args.agents)
    phonesim: AsteriskInstance | None = None
    sut: AsteriskInstance | None = None
    hf: ScaleProcess | None = None
    sim: PhoneSim | None = None
    steps: list[Step] = []
    outcome: dict[str, Any] = {}
    try:
        phonesim = systems.start_phonesim(install, ports, agents)
        sut = systems.start_sut("holdfast", install, ports, agents)
        systems.register_agents(phonesim, sut, agents)
        samples = workdir / "latency.tsv"
        # --shm-store: the service's SQLite on tmpfs, where fsync costs nothing (a diagnostic, not a setting
        # to run with: it shows how much of the latency is the disk's)
        hf_dir = Path(tempfile.mkdtemp(prefix="bench-scale-", dir="/dev/shm")) if args.shm_store else workdir
        hf = ScaleProcess(
            sut, agents, ports.holdfast_http, hf_dir / "holdfast", nice=args.holdfast_nice, samples=samples
        )
        hf.start()
        churn = [a.username for a in agents[: args.churn_agents]]
        for a in agents[args.churn_agents :]:
            hf.post(f"/api/agents/{a.username}/pause")
        sim = PhoneSim(await MiniAri(phonesim.ari_url, *phonesim.ari_auth, "phonesim").connect())
        sim.moh_on_answer = not args.silent_callers
        sim.set_behaviour("agent:*", ("talk", args.talk))
        assert sut.pid is not None and hf.pid is not None and phonesim.pid is not None
        pids = {
            "SUT Asterisk": sut.pid,
            "Holdfast": hf.pid,
            "simulator Asterisk": phonesim.pid,
            "benchmark driver": os.getpid(),  # this process: the phones' logic, RTP polling
        }
        bench = Bench(sim, hf, pids, samples)
        placer = asyncio.create_task(bench.placer())
        try:
            for level in args.steps:
                bench.target = level
                t0 = time.monotonic()
                while bench.waiting() < level and time.monotonic() - t0 < args.ramp_timeout:
                    await asyncio.sleep(0.2)
                reached = bench.waiting()
                log.info("level %d: %d waiting after %.0f s", level, reached, time.monotonic() - t0)
                await asyncio.sleep(args.settle)
                steps.append(await bench.measure(f"{level} waiting", level, args.hold))
                if reached < 0.9 * level:
                    outcome["stopped"] = f"level {level}: {reached} callers waiting after {args.ramp_timeout:.0f} s"
                    break
            bench.target = 0
            # release: every agent ready; all waiting callers must now be served
            for a in agents[args.churn_agents :]:
                hf.post(f"/api/agents/{a.username}/ready")
            t0 = time.monotonic()
            release = await bench.measure(
                f"release: {args.agents} agents serve all",
                0,
                args.drain,
                lambda: all(c.ended or c.failed for c in bench.callers.values()),
            )
            drained = time.monotonic() - t0
            steps.append(release)
        finally:
            placer.cancel()
            await asyncio.gather(placer, return_exceptions=True)
        cs = list(bench.callers.values())
        outcome.update(
            placed=len(cs),
            originate_failed=sum(1 for c in cs if c.failed),
            not_answered=sum(1 for c in cs if c.call is not None and not c.call.answered),
            served=sum(1 for c in cs if c.served),
            offered_twice_or_more=sum(1 for c in cs if len(c.legs) > 1),
            lost=sum(1 for c in cs if c.ended and not c.served),
            stuck=sum(1 for c in cs if c.call is not None and not c.ended),
            drain_seconds=round(drained, 1),
            holdfast_waiting_at_end=hf.metric("holdfast_callers_waiting"),
            churn_agents=len(churn),
            simulator_errors=[repr(e) for e in sim.errors[:5]],
        )
        log.info("outcome %s", outcome)
        return steps, outcome
    finally:
        if sim is not None:
            with contextlib.suppress(Exception):
                await sim.close()
        if hf is not None:
            hf.stop()
        for inst in (sut, phonesim):
            if inst is not None:
                inst.stop()
                inst.remove()
        if args.keep:
            log.info("kept %s", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        if args.shm_store and hf is not None:
            shutil.rmtree(hf.workdir.parent, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    p.add_argument("--steps", default="100,200,300,400,500", help="waiting callers per step")
    p.add_argument("--agents", type=int, default=50)
    p.add_argument("--churn-agents", type=int, default=10, help="agents kept serving during the steps")
    p.add_argument("--talk", type=float, default=2.0, help="agents' talk time, seconds")
    p.add_argument("--hold", type=float, default=60.0, help="measured seconds per step")
    p.add_argument("--settle", type=float, default=5.0, help="seconds between reaching a level and measuring")
    p.add_argument("--ramp-timeout", type=float, default=60.0)
    p.add_argument("--drain", type=float, default=150.0, help="at most this long for the release")
    p.add_argument("--silent-callers", action="store_true", help="callers send no audio (default: music)")
    p.add_argument("--shm-store", action="store_true", help="the service's store on /dev/shm (diagnostic)")
    p.add_argument(
        "--holdfast-nice",
        type=int,
        default=0,
        help="the service's CPU priority against the Asterisks (bench.queue.systems.prioritise; needs root)",
    )
    p.add_argument("--quick", action="store_true", help="smoke run: steps 20,40, 10 s each; prints only")
    p.add_argument("--out", default="docs/bench-scale.md", help="'-' to print only")
    p.add_argument("--append", action="store_true", help="add this run to the page's runs (.json) instead of replacing")
    p.add_argument("--keep", action="store_true", help="keep the working directory")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.hold, args.settle, args.out = "20,40", 10.0, 2.0, "-"
    args.steps = [int(x) for x in args.steps.split(",") if x.strip()]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    command = shlex.join(["python", "-m", "bench.scale", *(sys.argv[1:] if argv is None else argv)])
    started = time.time()
    steps, outcome = asyncio.run(run(args))
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "keep", "quick", "append")}
    out = Path(args.out) if args.out != "-" else None
    earlier = read(out) if out is not None and args.append else []
    text = write([*earlier, Run(command, started, settings, outcome, steps)], out)
    print(text)
    return 0 if outcome.get("lost", 1) == 0 and outcome.get("stuck", 1) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
