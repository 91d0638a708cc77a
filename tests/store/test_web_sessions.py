"""The live page's log-outs in the store (both backends): kept until the cookie would expire,
read back by a second store on the same database (a restart, or a standby taking over). And the
key that signs the cookies: one for every node on the store, the first one offered."""

from __future__ import annotations

import asyncio
import os

import pytest

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


async def test_the_first_session_key_offered_is_the_one_every_node_gets(store_factory: StoreFactory) -> None:
    first, second = await store_factory(), await store_factory()  # two nodes on one database
    leader_key, standby_key = os.urandom(32), os.urandom(32)
    assert await first.session_key(leader_key) == leader_key  # none stored yet: the candidate is stored
    assert await second.session_key(standby_key) == leader_key  # the standby's own is not taken
    assert await first.session_key(os.urandom(48)) == leader_key  # nor a later one, by anyone
    again = await store_factory()  # a restart
    assert await again.session_key(os.urandom(32)) == leader_key


async def test_nodes_starting_at_once_end_with_the_same_session_key(store_factory: StoreFactory) -> None:
    nodes = [await store_factory() for _ in range(4)]
    offered = [os.urandom(32) for _ in nodes]
    got = await asyncio.gather(*(n.session_key(k) for n, k in zip(nodes, offered, strict=True)))
    assert len(set(got)) == 1 and got[0] in offered  # one of them won, and everyone has it
    assert await nodes[0].session_key(os.urandom(32)) == got[0]


async def test_a_short_session_key_is_refused_and_not_stored(store_factory: StoreFactory) -> None:
    store = await store_factory()
    with pytest.raises(ValueError, match="at least 32 bytes"):
        await store.session_key(b"too short")
    key = os.urandom(32)
    assert await store.session_key(key) == key
