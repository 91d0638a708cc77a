"""The callback offer and the callback menu."""

from __future__ import annotations

import pytest

from app.core import commands as c
from app.core.settings import EligibilityRules, OfferMode
from app.core.states import RequestKind, RequestState
from tests.core.harness import DK_MOBILE, DK_MOBILE_2, Harness, callback_settings, settings


def make(agents: int = 0, **cb: object) -> Harness:
    # with no agent logged in there is no estimate, which counts as long: offers are worth making
    return Harness(settings(agents=max(agents, 1), callback=callback_settings(**cb)))


def offers(h: Harness, rid: str = "r1") -> list[float]:
    return [a.at for a in h.activities("offered", rid)]


def test_offer_waits_for_min_wait_then_repeats_every_reoffer_interval() -> None:
    h = make(min_wait_before_offer=20, reoffer_interval=30)
    start = h.now
    h.arrive("r1")
    h.run_until(start + 85)
    assert offers(h) == [start + 20, start + 50, start + 80]
    prompt = next(p for p in Harness.of(h.log, c.PlayPrompt) if p.items[0].name == "callback_offer")
    assert prompt.items[0].value == "1"


def test_no_offer_when_estimated_wait_is_below_threshold() -> None:
    h = make(offer_threshold=60)
    h.engine.estimator = _Fixed(30.0)
    h.ready("a1")  # an agent serves the queue (busy with r0), so there is an estimate to judge
    h.arrive("r0", number=None)
    h.answer(h.one(h.log, c.OriginateAgent).leg_id)
    h.arrive("r1")
    h.run_until(h.now + 100)
    assert offers(h) == []
    h.engine.estimator = _Fixed(60.0)
    h.run_until(h.now + 30)
    assert len(offers(h)) == 1


def test_on_arrival_offers_once() -> None:
    h = make(offer_mode=OfferMode.ON_ARRIVAL)
    start = h.now
    h.arrive("r1")
    h.run_until(start + 600)
    assert offers(h) == [start]


def test_offer_key_is_configurable() -> None:
    h = make(key="5", allow_other_number=False)
    h.arrive("r1")
    h.dtmf("r1", "1")
    assert h.engine.requests["r1"].kind is RequestKind.INBOUND
    h.dtmf("r1", "5")
    assert h.engine.requests["r1"].kind is RequestKind.CALLBACK


@pytest.mark.parametrize("number", [None, "anonymous", "+4590123456", "+46701234567"])
def test_ineligible_caller_is_not_offered_and_key_says_unavailable(number: str | None) -> None:
    h = make()
    h.arrive("r1", number=number)
    h.run_until(h.now + 100)
    assert offers(h) == []
    out = h.dtmf("r1", "1")
    assert h.prompts(out) == ["callback_unavailable"]
    assert h.engine.requests["r1"].state is RequestState.WAITING
    assert h.engine.requests["r1"].kind is RequestKind.INBOUND
    assert h.engine.position("r1") == 1


def test_callbacks_disabled_key_does_nothing_and_no_offer() -> None:
    h = make(enabled=False)
    h.arrive("r1")
    h.run_until(h.now + 100)
    assert offers(h) == []
    assert h.dtmf("r1", "1") == []


def test_key_opens_choose_number_menu() -> None:
    h = make()
    h.arrive("r1")
    assert h.prompts(h.dtmf("r1", "1")) == ["callback_choose_number"]
    assert h.engine.requests["r1"].menu is not None


def test_menu_1_accepts_this_number_with_confirmation_and_hangup() -> None:
    h = make()
    h.arrive("r1", number=DK_MOBILE)
    place = h.engine.requests["r1"].place
    h.dtmf("r1", "1")
    out = h.dtmf("r1", "1")
    prompt = Harness.one(out, c.PlayPrompt)
    assert prompt.items[0].name == "callback_confirmed" and prompt.hangup_after
    req = h.engine.requests["r1"]
    assert req.kind is RequestKind.CALLBACK and req.callback_number == DK_MOBILE and req.place == place
    assert h.activities("callback_accepted", "r1")[0].data["position"] == 1


def test_menu_2_enters_another_number_ended_by_hash() -> None:
    h = make()
    h.arrive("r1", number=DK_MOBILE)
    h.dtmf("r1", "1")
    assert h.prompts(h.dtmf("r1", "2")) == ["callback_enter_number"]
    out = h.dtmf("r1", "30123456#")
    assert h.prompts(out) == ["callback_confirmed"]
    assert h.engine.requests["r1"].callback_number == DK_MOBILE_2
    assert h.activities("callback_accepted", "r1")[0].data["entered_number"] is True


def test_entered_number_is_reprompted_once_then_unavailable_and_back_to_holding() -> None:
    h = make()
    h.arrive("r1")
    h.dtmf("r1", "12")
    out = h.dtmf("r1", "90123456#")  # premium rate
    assert h.prompts(out) == ["callback_number_invalid", "callback_enter_number"]
    assert h.activities("callback_number_refused", "r1")[0].data["reason"] == "premium_rate"
    out = h.dtmf("r1", "123#")
    assert h.prompts(out) == ["callback_unavailable"]
    req = h.engine.requests["r1"]
    assert req.menu is None and req.kind is RequestKind.INBOUND and req.state is RequestState.WAITING


def test_entered_hidden_or_blocked_number_is_refused_by_same_rules() -> None:
    h = Harness(settings(callback=callback_settings(), eligibility=_rules(blocklist=("+4530*",))))
    h.arrive("r1")
    h.dtmf("r1", "12")
    h.dtmf("r1", "30123456#")
    assert h.activities("callback_number_refused", "r1")[0].data["reason"] == "blocked"


def test_star_leaves_the_menu_or_starts_the_number_again() -> None:
    h = make()
    h.arrive("r1")
    h.dtmf("r1", "1*")  # in the choose step: leave the menu
    assert h.engine.requests["r1"].menu is None
    h.dtmf("r1", "12")
    out = h.dtmf("r1", "123*")  # digits keyed: start the number again, told so
    assert h.prompts(out) == ["callback_enter_number"]
    menu = h.engine.requests["r1"].menu
    assert menu is not None and menu.step == "enter" and menu.digits == ""
    h.dtmf("r1", "*")  # nothing keyed: leave the menu
    assert h.engine.requests["r1"].menu is None
    assert h.engine.requests["r1"].kind is RequestKind.INBOUND


def test_menu_closes_after_menu_timeout_of_silence() -> None:
    h = make()
    h.arrive("r1")
    h.dtmf("r1", "1")
    h.run_until(h.now + 9.9)
    assert h.engine.requests["r1"].menu is not None
    h.run_until(h.now + 0.1)
    assert h.engine.requests["r1"].menu is None
    assert h.activities("callback_menu_timeout", "r1")
    h.dtmf("r1", "1")  # the key opens the menu again; "1" is not taken as "this number"
    assert h.engine.requests["r1"].kind is RequestKind.INBOUND


def test_offer_is_not_played_while_caller_is_in_the_menu() -> None:
    h = make(min_wait_before_offer=20, reoffer_interval=5)
    start = h.now
    h.arrive("r1")
    h.at(19).dtmf("r1", "12")
    for _ in range(4):
        h.at(2).dtmf("r1", "3")  # keep the menu alive past the offer time
    assert offers(h) == []
    assert h.now > start + 20


def test_menu_without_other_number_accepts_at_once() -> None:
    h = make(allow_other_number=False)
    h.arrive("r1")
    assert h.prompts(h.dtmf("r1", "1")) == ["callback_confirmed"]


def test_accepted_callback_stops_offers() -> None:
    h = make(allow_other_number=False, min_wait_before_offer=20)
    start = h.now
    h.arrive("r1")
    h.dtmf("r1", "1")
    h.run_until(start + 200)
    assert offers(h) == []


class _Fixed:
    def __init__(self, value: float) -> None:
        self.value = value

    def on_served(self, queue: str, waited: float, now: float) -> None: ...

    def on_abandoned(self, queue: str, waited: float, now: float) -> None: ...

    def on_handled(self, queue: str, handle_time: float, now: float) -> None: ...

    def estimate(self, queue: str, ahead: int, agents: int, free_agents: int) -> float:
        return self.value


def _rules(blocklist: tuple[str, ...]) -> EligibilityRules:
    return EligibilityRules(blocklist=blocklist)
