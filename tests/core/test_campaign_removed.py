"""Campaigns created and deleted (over the API, or by a reload) for months: what the engine keeps
per campaign goes with it, and a new campaign given an old id starts afresh (not "reopened").
Its do-not-call entries are the exception: the store keeps a deleted campaign's rows, and a
campaign created again under that id is barred from them, as it is after a restart."""

from __future__ import annotations

from dataclasses import replace

from app.core import events as ev
from app.core.settings import CampaignMode
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings
from tests.object_graph import held

MODES = (CampaignMode.PREVIEW, CampaignMode.POWER, CampaignMode.PREDICTIVE)


def lifetime(h: DiallerHarness, i: int) -> None:
    """Campaign c{i}: created with one contact whose attempts are used up, finished, deleted."""
    cid = f"c{i}"
    h.add(contact(i, number=f"+4521{i:06d}", campaign_id=cid, attempts=3))
    h.send(ev.SettingsChanged(h.now, replace(h.engine.settings, campaigns=(campaign(cid, MODES[i % 3]),))))
    h.tick(1.0)
    h.tick(20.0)  # the next poll finds the list exhausted: campaign_finished
    h.send(ev.SettingsChanged(h.now, replace(h.engine.settings, campaigns=())))
    h.tick(1.0)


def churn() -> DiallerHarness:
    h = DiallerHarness(dialler_settings(campaign("c0"), agents=1), [])
    h.send(ev.SettingsChanged(h.now, replace(h.engine.settings, campaigns=())))
    h.ready("a1")
    return h


def test_deleted_campaigns_leave_nothing_behind() -> None:
    h = churn()
    for i in range(30):
        lifetime(h, i)
    assert len(h.activities("campaign_finished")) == 30  # each one's list did finish
    before = held(h.engine)
    for i in range(30, 330):
        lifetime(h, i)
    assert len(h.activities("campaign_finished")) == 330
    e = h.engine
    left = {
        "finished": e.finished_campaigns(),
        "paced": set(e._paced_at),
        "stale": e._stale_load | e._unsettled,
        "timers": {key for key in e._timers._due if key[0] in ("contacts", "pace")},
    }
    assert not any(left.values()), left
    assert held(e) <= before + 10, (before, held(e))  # was: one more for each campaign (its finished mark)


def test_a_new_campaign_under_a_deleted_ones_id_starts_afresh() -> None:
    h = churn()
    lifetime(h, 1)
    assert len(h.activities("campaign_finished")) == 1
    # months later a new campaign is created under the same id, with a list to call
    h.add(contact(500, number="+4522000500", campaign_id="c1"))
    h.send(ev.SettingsChanged(h.now, replace(h.engine.settings, campaigns=(campaign("c1"),))))
    h.tick(1.0)
    assert h.engine.window_size("c1") == 0 and h.engine.contact_for_agent("a1") is not None  # being called
    assert not h.activities("campaign_reopened")  # was: a brand-new campaign logged as "reopened"
    assert h.engine.finished_campaigns() == set()


def test_a_new_campaign_under_a_deleted_ones_id_keeps_its_do_not_call_entries() -> None:
    """The store keeps them (deleting a campaign deletes its definition only) and nothing feeds
    them again when the id is used again (a start-up does): the engine keeps its copy."""
    h = churn()
    h.send(ev.SettingsChanged(h.now, replace(h.engine.settings, campaigns=(campaign("c1"),))))
    h.send(ev.DncUpdated(h.now, "c1", (("+4599000001", False), ("+4598", True))))
    h.send(ev.SettingsChanged(h.now, replace(h.engine.settings, campaigns=())))
    h.add(contact(1, number="+4599000001", campaign_id="c1"), contact(2, number="+4598000002", campaign_id="c1"))
    h.send(ev.SettingsChanged(h.now, replace(h.engine.settings, campaigns=(campaign("c1"),))))
    h.tick(1.0)
    assert h.dials() == [] and h.engine.contact_for_agent("a1") is None
    assert [(a.data["contact"], a.data["reason"]) for a in h.activities("contact_not_dialled")] == [
        (1, "dnc"),
        (2, "dnc"),
    ]


def test_a_campaign_leaving_the_settings_is_marked_in_the_event_log() -> None:
    """The mark a restart reads (app/telephony/contacts_loader.py): the finished list it ends is
    not the list of a campaign created later under the same id."""
    h = churn()
    lifetime(h, 1)
    (removed,) = [a for a in h.activities("campaign_removed") if a.data["campaign"] == "c1"]
    finished = h.activities("campaign_finished")
    assert h.log.index(finished[-1]) < h.log.index(removed)
