"""`python -m bench.amd`: run the answering-machine detection bench; see bench/amd/__init__.py."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.config.amd import AmdTuning, amd_variables
from app.sandbox import AsteriskInstance, find_asterisk
from bench.amd import catalogue
from bench.amd.report import write
from bench.queue import systems
from bench.queue.phonesim_driver import AriError, MiniAri, PhoneSim

log = logging.getLogger("bench.amd")

DOCS = Path(__file__).resolve().parents[2] / "docs"

# The tunings compared: name -> (what it changes, the campaign's amd_tuning as YAML would give it).
TUNINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "default": ("amd.conf as shipped (Asterisk's defaults): at most 2 words, greeting at most 1.5 s", {}),
    "words3": (
        "at most 3 words, greeting at most 2 s",
        {"maximum_number_of_words": 3, "greeting": "2s"},
    ),
    "words4": (
        "at most 4 words, greeting at most 2.5 s, 1 s after-greeting silence",
        {"maximum_number_of_words": 4, "greeting": "2.5s", "after_greeting_silence": "1s"},
    ),
    "quick": (
        "0.5 s after-greeting silence, 2 s initial silence, 3.5 s total analysis",
        {"after_greeting_silence": "0.5s", "initial_silence": "2s", "total_analysis_time": "3.5s"},
    ),
}


@dataclass
class Result:
    tuning: str
    greeting: str
    truth: str
    noisy: bool
    status: str  # HUMAN, MACHINE, NOTSURE, HANGUP, or ERROR (the call failed: no verdict)
    cause: str
    seconds: float | None  # answer -> verdict, Asterisk's timestamps
    repeat: int = 0


def _stamp(ev: dict[str, Any]) -> float:
    return datetime.strptime(ev["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


class Bench:
    def __init__(self, sut: AsteriskInstance, phonesim: AsteriskInstance, ari: MiniAri, sim: PhoneSim) -> None:
        self.sut, self.phonesim, self.ari, self.sim = sut, phonesim, ari, sim
        self.counter = 0

    async def call(self, tuning: str, args: str, greeting: catalogue.Greeting) -> Result:
        self.counter += 1
        number = f"+4529{self.counter:07d}"
        channel = f"amdbench-{uuid.uuid4().hex[:12]}"
        mark = self.ari.mark()
        variables = amd_variables(True, args)
        await self.ari.post(
            "/channels",
            {"variables": variables} if variables else None,
            endpoint=f"PJSIP/{number}@trunk",
            app=self.ari.app,
            channelId=channel,
            timeout=20,
        )
        phone = await self.sim.wait_incoming(f"customer:{number}", timeout=20)
        try:
            await catalogue.answer_with(phone, self.phonesim, greeting)

            def on(ev: dict[str, Any], amd: bool) -> bool:
                args_ = ev.get("args") or []
                return (
                    ev.get("type") == "StasisStart"
                    and ev["channel"]["id"] == channel
                    and (bool(args_) and args_[0] == "amd") == amd
                )

            answered = await self.ari.wait_for(lambda e: on(e, False), 20, mark, "answer")
            await self.ari.post(f"/channels/{channel}/continue", context="holdfast-amd", extension="s", priority=1)
            verdict = await self.ari.wait_for(lambda e: on(e, True), 30, mark, "AMD verdict")
            _, status, cause = ([*verdict["args"], "", ""])[:3]
            return Result(
                tuning,
                greeting.name,
                greeting.truth,
                greeting.noisy,
                status,
                cause,
                round(_stamp(verdict) - _stamp(answered), 3),
            )
        finally:
            with contextlib.suppress(AriError):
                await self.ari.delete(f"/channels/{channel}")
            with contextlib.suppress(Exception):
                await phone.wait_hangup(10)


async def run(args: argparse.Namespace) -> list[Result]:
    install = find_asterisk()
    ports = systems.Ports.pick()
    phonesim = systems.start_phonesim(install, ports, [])
    sut = systems.start_sut("holdfast", install, ports, [])
    results: list[Result] = []
    try:
        catalogue.install(phonesim)
        user, password = sut.ari_auth
        ari = await MiniAri(sut.ari_url, user, password, systems.ARI_APP).connect()
        sim_user, sim_password = phonesim.ari_auth
        sim = await PhoneSim.connect(phonesim.ari_url, sim_user, sim_password)
        sim.set_behaviour("customer:*", "manual")
        bench = Bench(sut, phonesim, ari, sim)
        gate = asyncio.Semaphore(args.concurrency)
        greetings = catalogue.greetings()
        tunings = {k: v for k, v in TUNINGS.items() if not args.tunings or k in args.tunings}

        async def one(name: str, dial_args: str, g: catalogue.Greeting, repeat: int) -> Result:
            async with gate:
                try:
                    r = await bench.call(name, dial_args, g)
                except Exception as error:  # recorded, not hidden: the report counts failed calls
                    log.warning("call %s/%s failed: %s", name, g.name, error)
                    r = Result(name, g.name, g.truth, g.noisy, "ERROR", str(error)[:80], None)
                r.repeat = repeat
                log.info("%-8s %-28s %-8s %-24s %s", name, g.name, r.status, r.cause, r.seconds)
                return r

        started = time.monotonic()
        for name, (_, tuning) in tunings.items():
            dial_args = AmdTuning.model_validate(tuning).dial_arguments()
            for repeat in range(args.repeat):
                results += await asyncio.gather(*(one(name, dial_args, g, repeat) for g in greetings))
        log.info("%d calls in %.0f s", len(results), time.monotonic() - started)
        await sim.close()
        await ari.close()
    finally:
        sut.stop()
        phonesim.stop()
        sut.remove()
        phonesim.remove()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.amd", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=4, help="calls at once (default 4)")
    parser.add_argument("--repeat", type=int, default=2, help="calls per greeting and tuning (default 2)")
    parser.add_argument("--tunings", nargs="*", default=[], help=f"subset of {', '.join(TUNINGS)}")
    parser.add_argument(
        "--report-only", action="store_true", help="write docs/bench-amd.md again from docs/bench-amd.json"
    )
    parser.add_argument("--print-only", action="store_true", help="do not write docs/bench-amd.*")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    saved = DOCS / "bench-amd.json"
    if args.report_only:
        data = json.loads(saved.read_text())
        run_at = datetime.fromisoformat(data["run_at"])
        args.concurrency, args.repeat = data["concurrency"], data["repeat"]
        results = [Result(**r) for r in data["results"]]
    else:
        run_at = datetime.now(UTC)
        results = asyncio.run(run(args))
    ran = {r.tuning for r in results}
    tunings = {k: v for k, v in TUNINGS.items() if k in ran}
    text = write(results, tunings, args.concurrency, args.repeat, None if args.print_only else DOCS, run_at)
    print(text)
    if not args.print_only and not args.report_only:
        data = {"run_at": run_at.isoformat(), "concurrency": args.concurrency, "repeat": args.repeat}
        saved.write_text(json.dumps({**data, "results": [asdict(r) for r in results]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
