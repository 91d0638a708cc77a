"""Parity shares calls among campaigns of one order from the moment they dial together: a campaign
that enters the pool (resumed, added, contacts again after none) starts level with the pool's
lowest share, not from zero against the others' whole history (it took every agent until it had
caught up)."""

from __future__ import annotations

from collections import Counter

from app.core import events as ev
from app.core.settings import CampaignState
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings


def offers(h: DiallerHarness, n: int) -> Counter[str]:
    """The campaigns of the next `n` previews offered to a1 (each skipped at once)."""
    out: Counter[str] = Counter()
    for _ in range(n):
        found = h.engine.contact_for_agent("a1")
        assert found is not None
        out[found[1].campaign] += 1
        h.at(5).send(ev.ContactSkipped(h.now, "a1"))
    return out


def two_campaigns(b_state: CampaignState = CampaignState.PAUSED, b_parity: int = 1) -> DiallerHarness:
    core = dialler_settings(campaign("a"), campaign("b", state=b_state, parity=b_parity), agents=1)
    contacts = [contact(i, campaign_id="a") for i in range(1, 6)]
    contacts += [contact(i, campaign_id="b", number=f"+45300000{i:02d}") for i in range(1, 6)]
    return DiallerHarness(core, contacts)


def test_a_resumed_campaign_shares_by_parity_from_now() -> None:
    h = two_campaigns()
    h.ready("a1")
    assert offers(h, 30) == {"a": 30}
    h.send(ev.CampaignControl(h.now, "b", "start"))
    after = offers(h, 20)
    assert 9 <= after["a"] <= 11, after  # was 0: b took all until it had 30 too


def test_a_resumed_campaign_keeps_its_parity_ratio() -> None:
    h = two_campaigns(b_parity=3)
    h.ready("a1")
    offers(h, 30)
    h.send(ev.CampaignControl(h.now, "b", "start"))
    after = offers(h, 20)
    assert 4 <= after["a"] <= 6, after  # 1:3


def test_a_campaign_whose_list_was_empty_does_not_catch_up_when_contacts_come() -> None:
    h = two_campaigns(b_state=CampaignState.RUNNING)
    b_contacts = {k: v for k, v in h.store.items() if k[0] == "b"}
    for k in b_contacts:
        del h.store[k]
    h.ready("a1")
    assert offers(h, 30) == {"a": 30}
    h.store.update(b_contacts)  # an upload
    h.send(ev.ContactsChanged(h.now, "b"))
    after = offers(h, 20)
    assert after["a"] >= 8, after
