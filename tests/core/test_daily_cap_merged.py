"""callback.max_per_number_per_day and the merge of a second callback to one number
(callback.allow_duplicate_numbers off): a caller who asks again while their callback waits keeps
one callback, and one callback is what the daily cap counts, from the latest ask."""

from __future__ import annotations

import pytest

from app.core import events as ev
from app.core.errors import DailyLimitReached
from app.core.promise_log import DAY
from app.core.settings import CoreSettings
from app.core.states import RequestKind
from tests.core.harness import DK_MOBILE, Harness, callback_settings, settings
from tests.core.test_recovery import web_callback


def capped(limit: int, **cb: object) -> CoreSettings:
    fields: dict[str, object] = {
        "allow_duplicate_numbers": False,
        "allow_other_number": False,
        "min_wait_before_offer": 0.0,
        "offer_threshold": 0.0,
        "max_per_number_per_day": limit,
    }
    return settings(agents=1, callback=callback_settings(**{**fields, **cb}))


def test_a_callback_asked_for_again_while_it_waits_counts_once_against_the_cap() -> None:
    h = Harness(capped(limit=2))
    web_callback(h, "w1")  # the web form's callback waits (nobody is logged in)
    h.at(60).arrive("r1", number=DK_MOBILE)  # the same customer calls in and takes a callback too
    h.dtmf("r1", "1")
    asked_again = h.now
    assert h.engine.callbacks_to("support", DK_MOBILE) == {"r1"}  # merged: one callback
    assert h.activities("callback_merged", "r1")[0].data["merged"] == "w1"
    h.send(ev.CallbackRemoved(h.at(600).now, "r1", by="alice"))  # over (a removed one still counts)
    h.at(3600)
    web_callback(h, "w2")  # the second callback of the day: within a cap of 2
    assert h.engine.requests["w2"].kind is RequestKind.CALLBACK
    h.send(ev.CallbackRemoved(h.now, "w2", by="alice"))
    with pytest.raises(DailyLimitReached) as info:
        web_callback(h, "w3")  # the third is refused: the cap still holds
    # the merged pair counts from the latest ask, the callback that was kept
    assert info.value.free_again_at == asked_again + DAY


def test_asking_three_times_while_waiting_is_still_one_callback() -> None:
    h = Harness(capped(limit=2, abandon_callback_after=30.0))
    web_callback(h, "w1")
    h.at(60).arrive("r1", number=DK_MOBILE)
    h.dtmf("r1", "1")  # merges w1
    h.at(60).arrive("r2", number=DK_MOBILE)
    h.at(40).hang_up("r2")  # hangs up after abandon_callback_after: a callback, merging r1
    # still one callback, so within a cap of 2 (counted twice, it was refused: abandoned, no callback)
    assert h.engine.callbacks_to("support", DK_MOBILE) == {"r2"}
    assert h.engine.promises.count(DK_MOBILE, h.now) == 1
    assert len(h.engine.promises) == 1
