"""holdfast_legs_cut_no_audio_total{side}: each leg Asterisk cut for lack of audio counted once,
by whose phone went silent, from the activities the engine records for it."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.telephony.metrics import Metrics
from tests.core.harness import Harness, callback_settings, settings


def counted(metrics: Metrics) -> dict[str, float]:
    return {
        side: metrics.registry.get_sample_value("holdfast_legs_cut_no_audio_total", {"side": side}) or 0.0
        for side in ("caller_waiting", "customer", "agent")
    }


def all_activities(h: Harness) -> Metrics:
    metrics = Metrics()
    for activity in h.of(h.log, c.Activity):
        metrics.count_activity(activity)
    return metrics


def connected(h: Harness, rid: str) -> str:
    h.arrive(rid)
    ring = [x for x in h.log if isinstance(x, c.OriginateAgent) and x.request_id == rid][-1]
    h.answer(ring.leg_id)
    return ring.leg_id


def test_each_side_is_counted_once_and_plain_hang_ups_not_at_all() -> None:
    h = Harness(settings(wrap_up=0.0))
    h.ready("a1")
    h.send(ev.LegHungUp(h.now, connected(h, "r1"), no_audio=True))  # the agent's phone
    h.ready("a1")
    h.send(ev.CallerHungUp(h.now, "r1b", no_audio=True))  # unknown: nothing
    connected(h, "r2")
    h.send(ev.CallerHungUp(h.now, "r2", no_audio=True))  # the customer's, in a call
    h.send(ev.AgentPaused(h.now, "a1", "lunch"))
    h.arrive("r3")
    h.send(ev.CallerHungUp(h.now, "r3", no_audio=True))  # a waiting caller's
    h.arrive("r4")
    h.hang_up("r4")  # a caller giving up: not counted
    assert counted(all_activities(h)) == {"caller_waiting": 1.0, "customer": 1.0, "agent": 1.0}


def test_a_waiting_callers_dead_line_given_the_automatic_callback_is_counted() -> None:
    h = Harness(settings(callback=callback_settings(enabled=True, abandon_callback_after=10.0)))
    h.arrive("r1")
    h.at(20).send(ev.CallerHungUp(h.now, "r1", no_audio=True))
    assert [a.data.get("line") for a in h.activities("abandoned", "r1")] == ["no_audio"]
    assert counted(all_activities(h)) == {"caller_waiting": 1.0, "customer": 0.0, "agent": 0.0}
