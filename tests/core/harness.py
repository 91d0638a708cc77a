"""A small driver for the engine in table tests: a clock, typed helpers and command filters."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

from app.core import commands as c
from app.core import events as ev
from app.core.engine import Engine
from app.core.settings import AgentSettings, CallbackSettings, CoreSettings, QueueSettings
from app.core.states import AttemptOutcome

T = TypeVar("T", bound=c.Command)

DK_MOBILE = "+4520123456"
DK_MOBILE_2 = "+4530123456"
DK_MOBILE_3 = "+4526123456"


def settings(
    agents: int = 1,
    queue: str = "support",
    callback: CallbackSettings | None = None,
    **queue_fields: Any,
) -> CoreSettings:
    q = QueueSettings(name=queue, callback=callback or CallbackSettings(), **queue_fields)
    return CoreSettings(
        queues=(q,),
        agents=tuple(AgentSettings(id=f"a{i + 1}", skills=((queue, 0),)) for i in range(agents)),
    )


def callback_settings(**fields: Any) -> CallbackSettings:
    return replace(CallbackSettings(), **fields)


class Harness:
    """`hear_confirmations`: a confirmation played with `hangup_after` ends the caller's line at
    once, as the shell's hang-up after the prompt would (a callback is dialled only after its
    caller's own call ended). Off for tests of what happens while the confirmation plays."""

    def __init__(self, core: CoreSettings, start: float = 1_000_000.0, hear_confirmations: bool = True) -> None:
        self.engine = Engine(core)
        self.now = start
        self.log: list[c.Command] = []
        self.hear_confirmations = hear_confirmations

    # --- time
    def at(self, seconds_later: float) -> Harness:
        self.now += seconds_later
        return self

    def tick(self, seconds_later: float = 0.0) -> list[c.Command]:
        self.now += seconds_later
        return self.send(ev.Tick(self.now))

    def run_until(self, when: float) -> list[c.Command]:
        """Deliver every deadline up to `when` as the shell would, then move the clock there."""
        out: list[c.Command] = []
        while (deadline := self.engine.next_deadline()) is not None and deadline <= when:
            self.now = max(self.now, deadline)
            out += self.send(ev.Tick(self.now))
        self.now = when
        out += self.send(ev.Tick(self.now))
        return out

    def send(self, event: ev.Event) -> list[c.Command]:
        out = self.engine.handle(event)
        self.log += out
        if self.hear_confirmations:
            for line in self._confirmation_lines(out):
                out = out + self.send(ev.CallerHungUp(self.now, line))
        return out

    def _confirmation_lines(self, out: list[c.Command]) -> list[str]:
        lines = {r.caller_line for r in self.engine.requests.values() if r.caller_line is not None}
        return [p.leg_id for p in out if isinstance(p, c.PlayPrompt) and p.hangup_after and p.leg_id in lines]

    # --- callers and agents
    def arrive(self, rid: str, number: str | None = DK_MOBILE, queue: str = "support", priority: int = 0):
        return self.send(ev.CallerArrived(self.now, rid, queue, number, priority))

    def ready(self, agent: str) -> list[c.Command]:
        return self.send(ev.AgentReady(self.now, agent))

    def dtmf(self, rid: str, digits: str) -> list[c.Command]:
        out: list[c.Command] = []
        for d in digits:
            out += self.send(ev.DtmfReceived(self.now, rid, d))
        return out

    def hang_up(self, rid: str) -> list[c.Command]:
        return self.send(ev.CallerHungUp(self.now, rid))

    def answer(self, leg: str, voicemail: bool = False) -> list[c.Command]:
        return self.send(ev.LegAnswered(self.now, leg, voicemail))

    def fail(self, leg: str, outcome: AttemptOutcome = AttemptOutcome.NO_ANSWER) -> list[c.Command]:
        return self.send(ev.LegFailed(self.now, leg, outcome))

    def leg_hung_up(self, leg: str) -> list[c.Command]:
        return self.send(ev.LegHungUp(self.now, leg))

    def prompt_done(self, leg: str) -> list[c.Command]:
        return self.send(ev.PromptFinished(self.now, leg))

    # --- reading commands
    @staticmethod
    def of(out: list[c.Command], kind: type[T]) -> list[T]:
        return [x for x in out if isinstance(x, kind)]

    @staticmethod
    def one(out: list[c.Command], kind: type[T]) -> T:
        found = [x for x in out if isinstance(x, kind)]
        assert len(found) == 1, f"expected one {kind.__name__}, got {found} in {out}"
        return found[0]

    def activities(self, kind: str, request_id: str | None = None) -> list[c.Activity]:
        return [
            a
            for a in self.of(self.log, c.Activity)
            if a.kind == kind and (request_id is None or a.request_id == request_id)
        ]

    def prompts(self, out: list[c.Command]) -> list[str]:
        return [item.name for p in self.of(out, c.PlayPrompt) for item in p.items]

    def serve_callback(self, rid: str, outcome: AttemptOutcome | None = None) -> tuple[str, str]:
        """Take a dispatched callback through agent answer and whisper; returns (agent leg, customer leg)."""
        ring = [x for x in self.log if isinstance(x, c.OriginateAgent) and x.request_id == rid][-1]
        self.answer(ring.leg_id)
        out = self.prompt_done(ring.leg_id)
        dial = self.one(out, c.OriginateCustomer)
        if outcome is not None:
            if outcome in (AttemptOutcome.ANSWERED, AttemptOutcome.VOICEMAIL):
                self.answer(dial.leg_id, voicemail=outcome is AttemptOutcome.VOICEMAIL)
            else:
                self.fail(dial.leg_id, outcome)
        return ring.leg_id, dial.leg_id
