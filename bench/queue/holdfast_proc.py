"""`python -m bench.queue.holdfast_proc CONFIG SOUNDS_HOST_DIR SOUNDS_ASTERISK_DIR`: the Holdfast
service in its own process (so /proc gives its CPU alone), like `holdfast run` but with the shipped
prompts copied where the benchmark's (possibly chrooted) SUT Asterisk can read them."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from pathlib import Path

from app import logs
from app.config import load_config
from app.runner import serve
from app.telephony.prompts import PromptBook, install_prompts


class GcPauses:
    """The cyclic garbage collector's pauses per generation (count, total and longest, in ms),
    printed when the service stops: a long gen-2 collection stops the event loop like any other
    stall and shows in the latency tails."""

    def __init__(self) -> None:
        self.stats = {g: [0, 0.0, 0.0] for g in range(3)}
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        ms = 1000 * (time.perf_counter() - self._started)
        s = self.stats[info["generation"]]
        s[0], s[1], s[2] = s[0] + 1, s[1] + ms, max(s[2], ms)

    def report(self) -> str:
        return "gc pauses: " + "; ".join(
            f"gen{g} n={n} total={total:.0f}ms max={longest:.1f}ms" for g, (n, total, longest) in self.stats.items()
        )


def main(argv: list[str]) -> int:
    config_path, sounds_host, sounds_asterisk = argv
    config = load_config(Path(config_path))
    logs.configure(config.service.log_level)
    install_prompts(Path(sounds_host))
    prompts = PromptBook.from_config(
        config.prompts, config.service.language, Path(sounds_host), asterisk_path=sounds_asterisk
    )
    pauses = GcPauses()
    try:
        return asyncio.run(serve(config, prompts, config_path=Path(config_path)))
    finally:
        print(pauses.report(), file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
