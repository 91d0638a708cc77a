"""One number in several campaigns' lists (two uploads for the same client): it is dialled by one
campaign at a time, and after an abandoned power call no contact-first campaign rings it again
within ABANDON_QUARANTINE (the 72 h after a silent or information-message call)."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.settings import ABANDON_QUARANTINE, AgentSettings, CampaignMode, CoreSettings, QueueSettings
from app.core.states import AttemptOutcome
from tests.core.dialler_harness import SCHEDULED, DiallerHarness, campaign, contact

POWER = CampaignMode.POWER
NUMBER = "+4520123456"


def two_campaigns(agents: int = 1, autumn: CampaignMode = POWER) -> CoreSettings:
    return CoreSettings(
        queues=(QueueSettings(name="sales"),),
        agents=tuple(AgentSettings(id=f"a{i + 1}", skills=(("sales", 0),)) for i in range(agents)),
        campaigns=(campaign("spring", mode=POWER), campaign("autumn", mode=autumn)),
    )


def test_a_number_in_two_lists_is_dialled_by_one_campaign_at_a_time() -> None:
    h = DiallerHarness(
        two_campaigns(agents=2),
        [contact(1, number=NUMBER, campaign_id="spring"), contact(2, number=NUMBER, campaign_id="autumn")],
    )
    h.ready("a1")
    h.ready("a2")
    (first,) = [d for d in h.dials() if d.number == NUMBER]  # was: dialled twice at once
    other = "autumn" if h.engine.requests[first.request_id].campaign == "spring" else "spring"
    out = h.at(20).fail(first.leg_id, AttemptOutcome.NO_ANSWER)
    (second,) = h.dials(out)  # kept in its window, dialled once the first dial ended
    assert second.number == NUMBER and h.engine.requests[second.request_id].campaign == other


def abandon_in_spring(h: DiallerHarness) -> float:
    """spring's power call to NUMBER is answered while its agent has paused: abandoned."""
    (dial,) = h.dials(h.ready("a1"))
    h.send(ev.AgentPaused(h.now, "a1"))
    h.at(3).answer(dial.leg_id)
    h.run_until(h.now + 3)
    (abandoned,) = h.activities("dialler_abandoned")
    return abandoned.at


def test_an_abandoned_number_waits_out_the_quarantine_in_another_campaign() -> None:
    h = DiallerHarness(two_campaigns(), [contact(1, number=NUMBER, campaign_id="spring")])
    at = abandon_in_spring(h)
    h.run_until(h.now + 3600)
    h.add(contact(2, number=NUMBER, campaign_id="autumn"))
    h.send(ev.ContactsChanged(h.now, "autumn"))
    h.ready("a1")
    h.run_until(h.now + 60)
    assert len(h.dials()) == 1  # was: rung again by autumn an hour after the abandoned call
    p = h.progress(2, "autumn")
    assert p is not None and (p.state, p.next_due) == (SCHEDULED, at + ABANDON_QUARANTINE)
    h.tick(at + ABANDON_QUARANTINE + 1 - h.now)  # 72 h of store polls in one step
    assert [d.number for d in h.dials()] == [NUMBER, NUMBER]  # later, not never


def test_a_preview_campaign_may_call_it_with_its_agent_on_the_line() -> None:
    h = DiallerHarness(two_campaigns(autumn=CampaignMode.PREVIEW), [contact(1, number=NUMBER, campaign_id="spring")])
    abandon_in_spring(h)
    h.add(contact(2, number=NUMBER, campaign_id="autumn"))
    h.send(ev.ContactsChanged(h.now, "autumn"))
    h.ready("a1")
    (ring,) = [r for r in h.of(h.log, c.OriginateAgent) if r.caller_id_number == NUMBER]
    assert h.engine.requests[ring.request_id].campaign == "autumn"


def test_the_quarantine_is_restored_after_a_restart() -> None:
    h = DiallerHarness(two_campaigns(), [contact(2, number=NUMBER, campaign_id="autumn")])
    h.engine.restore_abandoned({NUMBER: h.now - 3600})
    h.ready("a1")
    assert not h.dials()
    p = h.progress(2, "autumn")
    assert p is not None and p.next_due == h.now - 3600 + ABANDON_QUARANTINE
