"""Wrong log-in passwords in the store (both backends): read back by a second store on the same
database (a restart, or a standby taking over), oldest first, and the rows that left the throttle's
window are forgotten by the next write, so the table stays one window's."""

from __future__ import annotations

from app.store.login_failures import LoginFailure, LoginFailureStore
from tests.store.conftest import StoreFactory

NOW = 1_800_000_000.0
WINDOW = 300.0


async def test_failures_are_read_back_by_another_store_on_the_database(store_factory: StoreFactory) -> None:
    first = await store_factory()
    assert isinstance(first, LoginFailureStore)
    batch = [
        LoginFailure("vic", "192.0.2.1", NOW),
        LoginFailure("vic", None, NOW + 1),
        LoginFailure("sam", "2001:db8::1", NOW + 2),
    ]
    await first.add_login_failures(batch, forget_before=NOW - WINDOW)
    again = await store_factory()  # as after a restart
    assert isinstance(again, LoginFailureStore)
    assert await again.login_failures(NOW - WINDOW) == batch
    assert await again.login_failures(NOW + 1) == batch[1:]  # from `since` on


async def test_a_write_forgets_the_failures_that_left_the_window(store_factory: StoreFactory) -> None:
    store = await store_factory()
    assert isinstance(store, LoginFailureStore)
    old = [LoginFailure(f"name{i}", "198.51.100.7", NOW + i) for i in range(50)]
    await store.add_login_failures(old, forget_before=NOW - WINDOW)
    later = LoginFailure("vic", "192.0.2.1", NOW + WINDOW + 10)
    await store.add_login_failures([later], forget_before=later.at - WINDOW)
    assert await store.login_failures(0.0) == [*old[10:], later]  # the first ten are gone from the table
    await store.add_login_failures([], forget_before=NOW + 10 * WINDOW)  # nothing new: still forgets
    assert await store.login_failures(0.0) == []
