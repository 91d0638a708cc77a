"""When a waiting caller hears "press 1 and we call you back — you keep your place".

Theory of operation: in `repeat` mode the first offer is considered `min_wait_before_offer`
after arrival and then every `reoffer_interval`; it is played only while the caller's estimated
remaining wait is at least `offer_threshold` (otherwise we look again next interval). In
`on_arrival` mode the offer is considered once, right after the caller is answered. An unknown
estimate (no agent serves the queue) counts as long: the caller may wait for ever, so the offer is
worth making. A caller
busy in the callback menu is not interrupted. Ineligible numbers are not offered (the engine
checks), though pressing the key still tells them why.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.settings import CallbackSettings, OfferMode


@dataclass(frozen=True, slots=True)
class OfferDecision:
    offer_now: bool
    next_at: float | None


def first_offer_at(cb: CallbackSettings, now: float) -> float | None:
    if not cb.enabled:
        return None
    if cb.offer_mode is OfferMode.ON_ARRIVAL:
        return now
    return now + cb.min_wait_before_offer


def decide(
    cb: CallbackSettings, estimate: float | None, now: float, offers_so_far: int, in_menu: bool
) -> OfferDecision:
    once = cb.offer_mode is OfferMode.ON_ARRIVAL
    if in_menu:
        return OfferDecision(False, None if once else now + cb.reoffer_interval)
    worth_it = estimate is None or estimate >= cb.offer_threshold
    if once:
        return OfferDecision(worth_it and offers_so_far == 0, None)
    return OfferDecision(worth_it, now + cb.reoffer_interval)
