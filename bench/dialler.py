"""Outbound dialler benchmark: pacing policies side by side on the same seeded contacts.

Every run drives the real core (app/core) through app/sim/outbound.py: same seed, same contacts
(each contact's answer, delay and talk time come from its own seeded stream), so the policies
differ only in how many calls they place. Policies: progressive (power mode, one line per ready
agent), fixed ratios (power mode, R lines per ready agent), VICIdial-like adaptive dial level
(app/sim/pacers.py: AST_VDadapt's ADAPT_HARD_LIMIT, max level 3.0) and Holdfast's predictive
pacing (app/core/pacing.py). Figures per policy are means over seeds with 95 % t confidence
intervals; "worst seed" is the highest whole-run abandon rate of any seed (with runs of 8 h or
less, a rolling 24 h window holds the whole run, so that is the worst 24 h window).

Run: `python -m bench.dialler` (writes docs/bench-dialler.md and its plots), `--seeds N`,
`--jobs N`, `--quick` (5 seeds, prints only unless --out is given).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from app.sim.outbound import Change, Logoff, Mix, OutboundScenario, simulate_outbound
from bench.machine import machine

HOUR = 3600.0
ALL = ("progressive", "ratio:1.5", "ratio:2.0", "ratio:2.5", "ratio:3.0", "vicidial", "holdfast")
FEW = ("progressive", "ratio:2.5", "vicidial", "holdfast")
T975 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23}
METRICS = ("occupancy", "talk_min_per_agent_hour", "abandon", "abandon_worst_24h", "wait_p95", "dials_per_connect")


# Why the anchor stays short of 85 %: measured by bench/pacing_frontier.py (not rerun by this benchmark).
FRONTIER = (
    "Why the anchor stays short of 85 %: [bench-pacing-frontier.md](bench-pacing-frontier.md) (`make",
    "bench-pacing-frontier`, 2026-12-07: 8 seeds of 4 h per point, the greeting and AMD's silence",
    "modelled) holds the gain and sweeps it, so the curve the closed loop moves along shows. Holdfast's",
    "rule crosses 3 % abandoned at 81.6 % occupancy and 5 % at 83.2 %; gain 2, the highest swept, gives",
    "83.4 % at 5.4 %. Power mode's fixed ratios cross 3 % at 79.0 %. The same decision with the counts",
    "taken exactly (Poisson answers and call ends against the agents surely free, no normal",
    "approximation) lies on the same curve: 81.8 % at 3 %, so the approximation is not what costs",
    "occupancy. The rule binds mostly at the 10-12 s horizons, where the only agents sure to be free are",
    "those leaving wrap-up, against answers whose time a lognormal delay (cv 0.6) spreads over 4-17 s:",
    "the shortfall is that spread, not the talk time's. Telling the rule when every call will end (the",
    "frontier's \"oracle\" rule: each call's drawn talk time, which no dialler knows) leaves the curve",
    'where it is, 81.8 % at 3 %: no signal of calls about to end (an agent\'s "finishing" key, speech',
    "analytics) can buy this rule occupancy. Cutting the latest of those answers helps only a little:",
    "hanging up a dial still ringing after the 15 s minimum when its own risk is over 0.1 (simulated, the",
    'frontier\'s "cancel" rule) gives 82.5 % at 3 %, but cuts about 12 % of all dials at 15 s (missed',
    "calls on contacts' phones, to be retried) for 3 % more dials per connect. Not taken: under a point",
    "does not reach 85 %, and the cut calls are a nuisance a contact centre would answer for. Since",
    "2026-12-07 the model says HUMAN as AMD does, after the greeting and 0.8 s of silence, with the 2 s",
    "to an agent counted from the greeting's end (1.2 s from the verdict): that took about 1.2 points off",
    "every curve (the shipped rule crossed 3 % at 82.8 % when a person was decided at pick-up with the",
    "whole 2 s). Measured before that change and not rerun: lognormal talk times (cv 0.6 and 1.0), which",
    "tell more from how long a call has lasted, gave the same occupancy as exponential ones; a 15 s ring",
    "time for every dial gave 0.3 point for 15 % more dials; a risk weighted by when the new dial's",
    "answer would come, benefit-weighted allowances, an average (not marginal) risk budget, a 1.5 s",
    "connect allowance and faster pacing did no better than the shipped rule. The closed loop itself runs",
    "below the curve's 3 % point on purpose: every run starts with a fresh window (one dial per ready",
    "agent until about 34 live answers, about 0.5 point over 8 h) and keeps a wider margin until its",
    "window holds room for 15 abandons, which is what keeps every seed under the cap.",
)


@dataclass(frozen=True, slots=True)
class Case:
    key: str
    title: str
    scenario: OutboundScenario
    policies: tuple[str, ...]


def cases() -> list[Case]:
    anchor = OutboundScenario(name="anchor", agents=20, horizon=8 * HOUR, mix=Mix(0.25, 0.15, 0.05))
    short = replace(anchor, horizon=HOUR)  # the variations run 1 h: the wall time stays in minutes
    return [
        Case("anchor", "20 agents, 25 % live, 15 % machines, 120 s talk, 10 s wrap-up, 8 h", anchor, ALL),
        Case("agents5", "5 agents (else as the anchor), 1 h", replace(short, agents=5), FEW),
        Case(
            "agents100", "100 agents (else as the anchor), 20 min", replace(anchor, agents=100, horizon=HOUR / 3), FEW
        ),
        Case("live10", "20 agents, 10 % live answers, 1 h", replace(short, mix=Mix(0.10, 0.15, 0.05)), FEW),
        Case("live50", "20 agents, 50 % live answers, 1 h", replace(short, mix=Mix(0.50, 0.15, 0.05)), FEW),
        Case(
            "worse",
            "20 agents, the list gets worse after 30 min: 25 % -> 12 % live, 1 h",
            replace(short, changes=(Change(HOUR / 2, Mix(0.12, 0.20, 0.05)),)),
            FEW,
        ),
        Case(
            "logoff",
            "20 agents, 30 % of them log off after 30 min, 1 h",
            replace(short, logoffs=(Logoff(HOUR / 2, 0.3),)),
            FEW,
        ),
    ]


def run_one(job: tuple[str, OutboundScenario]) -> tuple[str, str, int, dict[str, float], list[dict[str, float]], float]:
    key, sc = job
    started = time.perf_counter()
    r = simulate_outbound(sc)
    return key, sc.policy, sc.seed, r.summary(), r.timeline, time.perf_counter() - started


def ci(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, 0.0
    t = T975.get(len(values) - 1, 2.09 if len(values) <= 21 else 1.96)
    return mean, t * statistics.stdev(values) / math.sqrt(len(values))


def fmt(values: list[float], pct: bool = False, digits: int = 1) -> str:
    mean, half = ci(values)
    if pct:
        return f"{100 * mean:.{digits}f} ± {100 * half:.{digits}f} %"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def render(results: dict[tuple[str, str], list[dict[str, float]]], seeds: int, wall: float, jobs: int) -> str:
    out = [
        "# Dialler benchmark: predictive pacing against progressive, fixed ratios and VICIdial-like",
        "",
        f"Machine: {machine()}. Wall time {wall:.0f} s with {jobs} processes. {seeds} seeds per policy and scenario;",
        "every policy meets the same contacts (same seed). Generated by `make bench-dialler`",
        "(`python -m bench.dialler`).",
        "",
        "Model (app/sim/outbound.py): lognormal answer delay (mean 10 s, cv 0.6), ring time 25 s, busy 5 %,",
        "machines judged by AMD 3 s after pick-up, exponential talk time (mean 120 s), 10 s wrap-up, auto-answering",
        "agents (0.5 s). A person says a greeting (lognormal, mean 1.5 s, cv 0.4: docs/bench-amd.md's HUMAN",
        "decision times on real Asterisk less the silence) and AMD says HUMAN 0.80-0.82 s after it ends (its",
        "after_greeting_silence, plus the part of a 20 ms frame it hears over, as docs/bench-amd.md measured);",
        "regulators count the 2 s to an agent from the greeting's end, so an agent has about 1.2 s from the",
        "verdict, and the pacer plans with the silences it measured. Abandoned = a live answer with no agent within",
        "2 s of its greeting's end (it hears the information message); waits are counted from the same instant.",
        "Occupancy = talk time / logged-in time; ceiling talk / (talk + wrap-up) = 92.3 %. Figures: mean ± 95 % CI",
        "over seeds; worst seed = the highest abandon rate of any seed over its whole run (a run of 8 h or less",
        "lies inside one rolling 24 h window, so this is the worst 24 h window; 30-day windows need longer runs).",
        "",
        "Policies: progressive = power mode, 1 line per ready agent; ratio:R = power mode, R lines per ready",
        "agent; vicidial = adaptive dial level as AST_VDadapt (ADAPT_HARD_LIMIT, intensity 0, max level 3.0,",
        "drop limit 3 %); holdfast = predictive mode (app/core/pacing.py), cap 3 %.",
        "",
        "How Holdfast paces: a new dial is placed while its own chance of being abandoned, from a normal",
        "approximation of live answers coming (waiting + ringing dials by age + new ones) against agents",
        "expected free (ready, wrap-up ending, calls ending given how long they have lasted) within horizons",
        "every 2 s up to the ring time, stays under gain x target. The gain is a closed loop on the measured",
        "outcomes (every served live answer raises it, every abandoned one lowers it). Room (cap x live",
        "answers less abandoned, in the tighter judged window, 24 h or 30 days) is how many more abandons stay",
        "under the cap, and the target closes the loop on it: 35 % of the cap in reserve with 3 abandons of",
        "room or less, down to 5 % with 15 or more, so a busy window runs near the cap and a short run or a",
        "small team keeps the wide margin. Below 3 abandons of room the target shrinks further, and below 1",
        "it dials one per ready agent. Every run here starts with a fresh window, so it dials one per ready",
        "agent until about 34 live answers were served: in short runs and small teams that costs occupancy",
        "(about 0.5 point over the anchor's 8 h, measured with the rule off), and it is what keeps every seed",
        "under the cap. After a restart the windows are seeded minute by minute from the event log's dial",
        "records, so they are the windows the campaign had (not a fresh one).",
        "",
    ]
    hf = results.get(("anchor", "holdfast"), [])
    if hf:
        occ = [r["occupancy"] for r in hf]
        over = sum(1 for r in hf if r["abandon_worst_24h"] > 0.03)
        small = results.get(("agents5", "holdfast"), [])
        out += [
            "## Goal check (issue 15)",
            "",
            f"- Anchor, holdfast: occupancy {fmt(occ, True)} (goal >= 85 %), abandoned "
            f"{fmt([r['abandon'] for r in hf], True, 2)} (goal <= 3 %), seeds over 3 % in their 24 h window: "
            f"{over} of {len(hf)} (goal 0).",
        ]
        if small:
            out.append(
                f"- 5 agents, holdfast: occupancy {fmt([r['occupancy'] for r in small], True)}, abandoned "
                f"{fmt([r['abandon'] for r in small], True, 2)}, worst seed "
                f"{100 * max(r['abandon_worst_24h'] for r in small):.2f} %."
            )
        out += _ratios(results, statistics.fmean(occ))
        runs = [(k, r) for (k, p), rows in results.items() if p == "holdfast" for r in rows]
        breaches = sorted({k for k, r in runs if r["abandon_worst_24h"] > 0.03})
        out.append(
            f"- Holdfast, every scenario: {sum(1 for _, r in runs if r['abandon_worst_24h'] > 0.03)} of {len(runs)} "
            f"seed runs over 3 % in their 24 h window{' (' + ', '.join(breaches) + ')' if breaches else ''}."
        )
        if statistics.fmean(occ) < 0.85:
            out += ["", *FRONTIER]
        out.append("")
    for case in cases():
        if not any(results.get((case.key, p)) for p in case.policies):
            continue  # left out of this run (--only)
        out += [f"## {case.key}: {case.title}", ""]
        out += [
            "| policy | occupancy | talk min / agent h | abandoned | worst seed | seeds over 3 % | "
            "wait for agent p95 (s) | dials per connect |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for policy in case.policies:
            rows = results.get((case.key, policy), [])
            if not rows:
                continue
            col = {m: [r[m] for r in rows] for m in METRICS}
            over = sum(1 for r in rows if r["abandon_worst_24h"] > 0.03)
            out.append(
                f"| {policy} | {fmt(col['occupancy'], True)} | {fmt(col['talk_min_per_agent_hour'])} | "
                f"{fmt(col['abandon'], True, 2)} | {100 * max(col['abandon_worst_24h']):.2f} % | "
                f"{over} / {len(rows)} | "
                f"{fmt(col['wait_p95'], digits=2)} | {fmt(col['dials_per_connect'], digits=2)} |"
            )
        out.append("")
    return "\n".join(out)


def _ratios(results: dict[tuple[str, str], list[dict[str, float]]], holdfast: float) -> list[str]:
    """Holdfast's anchor occupancy against the baselines of the same run: progressive, the best fixed
    ratio with no seed over 3 %, VICIdial-like."""

    def mean_occ(policy: str) -> float | None:
        rows = results.get(("anchor", policy), [])
        return statistics.fmean(r["occupancy"] for r in rows) if rows else None

    under = [
        p
        for p in ALL
        if p.startswith("ratio:")
        and results.get(("anchor", p))
        and all(r["abandon_worst_24h"] <= 0.03 for r in results[("anchor", p)])
    ]
    best = max(under, key=lambda p: mean_occ(p) or 0.0) if under else None
    parts = []
    for label, policy in (
        ("progressive", "progressive"),
        (f"best fixed ratio under 3 % ({best})", best),
        ("VICIdial-like", "vicidial"),
    ):
        occ = mean_occ(policy) if policy else None
        if occ:
            parts.append(f"{holdfast / occ:.2f}x {label} ({100 * occ:.1f} %)")
    return [f"- Anchor occupancy, Holdfast against the same run's baselines: {', '.join(parts)}."] if parts else []


def plots(
    results: dict[tuple[str, str], list[dict[str, float]]], timelines: dict[int, list[dict[str, float]]], out: Path
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    fig, ax = plt.subplots(figsize=(8, 5))
    for policy in ALL:
        rows = results.get(("anchor", policy), [])
        if not rows:
            continue
        occ = [100 * r["occupancy"] for r in rows]
        ab = [100 * r["abandon"] for r in rows]
        ax.scatter(ab, occ, s=12, alpha=0.5)
        ax.errorbar(
            statistics.fmean(ab),
            statistics.fmean(occ),
            xerr=ci(ab)[1],
            yerr=ci(occ)[1],
            fmt="o",
            capsize=3,
            label=policy,
        )
    ax.axvline(3.0, color="red", linestyle="--", linewidth=1, label="cap 3 %")
    ax.axhline(92.3, color="grey", linestyle=":", linewidth=1, label="ceiling 92.3 %")
    ax.set_xlabel("abandoned (% of live answers), per seed and mean ± 95 % CI")
    ax.set_ylabel("occupancy (%)")
    ax.set_title("20 agents, 25 % live, 8 h: occupancy against abandonment")
    ax.legend(fontsize=8, loc="center left")
    path = out.with_name(out.stem + "-anchor.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for _seed, tl in sorted(timelines.items()):
        t = [x["t"] / HOUR for x in tl if x["lives"] > 0]
        rate = [100 * x["abandoned"] / x["lives"] for x in tl if x["lives"] > 0]
        axes[0].plot(t, rate, linewidth=0.8, alpha=0.7)
        axes[1].plot([x["t"] / HOUR for x in tl], [x["gain"] for x in tl], linewidth=0.8, alpha=0.7)
    axes[0].axhline(3.0, color="red", linestyle="--", linewidth=1)
    axes[0].set_ylim(0, 6)
    axes[0].set_xlabel("hours into the shift")
    axes[0].set_ylabel("abandoned so far (% of live answers)")
    axes[0].set_title("Holdfast, anchor: the 24 h window's rate as the shift goes")
    axes[1].set_xlabel("hours into the shift")
    axes[1].set_ylabel("learned gain")
    axes[1].set_title("Holdfast's closed loop")
    path = out.with_name(out.stem + "-loop.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dialler", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--quick", action="store_true", help="5 seeds; print only unless --out")
    parser.add_argument("--out", help="markdown file (default docs/bench-dialler.md)")
    parser.add_argument("--only", help="comma-separated case keys")
    parser.add_argument("--render", metavar="JSON", help="only write the document again from a run's JSON")
    args = parser.parse_args(argv)
    seeds = 5 if args.quick else args.seeds
    out = Path(args.out) if args.out else (None if args.quick else Path("docs/bench-dialler.md"))
    if args.render:
        return _render_again(Path(args.render), out or Path("docs/bench-dialler.md"))
    only = set(args.only.split(",")) if args.only else None
    jobs = [
        (case.key, replace(case.scenario, policy=policy, seed=seed))
        for case in cases()
        if only is None or case.key in only
        for seed in range(1, seeds + 1)
        for policy in case.policies
    ]
    jobs.sort(key=lambda j: -(j[1].agents * j[1].horizon))  # longest first: the pool ends together
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    timelines: dict[int, list[dict[str, float]]] = {}
    started = time.perf_counter()
    with multiprocessing.Pool(args.jobs) as pool:
        for done, (key, policy, seed, summary, timeline, _secs) in enumerate(pool.imap_unordered(run_one, jobs), 1):
            results.setdefault((key, policy), []).append(summary)
            if key == "anchor" and policy == "holdfast":
                timelines[seed] = timeline
            print(f"{done}/{len(jobs)} runs, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    wall = time.perf_counter() - started
    text = render(results, seeds, wall, args.jobs)
    if out is None:
        print(text)
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = {
        "seeds": seeds,
        "wall": wall,
        "jobs": args.jobs,
        "results": [[k, p, rows] for (k, p), rows in results.items()],
        "timelines": {str(k): v for k, v in timelines.items()},
    }
    out.with_suffix(".json").write_text(json.dumps(raw))
    images = plots(results, timelines, out) if timelines else []
    text += "\n## Plots\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in images) + "\n"
    out.write_text(text)
    print(text)
    print(f"wrote {out} and {', '.join(str(p) for p in images)}")
    return 0


def _render_again(source: Path, out: Path) -> int:
    """The document and plots from a run's JSON (the figures are that run's, not new ones)."""
    raw = json.loads(source.read_text())
    results = {(k, p): rows for k, p, rows in raw["results"]}
    timelines = {int(k): v for k, v in raw["timelines"].items()}
    text = render(results, raw["seeds"], raw["wall"], raw["jobs"])
    images = plots(results, timelines, out) if timelines else []
    text += "\n## Plots\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in images) + "\n"
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
