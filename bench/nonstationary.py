"""Non-stationary wait-estimate scenarios: something changes at a known time; how fast does the
estimator track it?

Each scenario runs a warm-up (not judged), one hour of steady traffic, then a change at CHANGE_AT:
handle time +50 % (s=50 and s=10) or -30 %, 30 % of the agents logging out for good, patience
halved, a 20-minute burst of impatient callers (patience / 3, then back), and a morning ramp (the
arrival rate rising from 0.3 to 1.2 times the base over two hours). Callers who find every agent
busy are judged as in the stationary benchmark, now per window of arrival time relative to the
change (the hour before, 0-30 min after, 30-60, ...). Full information knows the true CURRENT mu,
theta and agents present (it switches at the change instant), so a ratio near 1 means the
estimator has caught up. The ratio of RMSEs is computed per replication and window, then
averaged with a 95 % t interval, as in bench/wait_estimate.py.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.estimator import ErlangAEstimator
from app.sim.predictors import FullInformation
from app.sim.scenario import Absence, Dist, Ramp, Scenario, Shift
from app.sim.simulator import Simulator

MEAN_HANDLE = 240.0
WARMUP = 2 * 3600.0
CHANGE_AT = WARMUP + 3600.0
AFTER = 3 * 3600.0  # simulated time after the change
# windows of arrival time relative to the change, minutes: (start, end)
WINDOWS: tuple[tuple[float, float], ...] = ((-60, 0), (0, 30), (30, 60), (60, 90), (90, 120), (120, 180))
BIN_MINUTES = 10.0  # the plot's bins


@dataclass(frozen=True, slots=True)
class Drift:
    key: str
    label: str
    scenario: Scenario


def _base(key: str, agents: int, rho: float, **kw: object) -> Scenario:
    lam = rho * agents / MEAN_HANDLE
    return Scenario(
        name=key,
        agents=agents,
        calls_per_hour=lam * 3600,
        horizon=CHANGE_AT + AFTER,
        warmup=WARMUP,
        handle_time=Dist("exponential", MEAN_HANDLE),
        patience=Dist("exponential", MEAN_HANDLE),  # theta / mu = 1
        sample_every=600.0,
    ).with_(**kw)


def drifts() -> list[Drift]:
    return [
        Drift(
            "handle+50%-s50",
            "handle time +50 %, s=50, rho 0.9 -> 1.35",
            _base("handle+50%-s50", 50, 0.9, shifts=(Shift(CHANGE_AT, handle=1.5),)),
        ),
        Drift(
            "handle+50%-s10",
            "handle time +50 %, s=10, rho 0.9 -> 1.35",
            _base("handle+50%-s10", 10, 0.9, shifts=(Shift(CHANGE_AT, handle=1.5),)),
        ),
        Drift(
            "handle-30%-s50",
            "handle time -30 %, s=50, rho 1.2 -> 0.84",
            _base("handle-30%-s50", 50, 1.2, shifts=(Shift(CHANGE_AT, handle=0.7),)),
        ),
        Drift(
            "staffing-30%-s50",
            "30 % of agents log out for good, s=50 -> 35, rho 0.9 -> 1.29",
            _base("staffing-30%-s50", 50, 0.9, absences=(Absence(CHANGE_AT, 10 * AFTER, 0.3),)),
        ),
        Drift(
            "patience/2-s50",
            "mean patience halved, s=50, rho 1.1",
            _base("patience/2-s50", 50, 1.1, shifts=(Shift(CHANGE_AT, patience=0.5),)),
        ),
        Drift(
            "abandon-burst-s50",
            "patience / 3 for 20 min then back, s=50, rho 1.1",
            _base("abandon-burst-s50", 50, 1.1, shifts=(Shift(CHANGE_AT, patience=1 / 3, until=CHANGE_AT + 1200.0),)),
        ),
        Drift(
            "morning-ramp-s50",
            "arrivals 0.3x -> 1.2x over 2 h, s=50 (base rho 1)",
            _base("morning-ramp-s50", 50, 0.3, ramps=(Ramp(CHANGE_AT, 7200.0, 4.0),)),
        ),
    ]


@dataclass(frozen=True, slots=True)
class DriftRep:
    key: str
    rep: int
    arrivals: int
    # per window: (judged, rmse hf, rmse fi, bias hf, bias fi), relative to the window's mean potential wait
    windows: tuple[tuple[int, float, float, float, float], ...]
    # per plot bin (minutes since change): sums (n, sum actual, sum e_hf^2, sum e_fi^2, sum e_hf, sum e_fi)
    bins: dict[int, tuple[float, float, float, float, float, float]]
    handle_resets: int
    patience_resets: int
    seconds: float


def run_drift(job: tuple[Drift, int]) -> DriftRep:
    import time

    drift, rep = job
    sc = drift.scenario.with_(seed=1000 * rep + 7)
    assert sc.patience is not None
    full = FullInformation(
        mu=1.0 / sc.mean_service,
        theta=sc.patience.rate,
        handle_factor=sc.handle_factor,
        patience_factor=sc.patience_factor,
    )
    estimator = ErlangAEstimator()
    started = time.perf_counter()
    result = Simulator(sc, [full], estimator=estimator).run()
    elapsed = time.perf_counter() - started
    callers = [x for x in result.callers if x.arrival >= sc.warmup]
    judged = [x for x in callers if x.busy_on_arrival and x.potential_wait is not None]
    windows = []
    for lo, hi in WINDOWS:
        inside = [x for x in judged if lo * 60 <= x.arrival - CHANGE_AT < hi * 60]
        n = len(inside)
        if n == 0:
            windows.append((0, math.nan, math.nan, math.nan, math.nan))
            continue
        actual = [x.potential_wait or 0.0 for x in inside]
        mean = sum(actual) / n
        e_hf = [x.estimate - a for x, a in zip(inside, actual, strict=True)]
        e_fi = [x.predictions[0] - a for x, a in zip(inside, actual, strict=True)]
        windows.append(
            (
                n,
                math.sqrt(sum(e * e for e in e_hf) / n) / mean,
                math.sqrt(sum(e * e for e in e_fi) / n) / mean,
                sum(e_hf) / n / mean,
                sum(e_fi) / n / mean,
            )
        )
    bins: dict[int, tuple[float, float, float, float, float, float]] = {}
    for x in judged:
        k = math.floor((x.arrival - CHANGE_AT) / 60.0 / BIN_MINUTES)
        a = x.potential_wait or 0.0
        eh, ef = x.estimate - a, x.predictions[0] - a
        old = bins.get(k, (0.0, 0.0, 0.0, 0.0, 0.0, 0.0))
        bins[k] = (old[0] + 1, old[1] + a, old[2] + eh * eh, old[3] + ef * ef, old[4] + eh, old[5] + ef)
    handle_resets, patience_resets = estimator.changes_detected("sim")
    return DriftRep(drift.key, rep, len(callers), tuple(windows), bins, handle_resets, patience_resets, elapsed)


def _ci(values: Iterable[float], t975: dict[int, float]) -> tuple[float, float]:
    xs = [v for v in values if not math.isnan(v)]
    if not xs:
        return math.nan, math.nan
    mean = statistics.fmean(xs)
    if len(xs) < 2:
        return mean, math.nan
    return mean, t975.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / math.sqrt(len(xs))


def _fmt(pair: tuple[float, float], digits: int = 2, scale: float = 1.0) -> str:
    mean, half = pair
    if math.isnan(mean):
        return "-"
    if math.isnan(half):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {half * scale:.{digits}f}"


def window_ratio(reps: Sequence[DriftRep], w: int, t975: dict[int, float]) -> tuple[float, float]:
    return _ci((r.windows[w][1] / r.windows[w][2] for r in reps if r.windows[w][0] > 0 and r.windows[w][2] > 0), t975)


def report(all_drifts: list[Drift], results: list[DriftRep], reps: int, t975: dict[int, float], plot: str) -> str:
    by_key: dict[str, list[DriftRep]] = {}
    for r in results:
        by_key.setdefault(r.key, []).append(r)
    heads = [f"{lo:g}..{hi:g} min" for lo, hi in WINDOWS]
    lines = [
        "## Non-stationary scenarios: tracking a change",
        "",
        __doc__.split("\n\n", 1)[1].replace("\n", " ").strip(),
        f" Change at {CHANGE_AT / 3600:g} h (after a {WARMUP / 3600:g} h warm-up), {AFTER / 3600:g} h simulated after"
        f" it, {reps} replications per scenario.",
        "",
        "### Holdfast / full information RMSE, per window of arrival time relative to the change",
        "",
        "| scenario | " + " | ".join(heads) + " | resets hf/run (handle, patience) |",
        "| --- | " + " | ".join("---:" for _ in heads) + " | ---: |",
    ]
    goal_misses: list[str] = []
    for d in all_drifts:
        rs = by_key.get(d.key)
        if not rs:
            continue
        cells = [_fmt(window_ratio(rs, w, t975), 3) for w in range(len(WINDOWS))]
        hr = statistics.fmean(r.handle_resets for r in rs)
        pr = statistics.fmean(r.patience_resets for r in rs)
        resets = f"{hr:.1f}, {pr:.1f}"
        lines.append(f"| {d.key} | " + " | ".join(cells) + f" | {resets} |")
        for w, (lo, _) in enumerate(WINDOWS):
            if lo >= 30 and window_ratio(rs, w, t975)[0] > 1.05:
                goal_misses.append(f"{d.key} {heads[w]}")
    lines += [
        "",
        "### Bias (mean error / mean potential wait), Holdfast | full information, and judged callers per run",
        "",
        "| scenario | " + " | ".join(heads) + " |",
        "| --- | " + " | ".join("---:" for _ in heads) + " |",
    ]
    for d in all_drifts:
        rs = by_key.get(d.key)
        if not rs:
            continue
        cells = []
        for w in range(len(WINDOWS)):
            hf = _ci((r.windows[w][3] for r in rs if r.windows[w][0] > 0), t975)[0]
            fi = _ci((r.windows[w][4] for r in rs if r.windows[w][0] > 0), t975)[0]
            n = statistics.fmean(r.windows[w][0] for r in rs)
            cells.append("-" if math.isnan(hf) else f"{100 * hf:+.1f} % \\| {100 * fi:+.1f} % ({n:.0f})")
        lines.append(f"| {d.key} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "* Goal (≤ 1.05 x full information from 30 minutes after any change on, i.e. every window from"
        " 30 min): " + ("met in every scenario." if not goal_misses else "missed in " + ", ".join(goal_misses) + "."),
        "* Scenario descriptions: " + "; ".join(f"**{d.key}**: {d.label}" for d in all_drifts if d.key in by_key) + ".",
    ]
    if plot:
        lines += ["", f"![tracking error over time]({plot})", ""]
    lines.append("")
    return "\n".join(lines)


def write_plot(all_drifts: list[Drift], results: list[DriftRep], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [d for d in all_drifts if any(r.key == d.key for r in results)]
    cols = 2
    rows = max(1, math.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.8 * rows), squeeze=False, sharex=True)
    for ax, d in zip((a for row in axes for a in row), shown, strict=False):
        pooled: dict[int, list[float]] = {}
        for r in results:
            if r.key != d.key:
                continue
            for k, v in r.bins.items():
                acc = pooled.setdefault(k, [0.0] * 6)
                for i in range(6):
                    acc[i] += v[i]
        ks = sorted(k for k in pooled if pooled[k][0] >= 5)
        t = [(k + 0.5) * BIN_MINUTES for k in ks]
        rmse_hf = [math.sqrt(pooled[k][2] / pooled[k][0]) / (pooled[k][1] / pooled[k][0]) for k in ks]
        rmse_fi = [math.sqrt(pooled[k][3] / pooled[k][0]) / (pooled[k][1] / pooled[k][0]) for k in ks]
        bias_hf = [pooled[k][4] / pooled[k][1] for k in ks]
        ax.plot(t, rmse_hf, color="tab:red", lw=1.3, label="Holdfast relative RMSE")
        ax.plot(t, rmse_fi, color="black", lw=1.0, label="full information relative RMSE")
        ax.plot(t, bias_hf, color="tab:red", lw=1.0, ls="--", label="Holdfast relative bias")
        ax.axvline(0.0, color="gray", lw=0.8)
        ax.axhline(0.0, color="gray", lw=0.5)
        ax.set_title(d.key, fontsize=10)
        ax.set_ylabel("/ mean wait")
    for ax in axes[-1]:
        ax.set_xlabel("minutes since the change (arrival time)")
    for ax in [a for row in axes for a in row][len(shown) :]:
        ax.axis("off")
    axes[0][0].legend(loc="upper right", fontsize=7)
    fig.suptitle(f"Tracking error after a change ({BIN_MINUTES:g}-min bins, pooled over replications)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
