"""The live page's log-outs in the store (both backends): kept until the cookie would expire,
read back by a second store on the same database (a restart, or a standby taking over)."""

from __future__ import annotations

from app.store.web_sessions import RevocationStore
from tests.store.conftest import StoreFactory

NOW = 1_800_000_000.0


async def test_a_log_out_is_read_back_until_its_cookie_expires(store_factory: StoreFactory) -> None:
    first = await store_factory()
    assert isinstance(first, RevocationStore)
    await first.revoke_session("sid-a", "sam", NOW + 3600, NOW)
    await first.revoke_session("sid-b", "vic", NOW + 60, NOW)
    await first.revoke_session("sid-a", "sam", NOW + 3600, NOW + 1)  # logged out twice: one row
    again = await store_factory()  # as after a restart
    assert isinstance(again, RevocationStore)
    assert await again.revoked_sessions(NOW) == {"sid-a": NOW + 3600, "sid-b": NOW + 60}
    assert await again.revoked_sessions(NOW + 60) == {"sid-a": NOW + 3600}  # sid-b's cookie has expired
    await again.revoke_session("sid-c", "ada", NOW + 7200, NOW + 120)  # writing drops the expired rows
    assert await first.revoked_sessions(0.0) == {"sid-a": NOW + 3600, "sid-c": NOW + 7200}
