"""Callback dispatch policy, the agent share cap and callback order."""

from __future__ import annotations

import pytest

from app.core import commands as c
from app.core import events as ev
from app.core.settings import CallbackOrder, DispatchPolicy
from app.core.states import AttemptOutcome
from tests.core.harness import Harness, callback_settings, settings


def make(agents: int, **cb: object) -> Harness:
    return Harness(settings(agents=agents, callback=callback_settings(allow_other_number=False, **cb)))


def number_of(rid: str) -> str:
    """Each caller their own number: one number's callbacks would be merged into one."""
    return f"+452012{sum(map(ord, rid)) % 10_000:04d}"


def callback(h: Harness, rid: str, wait: float = 1.0) -> None:
    h.at(wait).arrive(rid, number=number_of(rid))
    h.dtmf(rid, "1")


def rung(h: Harness) -> list[str]:
    return [x.request_id for x in h.log if isinstance(x, c.OriginateAgent)]


def test_policy_always_gives_the_next_agent_to_a_callback_at_the_head() -> None:
    h = make(1, dispatch=DispatchPolicy.ALWAYS)
    callback(h, "cb")
    h.at(1).arrive("caller")
    h.ready("a1")
    assert rung(h) == ["cb"]


def test_policy_when_agents_free_holds_callback_when_the_only_agent_is_needed_by_a_caller() -> None:
    h = make(1, dispatch=DispatchPolicy.WHEN_AGENTS_FREE)
    callback(h, "cb")
    h.at(1).arrive("caller")
    h.ready("a1")
    assert rung(h) == ["caller"]


def test_policy_when_agents_free_serves_callers_first_while_each_free_agent_is_needed() -> None:
    h = make(2, dispatch=DispatchPolicy.WHEN_AGENTS_FREE)
    h.ready("a1")
    h.ready("a2")
    h.send(ev.AgentReachability(h.now, "a1", False))
    h.send(ev.AgentReachability(h.now, "a2", False))
    callback(h, "cb")
    h.at(1).arrive("caller")
    h.send(ev.AgentReachability(h.now, "a1", True))  # 1 free agent, 1 caller: the caller first
    assert rung(h) == ["caller"]
    h.at(1).arrive("caller2")
    h.send(ev.AgentReachability(h.now, "a2", True))
    assert rung(h) == ["caller", "caller2"]


def test_policy_when_agents_free_lets_callback_go_once_no_caller_needs_the_agent() -> None:
    h = make(3, dispatch=DispatchPolicy.WHEN_AGENTS_FREE)
    callback(h, "cb")
    h.at(1).arrive("caller")
    h.ready("a1")  # 1 ready, 1 caller: a1 goes to the caller
    h.arrive("caller2")
    h.ready("a2")  # 1 ready, 1 caller (caller2): caller2 goes first (callback held back)
    assert rung(h) == ["caller", "caller2"]
    h.ready("a3")  # no callers left: the callback goes
    assert rung(h) == ["caller", "caller2", "cb"]


def test_policy_when_no_callers_waiting_holds_callbacks_back_while_anyone_holds() -> None:
    h = make(2, dispatch=DispatchPolicy.WHEN_NO_CALLERS_WAITING)
    callback(h, "cb")
    h.at(1).arrive("caller")
    h.ready("a1")
    assert rung(h) == ["caller"]
    h.ready("a2")
    assert rung(h) == ["caller", "cb"]


def test_callback_held_back_by_policy_keeps_its_place() -> None:
    h = make(1, dispatch=DispatchPolicy.WHEN_NO_CALLERS_WAITING)
    callback(h, "cb")
    h.at(1).arrive("caller")
    assert [r.id for r in h.engine.waiting("support")] == ["cb", "caller"]


@pytest.mark.parametrize(("agents", "share", "cap"), [(4, 0.5, 2), (1, 0.5, 1), (3, 0.34, 1), (4, 1.0, 4), (2, 0.1, 1)])
def test_max_callback_agent_share_caps_agents_busy_with_callbacks(agents: int, share: float, cap: int) -> None:
    h = make(agents, max_callback_agent_share=share)
    for i in range(agents):
        callback(h, f"cb{i}")
    for i in range(agents):
        h.ready(f"a{i + 1}")
    assert len(rung(h)) == cap
    h.at(1).arrive("caller")  # a caller still gets a free agent
    assert rung(h)[-1] == ("caller" if cap < agents else rung(h)[-1])


def make_order(order: CallbackOrder, seed: int = 0) -> Harness:
    h = make(1, order=order, random_seed=seed)
    # arrivals r1 < r2 < r3 but callbacks are requested in the order r3, r1, r2
    for rid in ("r1", "r2", "r3"):
        h.at(1).arrive(rid, number=number_of(rid))
    for rid in ("r3", "r1", "r2"):
        h.at(1).dtmf(rid, "1")
    return h


def first_rung_each(h: Harness) -> list[str]:
    seen: list[str] = []
    for rid in rung(h):
        if rid not in seen:
            seen.append(rid)
    return seen


def drain(h: Harness) -> list[str]:
    """Ring a1 for each callback in turn; each ring is refused so the agent is paused, then made ready."""
    for _ in range(6):
        h.ready("a1")
        ring = [x for x in h.log if isinstance(x, c.OriginateAgent)]
        if not ring:
            break
        # end the request by removing it once it was rung so the next one is chosen
        rid = ring[-1].request_id
        if rid in h.engine.requests:
            h.send(ev.LegFailed(h.now, ring[-1].leg_id, AttemptOutcome.FAILED))
            h.send(ev.CallbackRemoved(h.now, rid, by="test"))
    return first_rung_each(h)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (CallbackOrder.KEEP_PLACE, ["r1", "r2", "r3"]),
        (CallbackOrder.OLDEST_FIRST, ["r3", "r1", "r2"]),
        (CallbackOrder.NEWEST_FIRST, ["r2", "r1", "r3"]),
    ],
)
def test_callback_order(order: CallbackOrder, expected: list[str]) -> None:
    assert drain(make_order(order)) == expected


def test_random_callback_order_is_reproducible_with_a_seed() -> None:
    runs = [drain(make_order(CallbackOrder.RANDOM, seed=s)) for s in (1, 1, 2, 3, 4, 5)]
    assert runs[0] == runs[1]
    assert all(sorted(r) == ["r1", "r2", "r3"] for r in runs)
    assert len({tuple(r) for r in runs}) > 1  # the seed matters


def test_non_keep_place_callback_still_competes_with_callers_by_place() -> None:
    h = make(1, order=CallbackOrder.NEWEST_FIRST)
    h.arrive("early_caller")
    callback(h, "cb")
    h.ready("a1")
    assert rung(h) == ["early_caller"]
