"""A preview dial stored, then the service killed before the contact's originate went (or that call
ended while it was down), while the agent listened to ringback: at the restart the agent keeps the
line and the contact is dialled again once the legs are reconciled (the lost dial recorded as
interrupted, not counted), instead of the agent being hung up and rung again for the same card."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.dialler import DIAL_ACTIVITY
from app.telephony.committer import agent_record, snapshot
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings

DOWNTIME = 5.0


def test_the_contact_is_dialled_again_while_the_preview_agent_keeps_the_line() -> None:
    settings = dialler_settings(campaign(max_attempts=1), agents=1)
    h = DiallerHarness(settings, [contact(1)])
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    (dial,) = h.dials(h.answer(ring.leg_id))
    stored = [snapshot(r) for r in h.engine.requests.values()]
    agents = [(a.agent_id, a.state, a.pause_reason) for a in map(agent_record, h.engine.agents.values())]

    later = DiallerHarness(settings, [contact(1)], start=h.now + DOWNTIME)
    later.engine.restore(stored, agents, later.now)
    out = later.send(ev.LegLost(later.now, dial.leg_id, "channel_vanished"))
    out += later.send(ev.LegsReconciled(later.now))

    assert [x for x in out if isinstance(x, c.Hangup)] == [] and later.of(out, c.OriginateAgent) == []
    (again,) = later.dials(out)
    assert again.leg_id != dial.leg_id and again.request_id == dial.request_id
    (record,) = [a for a in later.log if isinstance(a, c.Activity) and a.kind == DIAL_ACTIVITY]
    assert record.data["outcome"] == "interrupted"
    later.answer(again.leg_id)
    assert later.activities("connected")[0].request_id == dial.request_id
