"""The hundredth call, not only the first: one Engine driven for a long time with everything mixed.

A hypothesis state machine feeds one engine, through the model shell of tests/core/engine_shell.py,
for hundreds of steps: callers arrive, wait, hang up and press 1 for a callback; web callbacks;
callbacks dispatched (agent rung first, whisper, then the customer) and answered, busy, unanswered,
retried after quarantine, expired; agents log in and out, pause, miss rings, wrap up (and extend
it); a preview and a power campaign share the agents and the numbers with the callbacks; a
supervisor removes, moves and repositions waiting callbacks; time passes with every deadline
delivered as the shell's timer loop does; and the service restarts in the middle, its state
rebuilt from what the committer stored, the way app/telephony/service.py does, legs reconciled
(some channels survive, some vanished, or Asterisk restarted too).

After every step (each rule, and each timer tick inside one) `Shell.check` holds:
- an agent is on at most one request (and the two agree), and is never rung while a leg of theirs
  is up;
- a number is never dialled while another dial of it is up, callbacks and campaigns together;
  a contact is in one request at a time;
- every request ever seen as a callback is one now (waiting with an expiry ahead, in quarantine
  with its return ahead, or in service) or ended with an outcome; never silently gone, across the
  restart too;
- a ringing agent and a dialled customer always have their timeout ahead; a wrap-up always ends;
- no timer for a request that no longer exists;
- commands name requests and legs that exist: a ring or dial for a live request, a bridge of two
  legs that are up, prompts and hang-ups on known legs; no leg id handed out twice;
- every leg up is owned by a request, and every leg a request expects is up;
- a contact the store holds claimed is in the engine's window or dial;
- no freeze: an agent ready and reachable for a queue where a caller holds, or a callback is
  due, has been rung.
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from app.core import commands as c
from app.core import events as ev
from app.core.request import IN_SERVICE
from app.core.settings import (
    AgentSettings,
    CallbackSettings,
    CampaignMode,
    CampaignSettings,
    CoreSettings,
    QueueSettings,
    RetryIntervals,
)
from app.core.states import AttemptOutcome, RequestKind, RequestState
from tests.core.dialler_harness import contact
from tests.core.engine_shell import Shell
from tests.core.harness import DK_MOBILE, Harness

START = 1_780_000_000.0  # a Thursday
NUMBERS = tuple(f"+45201234{i:02d}" for i in range(1, 7))  # callers' and contacts' numbers overlap
AGENTS = ("a1", "a2", "a3", "a4")
CAMPAIGNS = ("prev", "pow")


def core() -> CoreSettings:
    cb = CallbackSettings(
        min_wait_before_offer=0.0,
        offer_threshold=0.0,
        allow_other_number=False,  # 1 books the caller's own number
        max_attempts=3,
        sec_between_retries=60.0,
        max_age=1800.0,
        customer_ring_timeout=30.0,
    )
    queues = (
        QueueSettings(name="support", ring_timeout=15.0, wrap_up=5.0, max_agent_refusals=2, callback=cb),
        # billing's callers choose in a menu: 1 their own number, 2 another one keyed in
        QueueSettings(name="billing", ring_timeout=15.0, wrap_up=0.0, callback=replace(cb, allow_other_number=True)),
        QueueSettings(name="sales", ring_timeout=15.0, wrap_up=5.0, callback=CallbackSettings(enabled=False)),
    )
    agents = (
        AgentSettings(id="a1", skills=(("support", 0), ("billing", 1), ("sales", 1))),
        AgentSettings(id="a2", skills=(("support", 0), ("sales", 0))),
        AgentSettings(id="a3", skills=(("sales", 0), ("support", 1))),
        AgentSettings(id="a4", skills=(("billing", 0), ("support", 2))),
    )
    retry = RetryIntervals(busy=120.0, no_answer=300.0, machine=600.0, failed=300.0)
    campaigns = (
        CampaignSettings(id="prev", queue="sales", review_time=3.0, max_attempts=2, retry=retry, window=4),
        CampaignSettings(
            id="pow", queue="sales", mode=CampaignMode.POWER, max_attempts=2, retry=retry, window=4, ring_time=20.0
        ),
    )
    return CoreSettings(queues=queues, agents=agents, campaigns=campaigns, menu_timeout=10.0)


def seed_contacts(shell: Shell) -> None:
    ids = iter(range(1, 100))  # contact ids are unique across campaigns, as the store's are
    for campaign, numbers in (("prev", NUMBERS[:4]), ("pow", NUMBERS[2:])):
        for number in numbers:
            k = contact(next(ids), number=number, campaign_id=campaign)
            shell.store.contacts[(campaign, k.contact_id)] = k


def _sorted(items: object) -> list[str]:
    return sorted(items)  # type: ignore[call-overload, no-any-return]


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.shell = Shell(core(), START)
        seed_contacts(self.shell)
        self.next_id = 0

    @initialize()
    def agents_start_the_day(self) -> None:
        for agent in ("a1", "a2"):
            self.shell.send(ev.AgentLoggedIn(self.shell.now, agent))

    # ------------------------------------------------------------------ helpers

    @property
    def engine(self):  # type: ignore[no-untyped-def]
        return self.shell.engine

    def fresh_id(self) -> str:
        self.next_id += 1
        return f"r{self.next_id}"

    def pass_time(self, seconds: float) -> None:
        self.shell.run_until(self.shell.now + seconds)

    def inbound_on_line(self) -> list[str]:
        return _sorted(
            rid
            for rid, r in self.engine.requests.items()
            if r.kind is RequestKind.INBOUND and rid in self.shell.lines and rid not in self.shell.confirming
        )

    def ringing_legs(self) -> list[str]:
        return _sorted(
            leg for leg in (*self.shell.agent_legs, *self.shell.customer_legs) if leg not in self.shell.answered
        )

    def answered_legs(self) -> list[str]:
        return _sorted(leg for leg in (*self.shell.agent_legs, *self.shell.customer_legs) if leg in self.shell.answered)

    # ------------------------------------------------------------------ callers

    @rule(
        queue=st.sampled_from(["support", "support", "billing"]),
        number=st.sampled_from([*NUMBERS, None]),
        priority=st.sampled_from([0, 0, 0, 1]),
        wait=st.sampled_from([0.0, 1.0, 5.0]),
    )
    def caller_arrives(self, queue: str, number: str | None, priority: int, wait: float) -> None:
        self.pass_time(wait)
        self.shell.arrive(self.fresh_id(), queue, number, priority)

    @precondition(lambda self: self.inbound_on_line())
    @rule(data=st.data(), digit=st.sampled_from(["1", "1", "1", "2", "#", "*"]))
    def caller_presses_a_key(self, data: st.DataObject, digit: str) -> None:
        rid = data.draw(st.sampled_from(self.inbound_on_line()), label="caller")
        self.shell.send(ev.DtmfReceived(self.shell.now, rid, digit))

    @precondition(lambda self: self.inbound_on_line())
    @rule(data=st.data(), number=st.sampled_from([n[3:] for n in NUMBERS] + ["123"]))
    def caller_keys_another_number(self, data: st.DataObject, number: str) -> None:
        """In billing's menu: 2, the number as dialled at home, #."""
        rid = data.draw(st.sampled_from(self.inbound_on_line()), label="caller")
        for digit in f"12{number}#":
            if rid not in self.shell.lines or rid in self.shell.confirming:
                return
            self.shell.send(ev.DtmfReceived(self.shell.now, rid, digit))

    @precondition(lambda self: self.inbound_on_line())
    @rule(data=st.data())
    def caller_hangs_up(self, data: st.DataObject) -> None:
        rid = data.draw(st.sampled_from(self.inbound_on_line()), label="caller")
        self.shell.send(ev.CallerHungUp(self.shell.now, rid))

    @precondition(lambda self: self.shell.confirming)
    @rule(data=st.data())
    def confirmation_ends(self, data: st.DataObject) -> None:
        """The shell hangs the caller's line up after the confirmation."""
        line = data.draw(st.sampled_from(_sorted(self.shell.confirming)), label="line")
        self.shell.send(ev.CallerHungUp(self.shell.now, line))

    @rule(queue=st.sampled_from(["support", "billing"]), number=st.sampled_from(NUMBERS))
    def web_callback(self, queue: str, number: str) -> None:
        self.shell.send(ev.CallbackRequested(self.shell.now, self.fresh_id(), queue, number))

    # ------------------------------------------------------------------ agents

    @rule(
        agent=st.sampled_from(AGENTS),
        move=st.sampled_from(
            ["login", "ready", "ready", "pause", "logout", "unreachable", "reachable", "extend", "own_call", "own_over"]
        ),
    )
    def agent_moves(self, agent: str, move: str) -> None:
        now = self.shell.now
        event: ev.Event = {
            "login": ev.AgentLoggedIn(now, agent),
            "ready": ev.AgentReady(now, agent),
            "pause": ev.AgentPaused(now, agent, "break"),
            "logout": ev.AgentLoggedOut(now, agent),
            "unreachable": ev.AgentReachability(now, agent, False),
            "reachable": ev.AgentReachability(now, agent, True),
            "extend": ev.WrapUpExtended(now, agent, 20.0),
            "own_call": ev.AgentOwnCall(now, agent, True),  # their own phone calls into a queue
            "own_over": ev.AgentOwnCall(now, agent, False),
        }[move]
        self.shell.send(event)

    # ------------------------------------------------------------------ legs (phones and network)

    @precondition(lambda self: self.ringing_legs())
    @rule(data=st.data(), wait=st.sampled_from([0.0, 1.0, 4.0]))
    def leg_answers(self, data: st.DataObject, wait: float) -> None:
        self.pass_time(wait)
        legs = self.ringing_legs()
        if not legs:
            return
        leg = data.draw(st.sampled_from(legs), label="leg")
        machine = leg in self.shell.customer_legs and data.draw(st.booleans(), label="voicemail")
        self.shell.answered.add(leg)
        self.shell.send(ev.LegAnswered(self.shell.now, leg, voicemail=machine))

    @precondition(lambda self: self.ringing_legs())
    @rule(
        data=st.data(),
        outcome=st.sampled_from([AttemptOutcome.BUSY, AttemptOutcome.NO_ANSWER, AttemptOutcome.FAILED]),
    )
    def leg_fails(self, data: st.DataObject, outcome: AttemptOutcome) -> None:
        """A customer busy or not answering; an agent rejecting the ring or letting it ring out."""
        leg = data.draw(st.sampled_from(self.ringing_legs()), label="leg")
        cause = {AttemptOutcome.BUSY: 17, AttemptOutcome.NO_ANSWER: 19, AttemptOutcome.FAILED: 34}[outcome]
        self.shell.send(ev.LegFailed(self.shell.now, leg, outcome, cause))

    @precondition(lambda self: self.answered_legs())
    @rule(data=st.data(), wait=st.sampled_from([1.0, 30.0, 120.0]), no_audio=st.booleans())
    def leg_hangs_up(self, data: st.DataObject, wait: float, no_audio: bool) -> None:
        """Hung up, or cut by Asterisk because its phone sent no audio (a dead line)."""
        self.pass_time(wait)
        legs = self.answered_legs()
        if legs:
            leg = data.draw(st.sampled_from(legs), label="leg")
            self.shell.send(ev.LegHungUp(self.shell.now, leg, no_audio=no_audio))

    @precondition(lambda self: self.shell.reporting)
    @rule(data=st.data())
    def prompt_ends(self, data: st.DataObject) -> None:
        """A whisper, a menu prompt or a recording announcement played to its end."""
        leg = data.draw(st.sampled_from(_sorted(self.shell.reporting)), label="leg")
        self.shell.send(ev.PromptFinished(self.shell.now, leg))

    @precondition(lambda self: self.shell.dead_legs)
    @rule(data=st.data(), which=st.sampled_from(["answer", "fail", "hangup"]))
    def late_event_of_a_dead_leg(self, data: st.DataObject, which: str) -> None:
        leg = data.draw(st.sampled_from(self.shell.dead_legs[-8:]), label="leg")
        now = self.shell.now
        event: ev.Event = {
            "answer": ev.LegAnswered(now, leg),
            "fail": ev.LegFailed(now, leg, AttemptOutcome.FAILED),
            "hangup": ev.LegHungUp(now, leg),
        }[which]
        self.shell.send(event)

    # ------------------------------------------------------------------ whole journeys

    def in_progress(self) -> list[str]:
        return _sorted(rid for rid, r in self.engine.requests.items() if r.state in IN_SERVICE)

    def drive(self, data: st.DataObject) -> None:
        """Take one request in service a step on, as people mostly do: the agent answers, the
        whisper ends, the customer answers (or is busy, or does not), the call ends a while later."""
        rid = data.draw(st.sampled_from(self.in_progress()), label="drive")
        req = self.engine.requests[rid]
        shell, now = self.shell, self.shell.now
        legs = [leg for leg in (req.agent_leg, req.customer_leg) if leg is not None and shell._live(leg)]
        ringing = [leg for leg in legs if leg not in shell.answered and leg not in shell.lines]
        if ringing:
            leg = ringing[0]
            outcome = data.draw(
                st.sampled_from(["answer", "answer", "answer", "voicemail", "busy", "no_answer"]), label="outcome"
            )
            if outcome in ("answer", "voicemail") or leg in shell.agent_legs:
                shell.answered.add(leg)
                shell.send(ev.LegAnswered(now, leg, voicemail=outcome == "voicemail" and leg in shell.customer_legs))
            else:
                busy = outcome == "busy"
                shell.send(ev.LegFailed(now, leg, AttemptOutcome.BUSY if busy else AttemptOutcome.NO_ANSWER))
            return
        reporting = [leg for leg in legs if leg in shell.reporting]
        if reporting:
            shell.send(ev.PromptFinished(now, reporting[0]))
            return
        answered = [leg for leg in legs if leg in shell.answered]
        if answered and req.state is RequestState.CONNECTED:
            self.pass_time(data.draw(st.sampled_from([5.0, 60.0]), label="talk"))
            if answered[0] in shell.answered:
                shell.send(ev.LegHungUp(shell.now, data.draw(st.sampled_from(answered), label="hangs_up")))
            return
        self.pass_time(1.0)

    @precondition(lambda self: self.in_progress())
    @rule(data=st.data())
    def drive_a_call(self, data: st.DataObject) -> None:
        self.drive(data)

    @precondition(lambda self: self.in_progress())
    @rule(data=st.data())
    def drive_another_call(self, data: st.DataObject) -> None:  # (twice: journeys are common)
        self.drive(data)

    # ------------------------------------------------------------------ supervisors

    def queued_callbacks(self) -> list[str]:
        return _sorted(
            rid
            for rid, r in self.engine.requests.items()
            if r.is_callback and r.state in (RequestState.WAITING, RequestState.QUARANTINE)
        )

    @precondition(lambda self: self.queued_callbacks())
    @rule(data=st.data(), action=st.sampled_from(["remove", "move", "move", "position"]))
    def supervisor_acts(self, data: st.DataObject, action: str) -> None:
        rid = data.draw(st.sampled_from(self.queued_callbacks()), label="callback")
        now = self.shell.now
        if action == "remove":
            self.shell.send(ev.CallbackRemoved(now, rid, by="sup", reason="asked"))
        elif action == "move":
            to = data.draw(st.sampled_from(["support", "billing", "sales"]), label="to")
            self.shell.send(ev.CallbackMoved(now, rid, to, by="sup"))
        else:
            position = data.draw(st.integers(1, 3), label="position")
            self.shell.send(ev.CallbackRepositioned(now, rid, position, by="sup"))

    @rule(campaign=st.sampled_from(CAMPAIGNS), action=st.sampled_from(["start", "start", "pause", "stop", *[None] * 6]))
    def campaign_control(self, campaign: str, action: str | None) -> None:
        if action is not None:  # (mostly not: a supervisor seldom touches a campaign)
            self.shell.send(ev.CampaignControl(self.shell.now, campaign, action))

    @rule(agent=st.sampled_from(AGENTS), action=st.sampled_from(["dial_now", "skip"]))
    def preview_agent(self, agent: str, action: str) -> None:
        now = self.shell.now
        self.shell.send(ev.ContactDialNow(now, agent) if action == "dial_now" else ev.ContactSkipped(now, agent))

    @precondition(lambda self: self.engine._last_call)
    @rule(
        data=st.data(),
        disposition=st.sampled_from(["sale", "not_interested", "call_back", "wrong_number"]),
        reserve=st.booleans(),
    )
    def agent_disposes(self, data: st.DataObject, disposition: str, reserve: bool) -> None:
        agent = data.draw(st.sampled_from(_sorted(self.engine._last_call)), label="agent")
        at = self.shell.now + 200.0 if disposition == "call_back" else None
        self.shell.send(ev.ContactDisposed(self.shell.now, agent, disposition, at, reserve and at is not None))

    # ------------------------------------------------------------------ time and restarts

    @rule(seconds=st.sampled_from([0.5, 2.0, 5.0, 10.0, 31.0, 90.0, 600.0]))
    def time_passes(self, seconds: float) -> None:
        self.pass_time(seconds)

    @rule()
    def next_deadline(self) -> None:
        deadline = self.engine.next_deadline()
        if deadline is not None and deadline < self.shell.now + 4 * 3600:
            self.shell.run_until(deadline)

    def gap(self, data: st.DataObject, asterisk: bool) -> tuple[set[str], set[str]]:
        """What happened to the legs while nobody listened: some channels ended, some answered."""
        live = _sorted([*self.shell.agent_legs, *self.shell.customer_legs, *self.shell.lines])
        gone = set() if asterisk or not live else set(data.draw(st.sets(st.sampled_from(live)), label="gone"))
        ringing = self.ringing_legs()
        answered = set(data.draw(st.sets(st.sampled_from(ringing)), label="answered")) if ringing else set()
        return gone, answered - gone

    @precondition(lambda self: self.shell.restarts < 3)
    @rule(data=st.data(), after=st.sampled_from([1.0, 5.0, 40.0]), asterisk=st.sampled_from([False, False, True]))
    def service_restarts(self, data: st.DataObject, after: float, asterisk: bool) -> None:
        gone, answered = self.gap(data, asterisk)
        self.shell.crash_and_restart(after, gone, asterisk, answered)

    @precondition(lambda self: self.shell.outages < 2)
    @rule(data=st.data(), after=st.sampled_from([1.0, 20.0]), asterisk=st.sampled_from([False, False, True]))
    def telephony_outage(self, data: st.DataObject, after: float, asterisk: bool) -> None:
        gone, answered = self.gap(data, asterisk)
        self.shell.outage(after, gone, asterisk, answered)

    @invariant()
    def holds(self) -> None:
        self.shell.check()

    def teardown(self) -> None:
        counts = getattr(type(self), "counts", None)
        if counts is not None:
            counts["steps"] += self.shell.steps
            counts["runs"] += 1
            counts["restarts"] += self.shell.restarts
            counts["callbacks"] += len(self.shell.promised)
            counts["served_callbacks"] += sum(1 for rid in self.shell.promised if self.shell.ended.get(rid) == "served")
            counts["in_service_now"] += sum(1 for r in self.engine.requests.values() if r.state in IN_SERVICE)


FAST = settings(
    max_examples=int(os.environ.get("HOLDFAST_MACHINE_EXAMPLES", "150")),
    stateful_step_count=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    # the same runs on every CI run (a red CI is a finding to reproduce, not a roll of the dice);
    # new ones locally and in the long profile
    derandomize=bool(os.environ.get("CI")),
)

TestEngineMachine = EngineMachine.TestCase
TestEngineMachine.settings = FAST


@pytest.mark.slow
def test_engine_machine_long_runs() -> None:
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        EngineMachine,
        settings=settings(FAST, max_examples=200, stateful_step_count=400, derandomize=False),
    )


# ------------------------------------------------------------------ regressions the machine found


def test_two_callbacks_to_one_number_in_two_queues_are_not_dialled_at_once() -> None:
    """A customer who asked support and billing to call back was rung by both at once: the second
    agent heard busy (or the customer's call waiting), and the busy counted as an attempt of theirs.
    The second callback now waits, keeping its place, until the first call to the number is over."""
    h = Harness(replace(core(), campaigns=()))
    for agent in ("a1", "a4"):
        h.send(ev.AgentLoggedIn(h.now, agent))
    h.send(ev.CallbackRequested(h.now, "s1", "support", DK_MOBILE))  # a1 is rung for it
    h.send(ev.CallbackRequested(h.now, "b1", "billing", DK_MOBILE))
    assert [x.request_id for x in h.of(h.log, c.OriginateAgent)] == ["s1"]  # a4 is not rung for b1 yet
    _, dial = h.serve_callback("s1")
    assert h.engine.requests["b1"].state is RequestState.WAITING
    h.answer(dial)
    out = h.at(60).leg_hung_up(dial)  # the first call to the number is over: now the second
    assert [x.request_id for x in h.of(out, c.OriginateAgent)] == ["b1"]
