"""The log-in throttle (app/web/auth.py Throttle): a guessed name stays blocked through a flood of
made-up names, and memory holds only names with a failure in the window."""

from __future__ import annotations

from app.web.auth import Throttle

NOW = 1_000_000.0


def test_a_guessed_name_stays_blocked_through_a_flood_of_made_up_names() -> None:
    throttle = Throttle()
    for _ in range(Throttle.MAX_FAILURES):
        throttle.failed("vic", NOW)
    assert throttle.blocked("vic", NOW + 1)
    # Twice the bound of made-up names in the same window: before, passing the bound cleared every
    # count, "vic"'s too, and the guessing could go on.
    for i in range(2 * Throttle.MAX_NAMES):
        throttle.failed(f"made-up-{i}", NOW + 2)
    assert throttle.blocked("vic", NOW + 3)
    # Pruning a full table at every failure of a flood would make each one scan the table: the bound
    # doubles instead (10,000 then 20,000 names), so the flood prunes twice.
    assert throttle.prunes == 2
    assert not throttle.blocked("vic", NOW + Throttle.WINDOW + 1)  # the window ends, for vic too


def test_only_names_with_a_failure_in_the_window_are_kept() -> None:
    throttle = Throttle()
    for i in range(Throttle.MAX_NAMES):
        throttle.failed(f"old-{i}", NOW)
    assert not throttle.blocked("sam", NOW)  # asking keeps nothing for a name that never failed
    assert throttle.names == Throttle.MAX_NAMES
    later = NOW + Throttle.WINDOW + 1
    throttle.failed("new", later)  # past the bound: the expired ones are forgotten
    assert throttle.names == 1 and not throttle.blocked("old-1", later)
