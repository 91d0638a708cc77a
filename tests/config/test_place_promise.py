"""Whether a queue keeps a callback's place (the offer's promise), and check-config saying so."""

from __future__ import annotations

import pytest

from app.config import summarize
from app.config.promise import keeps_place, place_promise
from app.core.settings import CallbackOrder, CallbackSettings, DispatchPolicy

from .helpers import BASE, EXAMPLE, EXAMPLE_ENV, valid, with_value


def test_the_defaults_keep_the_place() -> None:
    assert place_promise(CallbackSettings()).kept
    assert keeps_place(valid(BASE).queues["support"].callback)


@pytest.mark.parametrize(
    ("changes", "breaks"),
    [
        ({"dispatch": DispatchPolicy.WHEN_AGENTS_FREE}, ("dispatch: when_agents_free",)),
        ({"dispatch": DispatchPolicy.WHEN_NO_CALLERS_WAITING}, ("dispatch: when_no_callers_waiting",)),
        ({"order": CallbackOrder.OLDEST_FIRST}, ("order: oldest_first",)),
        ({"order": CallbackOrder.NEWEST_FIRST}, ("order: newest_first",)),
        ({"order": CallbackOrder.RANDOM}, ("order: random",)),
        ({"max_callback_agent_share": 0.5}, ("max_callback_agent_share: 0.5",)),
        ({"callback_delay": 120.0}, ("callback_delay: 2m",)),
        (
            {"dispatch": DispatchPolicy.WHEN_AGENTS_FREE, "max_callback_agent_share": 0.5},
            ("dispatch: when_agents_free", "max_callback_agent_share: 0.5"),
        ),
    ],
)
def test_each_setting_that_breaks_the_promise(changes: dict[str, object], breaks: tuple[str, ...]) -> None:
    promise = place_promise(CallbackSettings(**changes))  # type: ignore[arg-type]
    assert not promise.kept and promise.breaks == breaks
    assert not keeps_place(CallbackSettings(**changes))  # type: ignore[arg-type]


def test_config_and_core_settings_agree() -> None:
    cfg = valid(with_value("queues.support", {"callback": {"dispatch": "when_agents_free", "callback_delay": "30s"}}))
    q = cfg.queues["support"]
    assert place_promise(q.callback) == place_promise(q.to_settings("support").callback)
    assert place_promise(q.callback).breaks == ("dispatch: when_agents_free", "callback_delay: 30s")


def test_the_example_keeps_the_place_it_promises() -> None:
    from app.config import load_config

    cfg = load_config(EXAMPLE, env=EXAMPLE_ENV)
    assert keeps_place(cfg.queues["support"].callback)
    assert "dispatch always, order keep_place; callbacks keep their place;" in summarize(cfg)


def test_summary_says_per_queue_whether_the_place_is_kept() -> None:
    data = with_value("queues.sales", {"callback": {"dispatch": "when_agents_free"}})
    data = with_value("queues.other", {"callback": {"enabled": False}}, data)
    lines = {line.split(":")[0].strip(): line for line in summarize(valid(data)).splitlines()}
    assert "; callbacks keep their place;" in lines["support"]
    assert (
        "; callbacks do NOT keep their place (dispatch: when_agents_free): the offer omits the promise;"
        in lines["sales"]
    )
    assert "callback off" in lines["other"] and "their place" not in lines["other"]
