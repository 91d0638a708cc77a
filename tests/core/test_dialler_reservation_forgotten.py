"""A reserved call_back's deadline (kept for its agent, `reserve_for`) is read only while the
contact is in the window. Contacts that leave the window without being dialled (put on
do-not-call, their campaign stopped or deleted) must take it with them: a centre promising call
backs for days would otherwise keep one deadline per such contact for good."""

from __future__ import annotations

from dataclasses import replace

from app.core import events as ev
from app.core.contacts import DueContact
from app.core.settings import CampaignMode
from tests.core.dialler_harness import SCHEDULED, DiallerHarness, campaign, contact, dialler_settings

HOLD = 600.0
BATCH = 10


def promised(h: DiallerHarness, batch: int, cid: str = "spring") -> list[DueContact]:
    """A batch of call_backs kept for a1 (away: they wait in the window for them), in the store."""
    contacts = [
        contact(
            batch * BATCH + i,
            number=f"+4521{batch:03d}{i:03d}",
            campaign_id=cid,
            reserved_agent="a1",
            attempts=1,
            last_outcome="call_back",
        )
        for i in range(BATCH)
    ]
    h.add(*contacts)
    h.send(ev.ContactsChanged(h.now, cid))
    h.tick(1.0)
    assert h.engine.window_size(cid) == BATCH
    return contacts


def reservations_left(h: DiallerHarness) -> tuple[int, int]:
    """(deadlines kept, reservation timers pending)."""
    timers = [key for key in h.engine._timers._due if key[0] == "reserve"]
    return len(h.engine._reserved_until), len(timers)


def test_call_backs_put_on_do_not_call_leave_no_deadline() -> None:
    # preview: swept out of the window as an agent is free; predictive: refused as its pacing picks dials
    for mode in (CampaignMode.PREVIEW, CampaignMode.PREDICTIVE):
        h = DiallerHarness(dialler_settings(campaign(mode=mode, reserve_for=HOLD, window=20), agents=2), [])
        h.ready("a2")
        for batch in range(50):
            contacts = promised(h, batch)
            h.send(ev.DncUpdated(h.now, "spring", tuple((k.number, False) for k in contacts)))
            h.tick(1.0)
            assert h.engine.window_size("spring") == 0
            assert [h.state[("spring", k.contact_id)].last_outcome for k in contacts] == ["dnc"] * BATCH
            assert reservations_left(h) == (0, 0), (mode, batch)  # was: 10 more each batch
        h.run_until(h.now + 2 * HOLD)


def test_a_stopped_campaign_keeps_no_deadline_of_the_call_backs_it_gave_back() -> None:
    h = DiallerHarness(dialler_settings(campaign(reserve_for=HOLD, window=20), agents=2), [])
    h.ready("a2")
    for batch in range(50):
        contacts = promised(h, batch)
        h.send(ev.CampaignControl(h.now, "spring", "stop"))
        assert h.engine.window_size("spring") == 0
        assert reservations_left(h) == (0, 0), batch  # was: 10 more each round
        # given back to the store, still kept for a1 (a later load gives them a deadline again)
        keys = [("spring", k.contact_id) for k in contacts]
        assert {(h.state[key].state, h.state[key].reserved_agent) for key in keys} == {(SCHEDULED, "a1")}
        for key in keys:  # the next round's upload replaces this list
            del h.store[key]
        h.send(ev.CampaignControl(h.now, "spring", "start"))


def test_a_deleted_campaign_keeps_no_deadline_of_its_call_backs() -> None:
    base = dialler_settings(campaign(reserve_for=HOLD, window=20), agents=2)
    h = DiallerHarness(base, [])
    h.ready("a2")
    for batch in range(50):
        cid = f"c{batch}"
        h.send(ev.SettingsChanged(h.now, replace(base, campaigns=(campaign(cid, reserve_for=HOLD),))))
        promised(h, batch, cid)
        h.send(ev.SettingsChanged(h.now, replace(base, campaigns=())))
        assert reservations_left(h) == (0, 0), batch
