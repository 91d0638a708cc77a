"""Does a queue keep a callback's place? The offer says "you keep your place" only when it does.

Theory of operation (the rules are `app/core/dispatch.py`'s): with `order: keep_place` the first
dispatchable request in place order takes the next free agent, so a callback is served where its
caller would have been, provided the callback is dispatchable whenever it reaches the head:
- `dispatch: always`: `when_agents_free` / `when_no_callers_waiting` hold callbacks back while
  callers behind them are served;
- `max_callback_agent_share: 1`: below 1, once that share of the agents is busy on callbacks,
  callers behind a callback are served first;
- `callback_delay: 0`: during the delay callers behind the callback are served first.
The other orders pick a callback by request time or at random, not by the caller's place.

Not counted as breaking the promise, because no setting avoids it: a retry after a failed attempt
goes to the end of the queue (the place is kept for the first attempt), and callers still on the
line after closing time are served while callbacks wait for the next opening.

The rule itself is the core's (`CallbackSettings.keeps_place`, which picks the prompts the
engine plays): this module only names, for an admin, the settings that break it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.config.durations import format_duration
from app.core.settings import CallbackOrder, CallbackSettings, DispatchPolicy

__all__ = ["PlacePromise", "keeps_place", "place_promise"]


class CallbackPolicy(Protocol):
    """What decides the promise; both `CallbackConfig` and the core's `CallbackSettings` have it."""

    @property
    def dispatch(self) -> DispatchPolicy: ...
    @property
    def order(self) -> CallbackOrder: ...
    @property
    def max_callback_agent_share(self) -> float: ...
    @property
    def callback_delay(self) -> float: ...


@dataclass(frozen=True)
class PlacePromise:
    kept: bool
    breaks: tuple[str, ...]  # the settings that break it, as written in the file ("dispatch: when_agents_free")


def place_promise(cb: CallbackPolicy) -> PlacePromise:
    breaks: list[str] = []
    if cb.dispatch is not DispatchPolicy.ALWAYS:
        breaks.append(f"dispatch: {cb.dispatch.value}")
    if cb.order is not CallbackOrder.KEEP_PLACE:
        breaks.append(f"order: {cb.order.value}")
    if cb.max_callback_agent_share < 1:
        breaks.append(f"max_callback_agent_share: {cb.max_callback_agent_share:g}")
    if cb.callback_delay > 0:
        breaks.append(f"callback_delay: {format_duration(cb.callback_delay)}")
    return PlacePromise(kept=keeps_place(cb), breaks=tuple(breaks))


def keeps_place(cb: CallbackPolicy) -> bool:
    """True when a callback is served exactly where its caller would have been: the core's rule."""
    return CallbackSettings(
        dispatch=cb.dispatch,
        order=cb.order,
        max_callback_agent_share=cb.max_callback_agent_share,
        callback_delay=cb.callback_delay,
    ).keeps_place
