"""`python -m bench.scale.proc CONFIG SOUNDS_HOST_DIR SOUNDS_ASTERISK_DIR SAMPLES_FILE`: the Holdfast
service in its own process, as bench.queue.holdfast_proc runs it, plus a measurement of the engine's
event-handling latency the way the scale goal defines it: from the ARI event received (handed by the
websocket reader to the dispatcher) to the step's commands issued (handed to the executor, after the
step is stored: commit before act).

The service's own histogram (`holdfast_event_handling_seconds`) times `engine.handle` alone, so the
lane queueing, the store's commit and the committer's queue are not in it. The timestamps are taken
here by wrapping four methods of the running code (no change to app/): `Dispatcher.submit` (event
received), `TelephonyService.on_ari_event` (the event's handling starts: its receipt time is carried in
a context variable to everything it feeds), `TelephonyService.feed` (the engine's step; its commands
list is remembered) and `CommandExecutor.submit` (those commands issued). A step that does not come
from an ARI event (a timer tick, an API call) is recorded with its engine time only.

Each step is one line of SAMPLES_FILE: wall time, ARI event type (or "-"), engine seconds, received
-> issued seconds, received -> fed to the engine seconds (the lane's queue and whatever the handler
awaited first, e.g. a REST call; "nan" for both without an ARI event), and the engine step's CPU
seconds (thread time: the engine's own work, without the time the process waited for a CPU). The
file is flushed at least every 0.5 s so the benchmark can read it while the service runs.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from app.ari.dispatch import Dispatcher
from app.telephony.executor import CommandExecutor as Executor
from app.telephony.service import TelephonyService as HoldfastService

# id(event) -> (perf_counter at receipt, the event); popped when handling starts. The objects are
# kept so that an id is never reused while its entry waits (an event or step that goes no further
# would otherwise lend its entry to a later object with the same id).
_received: dict[int, tuple[float, Any]] = {}
_current: contextvars.ContextVar[tuple[str, float] | None] = contextvars.ContextVar("_current", default=None)
# id(commands) -> (type, received, fed, engine s, engine CPU s, the commands)
_pending: dict[int, tuple[str, float, float, float, float, Any]] = {}


class _Samples:
    def __init__(self, path: Path) -> None:
        self.out: TextIO = path.open("w", buffering=1 << 16)
        self.flushed = time.monotonic()

    def write(self, kind: str, engine: float, total: float, before: float, cpu: float) -> None:
        self.out.write(f"{time.time():.4f}\t{kind}\t{engine:.6f}\t{total:.6f}\t{before:.6f}\t{cpu:.6f}\n")
        now = time.monotonic()
        if now - self.flushed > 0.5:
            self.out.flush()
            self.flushed = now


def instrument(samples: _Samples) -> None:
    submit_event = Dispatcher.submit
    on_ari_event = HoldfastService.on_ari_event
    feed = HoldfastService.feed
    issue = Executor.submit

    def dispatcher_submit(self: Dispatcher, event: Any) -> None:
        _received[id(event)] = (time.perf_counter(), event)
        submit_event(self, event)

    async def service_on_ari_event(self: HoldfastService, event: Any, server: str = "") -> None:
        entry = _received.pop(id(event), None)
        token = _current.set((type(event).__name__, entry[0]) if entry is not None else None)
        try:
            await on_ari_event(self, event, server)
        finally:
            _current.reset(token)

    def service_feed(self: HoldfastService, event: Any) -> Any:
        started, cpu = time.perf_counter(), time.thread_time()
        commands = feed(self, event)
        engine, cpu = time.perf_counter() - started, time.thread_time() - cpu
        current = _current.get()
        if current is None:
            samples.write("-", engine, float("nan"), float("nan"), cpu)
        else:
            # A step with nothing to do never reaches the executor (service.feed skips it).
            _pending[id(commands)] = (current[0], current[1], started, engine, cpu, commands)
        return commands

    def executor_submit(self: Executor, commands: Any) -> None:
        issue(self, commands)
        step = _pending.pop(id(commands), None)
        if step is not None:
            samples.write(step[0], step[3], time.perf_counter() - step[1], step[2] - step[1], step[4])

    Dispatcher.submit = dispatcher_submit  # type: ignore[method-assign]
    HoldfastService.on_ari_event = service_on_ari_event  # type: ignore[method-assign]
    HoldfastService.feed = service_feed  # type: ignore[method-assign]
    Executor.submit = executor_submit  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    config_path, sounds_host, sounds_asterisk, samples_path = argv
    from app import logs
    from app.config import load_config
    from app.runner import serve
    from app.telephony.prompts import PromptBook, install_prompts

    samples = _Samples(Path(samples_path))
    instrument(samples)
    config = load_config(Path(config_path))
    logs.configure(config.service.log_level)
    install_prompts(Path(sounds_host))
    prompts = PromptBook.from_config(
        config.prompts, config.service.language, Path(sounds_host), asterisk_path=sounds_asterisk
    )
    try:
        return asyncio.run(serve(config, prompts, config_path=Path(config_path)))
    finally:
        samples.out.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
