"""`python -m bench.queue`: run the queue benchmark; see bench/queue/__init__.py and --help."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from app.sandbox import AgentEndpoint, AsteriskInstall, AsteriskInstance, find_asterisk
from bench.queue import systems
from bench.queue.driver import WATCH_APP, Driver, SutWatch, WatchAri
from bench.queue.metrics import CallerRecord, figures
from bench.queue.phonesim_driver import MiniAri, PhoneSim
from bench.queue.report import Run, read, write
from bench.queue.workload import LOADS, make_workload

log = logging.getLogger("bench.queue")


async def one_run(
    system: str,
    load: str,
    repeat: int,
    duration: float,
    seed: int,
    install: AsteriskInstall,
    ports: systems.Ports,
    agents: list[AgentEndpoint],
    workdir: Path,
    phonesim: AsteriskInstance,
    label: str = "",
    profile: Path | None = None,
    perf: Path | None = None,
    tree: Path | None = None,
    nice: int = 0,
) -> Run:
    ld = LOADS[load]
    name = f"{load}-{repeat}" + (f"-{label}" if label else "")  # files of this run (two Holdfasts may share a repeat)
    workload = make_workload(ld, duration, seed + repeat)
    sut = systems.start_sut(system, install, ports, agents)
    holdfast: systems.HoldfastProcess | None = None
    profiler: systems.Profiler | None = None
    sut_profiler: systems.Profiler | None = None
    wari: WatchAri | None = None
    sim: PhoneSim | None = None
    try:
        systems.register_agents(phonesim, sut, agents)
        if system == "holdfast":
            holdfast = systems.HoldfastProcess(
                sut, agents, ports.holdfast_http, workdir / f"holdfast-{name}", tree, nice
            )
            holdfast.start()
        records = {c.index: CallerRecord(c.index) for c in workload}
        watch = SutWatch(records)
        user, password = sut.ari_auth
        wari = await WatchAri(sut.ari_url, user, password, WATCH_APP).connect()
        wari.listeners.append(watch.on_event)
        sim = PhoneSim(await MiniAri(phonesim.ari_url, *phonesim.ari_auth, "phonesim").connect())
        await asyncio.sleep(1.0)  # let registrations and the watcher settle
        pids = {"asterisk": sut.pid}
        if holdfast is not None:
            pids["holdfast"] = holdfast.pid
        if holdfast is not None and holdfast.pid is not None and profile is not None:
            profile.mkdir(parents=True, exist_ok=True)
            profiler = systems.Profiler(holdfast.pid, profile / f"holdfast-{name}.txt")
        if perf is not None and sut.pid is not None:
            perf.mkdir(parents=True, exist_ok=True)
            sut_profiler = systems.Profiler.perf(sut.pid, perf / f"sut-{system}-{name}.data")
        counters0 = holdfast.counters() if holdfast is not None else {}
        cpu0 = {k: systems.cpu_seconds(p) for k, p in pids.items() if p}
        split0 = systems.cpu_split(holdfast.pid) if holdfast is not None and holdfast.pid else None
        drain = max(c.patience + c.talk for c in workload) + 40
        driver = Driver(sim, watch, workload, [a.username for a in agents])
        t0 = time.monotonic()
        await driver.run(drain_timeout=drain)
        cpu = {k: systems.cpu_seconds(p) - cpu0[k] for k, p in pids.items() if p}
        counters = {}
        if holdfast is not None:
            counters = {k: v - counters0.get(k, 0.0) for k, v in holdfast.counters().items()}
            if split0 is not None and holdfast.pid:  # Holdfast's CPU: its own code and the kernel's
                user, kernel = systems.cpu_split(holdfast.pid)
                counters["cpu_user_ms"] = 1000 * (user - split0[0])
                counters["cpu_kernel_ms"] = 1000 * (kernel - split0[1])
        for p in (profiler, sut_profiler):
            if p is not None:
                p.stop()
        profiler = sut_profiler = None
        log.info(
            "%s load %s repeat %d: %.0f s, %d driver errors",
            system,
            load,
            repeat,
            time.monotonic() - t0,
            len(driver.errors),
        )
        for e in driver.errors[:5]:
            log.warning("driver error: %r", e)
        for rec in records.values():  # what a lost caller went through, to look it up in the logs
            if rec.failed or (rec.bridged_at is None and not rec.abandoned and rec.ended_at is not None):
                log.warning("lost caller %s: %r", workload[rec.index].caller_id, rec)
        return Run(
            load,
            repeat,
            system,
            duration,
            seed + repeat,
            figures(list(records.values()), [a.username for a in agents], cpu, counters),
            label,
        )
    finally:
        for p in (profiler, sut_profiler):
            if p is not None:
                p.stop()
        if sim is not None:
            await sim.close()  # hangs up whatever is still up
        if wari is not None:
            await wari.close()
        if holdfast is not None:
            holdfast.stop()
        sut.stop()
        sut.remove()


async def main_async(args: argparse.Namespace, on_run: Callable[[list[Run], list[str]], None]) -> list[str]:
    """Every run in turn; `on_run` gets the runs and failures so far after each (the page is rewritten
    each time, so a long benchmark stopped half-way still leaves its figures). Returns the failures."""
    failures: list[str] = []
    install = find_asterisk()
    ports = systems.Ports.pick()
    workdir = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    runs: list[Run] = list(args.earlier)
    try:
        for load in args.loads:
            agents = systems.make_agents(LOADS[load].agents)
            phonesim = systems.start_phonesim(install, ports, agents)
            try:
                first = 1 + max((r.repeat for r in runs if r.load == load), default=-1)
                for repeat in range(first, first + args.repeats):
                    order = args.variants if repeat % 2 == 0 else list(reversed(args.variants))
                    for system, label, tree, nice in order:
                        log.info("running %s %s, load %s, repeat %d", system, label, load, repeat)
                        try:
                            run = await one_run(
                                system,
                                load,
                                repeat,
                                args.duration,
                                args.seed,
                                install,
                                ports,
                                agents,
                                workdir,
                                phonesim,
                                label,
                                args.profile,
                                args.perf,
                                tree,
                                nice,
                            )
                        except Exception as error:  # one broken run must not lose the others' figures
                            log.exception("%s %s load %s repeat %d failed", system, label, load, repeat)
                            failures.append(f"{system} {label}, load {load}, repeat {repeat}: {error!r}")
                            on_run(runs, failures)
                            continue
                        runs.append(run)
                        on_run(runs, failures)
                        f = run.figures
                        log.info(
                            "  calls %d bridged %d abandoned %d lost %d stuck %d dispatch n=%d cpu %s",
                            f.calls,
                            f.bridged,
                            f.abandoned,
                            f.lost,
                            f.stuck,
                            len(f.dispatch),
                            {k: round(v, 2) for k, v in f.cpu.items()},
                        )
                        if f.counters and f.calls:
                            log.info("  per call: %s", {k: round(v / f.calls, 2) for k, v in f.counters.items()})
            finally:
                phonesim.stop()
                phonesim.remove()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log.info("kept %s", workdir)
    return failures


def variants(args: argparse.Namespace) -> list[tuple[str, str, Path | None, int]]:
    """What each repeat runs, in order: (system, label, Holdfast tree, Holdfast's nice). With
    --base-tree the older Holdfast runs right after this one, so both meet the machine in the same
    state."""
    out: list[tuple[str, str, Path | None, int]] = []
    for system in args.systems:
        if system != "holdfast":
            out.append((system, "", None, 0))
            continue
        out.append((system, args.label, args.holdfast_tree, args.holdfast_nice))
        if args.base_tree is not None:
            out.append((system, args.base_label, args.base_tree, args.base_nice))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.queue", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smoke run: load a, 30 s of arrivals, 1 repeat")
    p.add_argument("--loads", default="a,b,c", help="comma-separated loads among a, b, c")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--duration", type=float, default=150.0, help="seconds of Poisson arrivals")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--systems", default="app_queue,holdfast")
    p.add_argument("--out", default="docs/bench-queue.md")
    p.add_argument("--notes", default="", help="text for the page (what was run and why)")
    p.add_argument(
        "--append",
        action="store_true",
        help="add these runs (as further repeats) to the page's existing .json instead of starting afresh",
    )
    p.add_argument("--keep", action="store_true", help="keep the Holdfast working directory")
    p.add_argument(
        "--label",
        default="",
        help="name for this invocation's Holdfast runs (e.g. the code version); the page shows each label apart",
    )
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="directory for a py-spy profile of each Holdfast run (needs root); see bench/queue/profile.py",
    )
    p.add_argument(
        "--perf", type=Path, default=None, help="directory for a `perf record -g` of each run's SUT Asterisk (root)"
    )
    p.add_argument(
        "--holdfast-tree",
        type=Path,
        default=None,
        help="run the Holdfast of this checkout (e.g. `git worktree add /tmp/old <commit>`) instead of this one",
    )
    p.add_argument(
        "--base-tree",
        type=Path,
        default=None,
        help="also run the Holdfast of this checkout in every repeat, beside this one (before/after in the same "
        "run, same machine state); its column is labelled --base-label",
    )
    p.add_argument("--base-label", default="before", help="label of the --base-tree runs")
    p.add_argument("--holdfast-log-level", default="warning", help="log level of the Holdfast process (see --keep)")
    p.add_argument(
        "--holdfast-nice", type=int, default=0, help="the Holdfast process's CPU priority (systems.prioritise; root)"
    )
    p.add_argument("--base-nice", type=int, default=0, help="the --base-tree Holdfast's CPU priority")
    args = p.parse_args(argv)
    systems.HOLDFAST_LOG_LEVEL = args.holdfast_log_level
    if args.quick:
        args.loads, args.repeats, args.duration = "a", 1, 30.0
    args.loads = [x.strip() for x in args.loads.split(",") if x.strip()]
    args.systems = [x.strip() for x in args.systems.split(",") if x.strip()]
    args.variants = variants(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "-m", "bench.queue", *given])
    args.earlier = []
    if args.append and Path(args.out).with_suffix(".json").exists():
        args.earlier, first_command, first_notes = read(Path(args.out))
        args.notes = args.notes or first_notes
        command = f"{first_command}`, then `{command}"

    def on_run(runs: list[Run], failures: list[str]) -> None:
        notes = args.notes
        if failures:
            notes += "\n\nRuns that failed (no figures): " + "; ".join(failures)
        write(runs, Path(args.out), command, notes)

    failures = asyncio.run(main_async(args, on_run))
    print(Path(args.out).read_text())
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
