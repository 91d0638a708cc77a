"""campaign_finished (issue 17): told once when a running campaign's list is finished — nothing
due now or later in the store, none of its contacts in the engine's window or dials, no agent
still in wrap-up after its last call — and again only after new contacts came and finished."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.contacts import DONE, ContactProgress
from app.core.dialler import CAMPAIGN_FINISHED, CAMPAIGN_REOPENED
from app.core.settings import CampaignMode, RetryIntervals
from app.core.states import AgentState, AttemptOutcome
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings

POWER = CampaignMode.POWER


def finished(h: DiallerHarness) -> list[c.Notify]:
    return [n for n in h.of(h.log, c.Notify) if n.kind == CAMPAIGN_FINISHED]


def power_call(h: DiallerHarness, dial: c.OriginateCustomer, talk: float = 30.0) -> None:
    """The contact answers, the agent is rung and answers, they talk, the contact hangs up."""
    ring = h.one(h.at(3).answer(dial.leg_id), c.OriginateAgent)
    h.at(0.2).answer(ring.leg_id)
    h.at(talk).leg_hung_up(dial.leg_id)


def test_a_power_campaign_is_finished_once_after_its_last_call_and_wrap_up() -> None:
    h = DiallerHarness(dialler_settings(campaign(mode=POWER), wrap_up=10.0), [contact(1), contact(2)])
    h.ready("a1")
    first = h.dials()[0]
    power_call(h, first)
    h.run_until(h.now + 11)  # wrap-up over: the second contact is dialled
    second = h.dials()[-1]
    assert second.number == "+4520000002" and not finished(h)
    power_call(h, second)
    assert not finished(h), "the agent is in wrap-up: a call_back disposition may still come"
    assert h.engine.agents["a1"].state is AgentState.WRAP_UP
    h.run_until(h.now + 60)  # wrap-up ends; the idle campaign polls the store
    [n] = finished(h)
    assert (n.request_id, n.queue, n.number) == ("campaign-spring", "sales", None)
    assert n.data == {"campaign": "spring", "campaign_name": "spring"}
    assert [a.data for a in h.activities(CAMPAIGN_FINISHED)] == [{"campaign": "spring"}]
    h.run_until(h.now + 3600)  # an hour of polls: told once
    assert len(finished(h)) == 1 and len(h.activities(CAMPAIGN_FINISHED)) == 1
    assert h.engine.finished_campaigns() == {"spring"}


def test_not_finished_while_a_contact_waits_for_its_retry() -> None:
    retry = RetryIntervals(busy=600.0, no_answer=600.0, machine=600.0, failed=600.0)
    h = DiallerHarness(dialler_settings(campaign(mode=POWER, max_attempts=2, retry=retry)), [contact(1)])
    h.ready("a1")
    h.at(5).fail(h.dials()[0].leg_id, AttemptOutcome.BUSY)
    h.run_until(h.now + 590)
    assert not finished(h), "contact 1 is scheduled for a second attempt"
    h.run_until(h.now + 30)  # due at 605 s; the store is polled every 15 s
    assert len(h.dials()) == 2 and not finished(h)
    h.at(5).fail(h.dials()[-1].leg_id, AttemptOutcome.BUSY)  # attempts used up: done
    h.run_until(h.now + 1)
    assert len(finished(h)) == 1


def test_a_call_back_disposition_in_wrap_up_keeps_the_campaign_open() -> None:
    h = DiallerHarness(dialler_settings(campaign(mode=POWER), wrap_up=30.0), [contact(1)])
    h.ready("a1")
    power_call(h, h.dials()[0])
    h.at(5).send(ev.ContactDisposed(h.now, "a1", "call_back", call_back_at=h.now + 3600))
    h.run_until(h.now + 600)
    assert not finished(h)
    h.run_until(h.now + 3000 + 16)  # the call back falls due and is dialled
    assert len(h.dials()) == 2 and not finished(h)
    h.at(5).fail(h.dials()[-1].leg_id, AttemptOutcome.INVALID)  # not retried: done
    h.run_until(h.now + 1)
    assert len(finished(h)) == 1


def test_contacts_all_on_the_do_not_call_list_finish_the_campaign_undialled() -> None:
    h = DiallerHarness(dialler_settings(campaign(mode=POWER)), [contact(1), contact(2)])
    h.send(ev.DncUpdated(h.now, None, added=(("+452000000", True),)))
    h.ready("a1")
    h.run_until(h.now + 1)
    assert not h.dials()
    assert len(finished(h)) == 1


def test_new_contacts_reopen_a_finished_campaign_which_is_told_again_when_they_are_done() -> None:
    h = DiallerHarness(dialler_settings(campaign(mode=POWER), wrap_up=0.0), [contact(1)])
    h.ready("a1")
    power_call(h, h.dials()[0])
    h.run_until(h.now + 20)
    assert len(finished(h)) == 1
    h.run_until(h.now + 120)
    assert not h.activities(CAMPAIGN_REOPENED) and len(h.dials()) == 1
    h.add(contact(2))  # an upload: the shell says the list changed
    h.send(ev.ContactsChanged(h.now, "spring"))
    assert [a.data for a in h.activities(CAMPAIGN_REOPENED)] == [{"campaign": "spring"}]
    assert len(finished(h)) == 1 and h.engine.finished_campaigns() == set()
    power_call(h, h.dials()[-1])
    h.run_until(h.now + 20)
    assert len(finished(h)) == 2


def test_a_restored_finished_campaign_is_not_told_again_but_new_contacts_reopen_it() -> None:
    h = DiallerHarness(dialler_settings(campaign(mode=POWER), wrap_up=0.0), [contact(1)])
    h.state[("spring", 1)] = ContactProgress("spring", 1, DONE, 1, None, "answered", None)  # done before
    h.engine.restore_finished({"spring", "gone"})  # as the event log says; "gone" is not configured
    assert h.engine.finished_campaigns() == {"spring"}
    h.ready("a1")
    h.run_until(h.now + 60)
    assert not finished(h) and not h.dials()
    h.add(contact(2))
    h.send(ev.ContactsChanged(h.now, "spring"))
    assert len(h.activities(CAMPAIGN_REOPENED)) == 1
    power_call(h, h.dials()[-1])
    h.run_until(h.now + 20)
    assert len(finished(h)) == 1


def test_a_load_answered_after_a_contact_was_given_back_proves_nothing() -> None:
    """The store read the list while contact 1 was claimed (dialled); the dial then failed and
    contact 1 was scheduled for a retry before the answer arrived: that answer's "nothing left"
    predates the retry, so the campaign is not finished."""
    retry = RetryIntervals(busy=600.0, no_answer=600.0, machine=600.0, failed=600.0)
    h = DiallerHarness(dialler_settings(campaign(mode=POWER, max_attempts=3, retry=retry)), [contact(1)])
    h.ready("a1")
    dial = h.dials()[0]
    h.answer_loads = False
    h.run_until(h.now + 16)  # the window is empty: the engine asks the store again
    assert h.pending_loads, "a load is in flight"
    stale = ev.ContactsLoaded(h.now, "spring", (), exhausted=True)  # read while contact 1 was claimed
    h.fail(dial.leg_id, AttemptOutcome.BUSY)
    assert h.progress(1).state == "scheduled"  # type: ignore[union-attr]
    h.answer_loads = True
    h.send(stale)
    assert not finished(h)
    h.run_until(h.now + 120)  # later loads see contact 1 scheduled: still open
    assert not finished(h)


def test_a_campaign_with_no_contacts_yet_is_not_finished_until_its_first_list_is() -> None:
    h = DiallerHarness(dialler_settings(campaign(mode=POWER), wrap_up=0.0), [])
    h.ready("a1")
    h.run_until(h.now + 120)  # polls of an empty list
    assert not finished(h)
    h.add(contact(1))
    h.send(ev.ContactsChanged(h.now, "spring"))
    assert not h.activities(CAMPAIGN_REOPENED)  # it was never finished
    power_call(h, h.dials()[0])
    h.run_until(h.now + 20)
    assert len(finished(h)) == 1
