"""docs/bench-amd.md from the bench's results: per tuning, how persons and machines were classed and
how long AMD() took; then every greeting's verdict under every tuning."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from bench.machine import machine


class _Result(Protocol):
    tuning: str
    greeting: str
    truth: str
    noisy: bool
    status: str
    cause: str
    seconds: float | None
    repeat: int


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} s"


def _share(n: int, d: int) -> str:
    return "-" if d == 0 else f"{n}/{d} ({100 * n / d:.0f} %)"


def summary(results: Sequence[_Result]) -> dict[str, Any]:
    persons = [r for r in results if r.truth == "person" and r.status != "ERROR"]
    machines = [r for r in results if r.truth == "machine" and r.status != "ERROR"]
    done = persons + machines
    times = [r.seconds for r in done if r.seconds is not None]
    return {
        "persons": len(persons),
        "machines": len(machines),
        "errors": sum(r.status == "ERROR" for r in results),
        "person_as_machine": sum(r.status == "MACHINE" for r in persons),
        "person_notsure": sum(r.status == "NOTSURE" for r in persons),
        "machine_as_person": sum(r.status == "HUMAN" for r in machines),
        "machine_notsure": sum(r.status == "NOTSURE" for r in machines),
        "exact": sum((r.truth, r.status) in {("person", "HUMAN"), ("machine", "MACHINE")} for r in done),
        # what the service does with it: only MACHINE is a machine; HUMAN and NOTSURE get an agent
        "acted_right": sum((r.status == "MACHINE") == (r.truth == "machine") for r in done),
        "notsure": sum(r.status == "NOTSURE" for r in done),
        "p50": percentile(times, 50),
        "p95": percentile(times, 95),
        "person_p50": percentile([r.seconds for r in persons if r.seconds is not None], 50),
        "person_p95": percentile([r.seconds for r in persons if r.seconds is not None], 95),
        "machine_p50": percentile([r.seconds for r in machines if r.seconds is not None], 50),
        "machine_p95": percentile([r.seconds for r in machines if r.seconds is not None], 95),
    }


def write(
    results: Sequence[_Result],
    tunings: dict[str, tuple[str, dict[str, Any]]],
    concurrency: int,
    repeats: int,
    docs: Path | None,
    run_at: datetime | None = None,
) -> str:
    from app.config.amd import AmdTuning

    lines = [
        "# Answering-machine detection: AMD() on synthetic greetings",
        "",
        f"Run {run_at or datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make bench-amd` (bench/amd) on {machine()}.",
        "The machine was shared with other helpers' tests and benchmarks while this ran (2 cores for all):",
        "times to decision are AMD()'s own listening time plus whatever scheduling delay that load added.",
        "",
        "**How.** Each greeting of bench/amd/greetings/ (made with espeak-ng and sox by",
        "bench/amd/make-greetings.sh from bench/amd/greetings.txt) is played by the phone simulator Asterisk",
        "into a real call from the SUT Asterisk (asterisk-conf/ as deployed, amd.conf as shipped). The bench does",
        "what Holdfast does with a campaign that has `amd: true`: the campaign's `amd_tuning` goes on the",
        "originate as HOLDFAST_AMD_ARGS, the answered call is continued to `[holdfast-amd]`, whose",
        "`AMD(${HOLDFAST_AMD_ARGS})` hands the verdict back as `Stasis(holdfast,amd,<status>,<cause>)`.",
        "Time to decision is from the answer's StasisStart to the verdict's, by Asterisk's event timestamps.",
        f"Every greeting {repeats} times per tuning, {concurrency} calls at a time. Persons say one to five words",
        "after 0.3-1.5 s, some with a pause, then wait in silence; machines speak 2.5-12 s, most with a tone",
        "at the end; `_noise` variants lay a line hiss at -50 dBFS under the greeting and after it.",
        "",
        "**Reading.** A person classed MACHINE is a *false positive*: the service hangs up on (or leaves the",
        "machine message with) a live person, which the pacing counts as an abandoned call. NOTSURE gets an",
        "agent like HUMAN, so *acted right* counts NOTSURE as person; *exact* counts it as wrong. The",
        "false-positive share is the abandonment detection alone adds per live answer, against a 3 % cap; but",
        "these greetings are a test set, not a population: how many words real people answer with decides",
        "the real share. A machine classed HUMAN costs an agent a few seconds and the attempt's retry.",
        "",
        "| tuning | amd_tuning | persons → MACHINE (false positive) | machines → HUMAN (missed) | NOTSURE "
        "| exact | acted right | decision p50 / p95 | persons p50 / p95 | machines p50 / p95 | failed calls |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    sums: dict[str, dict[str, Any]] = {}
    for name, (what, tuning) in tunings.items():
        rs = [r for r in results if r.tuning == name]
        s = sums[name] = summary(rs)
        n = s["persons"] + s["machines"]
        args = AmdTuning.model_validate(tuning).dial_arguments()
        yaml = ", ".join(f"{k}: {v}" for k, v in tuning.items()) or "(none)"
        lines.append(
            f"| {name} | {yaml} | {_share(s['person_as_machine'], s['persons'])} "
            f"| {_share(s['machine_as_person'], s['machines'])} | {_share(s['notsure'], n)} "
            f"| {_share(s['exact'], n)} | {_share(s['acted_right'], n)} | {_s(s['p50'])} / {_s(s['p95'])} "
            f"| {_s(s['person_p50'])} / {_s(s['person_p95'])} | {_s(s['machine_p50'])} / {_s(s['machine_p95'])} "
            f"| {s['errors']} |"
        )
        sums[name]["args"] = args
        sums[name]["what"] = what
    lines += ["", "Tunings: " + "; ".join(f"**{k}**: {v['what']} (`AMD({v['args']})`)" for k, v in sums.items()), ""]
    lines += ["## Which greetings each tuning gets wrong", ""]
    for name in tunings:
        rs = [r for r in results if r.tuning == name and r.status != "ERROR"]
        fp = sorted({r.greeting for r in rs if r.truth == "person" and r.status == "MACHINE"})
        fn = sorted({r.greeting for r in rs if r.truth == "machine" and r.status != "MACHINE"})
        lines.append(
            f"- **{name}**: persons classed MACHINE: {', '.join(fp) or 'none'}; "
            f"machines not classed MACHINE: {', '.join(fn) or 'none'}."
        )
    flips = sorted(
        {
            (r.tuning, r.greeting)
            for r in results
            for o in results
            if (r.tuning, r.greeting) == (o.tuning, o.greeting) and r.repeat != o.repeat and r.status != o.status
        }
    )
    lines += [
        "",
        f"Repeats: {len(flips)} greeting/tuning pairs changed verdict between the {repeats} runs"
        + (": " + ", ".join(f"{t}/{g}" for t, g in flips) if flips else "")
        + (". The same audio gave the same verdict each time" if not flips else "")
        + ". Times vary with the load of the shared machine.",
        "",
    ]
    lines += ["## Every greeting", "", "Verdict, time to decision and AMD's cause per tuning (first run).", ""]
    lines.append("| greeting | length | " + " | ".join(tunings) + " |")
    lines.append("|---|---|" + "---|" * len(tunings))
    from bench.amd.catalogue import greetings

    for g in greetings():
        cells = []
        for name in tunings:
            found = sorted((r for r in results if r.tuning == name and r.greeting == g.name), key=lambda r: r.repeat)
            if not found:
                cells.append("-")
                continue
            r = found[0]
            right = (r.status == "MACHINE") == (g.truth == "machine")
            mark = "" if right else " ✗"
            cells.append(f"{r.status}{mark} {_s(r.seconds)} {r.cause}")
        lines.append(f"| {g.name} | {g.seconds:.1f} s | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    if docs is not None:
        (docs / "bench-amd.md").write_text(text)
    return text
