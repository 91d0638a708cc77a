"""PNG plots of a run (matplotlib, from the optional `sim` extra): queue length and agents over
time, and predicted versus actual (potential) waits over time and as a scatter."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from app.sim.simulator import SimResult


def _binned(xs: list[float], ys: list[float], width: float) -> tuple[list[float], list[float]]:
    sums: dict[int, tuple[float, int]] = {}
    for x, y in zip(xs, ys, strict=True):
        k = int(x // width)
        total, count = sums.get(k, (0.0, 0))
        sums[k] = (total + y, count + 1)
    keys = sorted(sums)
    return [(k + 0.5) * width for k in keys], [sums[k][0] / sums[k][1] for k in keys]


def write_plots(result: SimResult, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    name = result.scenario.name
    written: list[Path] = []

    fig, ax = plt.subplots(figsize=(11, 4.5))
    hours = [s.t / 3600 for s in result.samples]
    ax.plot(hours, [s.waiting for s in result.samples], label="callers on hold", lw=1)
    ax.plot(hours, [s.callbacks for s in result.samples], label="callbacks holding a place", lw=1)
    ax.plot(hours, [s.busy for s in result.samples], label="agents busy", lw=1, alpha=0.7)
    ax.plot(hours, [s.present for s in result.samples], label="agents present", lw=1, ls="--")
    ax.set_xlabel("hours")
    ax.set_title(f"{name}: queue and agents")
    ax.legend(loc="upper right")
    path = directory / f"{name}-queue.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    judged = [x for x in result.callers if x.busy_on_arrival and x.potential_wait is not None and not x.callback]
    if judged:
        t = [x.arrival / 3600 for x in judged]
        actual = [x.potential_wait or 0.0 for x in judged]
        predicted = [x.estimate for x in judged]
        width = max((t[-1] - t[0]) / 150, 1 / 60)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [2, 1]})
        ax1.scatter(t, actual, s=2, alpha=0.25, color="tab:gray", label="potential wait (each caller)")
        ax1.plot(*_binned(t, actual, width), color="black", lw=1.2, label="potential wait (binned mean)")
        ax1.plot(*_binned(t, predicted, width), color="tab:red", lw=1.2, label="Holdfast estimate (binned mean)")
        ax1.set_xlabel("arrival, hours")
        ax1.set_ylabel("seconds")
        ax1.set_title("predicted vs actual wait over time")
        ax1.legend(loc="upper right")
        top = max(max(actual), max(predicted))
        ax2.scatter(predicted, actual, s=2, alpha=0.25)
        ax2.plot([0, top], [0, top], color="black", lw=0.8)
        ax2.set_xlabel("Holdfast estimate, s")
        ax2.set_ylabel("potential wait, s")
        ax2.set_title("callers who found every agent busy")
        path = directory / f"{name}-waits.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
