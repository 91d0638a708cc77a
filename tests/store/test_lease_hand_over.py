"""Two nodes never act on Asterisk at once: the lease fences the store, and these keep the leader's
commands to Asterisk inside its lease too (app/telephony/leadership.py, executor.may_act).

- A clean stop (SIGTERM, a rolling upgrade) lets the executor finish before the lease is released:
  a standby that led while an originate was still in flight would not see its channel at resync,
  take the leg for lost and ring the agent (or dial the customer) a second time.
- A leader that stalled past its lease (a GC pause, SIGSTOP) sends nothing more: a standby may lead.

Runs when HOLDFAST_TEST_POSTGRES_DSN is set; under CI a missing database fails (conftest).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry

from app.telephony import leadership as leadership_module
from app.telephony.leadership import Leadership
from tests.ari.fake_ari import FakeAri
from tests.ari.fixtures import fake_ari  # noqa: F401  (the fixture)
from tests.store.conftest import POSTGRES_DSN
from tests.store.test_lease import Nodes, nodes  # noqa: F401  (the fixture)
from tests.telephony.conftest import make_shell

pytestmark = pytest.mark.skipif(not POSTGRES_DSN, reason="set HOLDFAST_TEST_POSTGRES_DSN to run PostgreSQL tests")


async def test_a_clean_stop_finishes_with_asterisk_before_a_standby_may_lead(
    fake_ari: FakeAri,  # noqa: F811
    nodes: Nodes,  # noqa: F811
) -> None:
    old_store, standby_store = await nodes(), await nodes()
    shell = await make_shell(fake_ari, store=old_store)
    shell.service.lock = Leadership(old_store, time.time, lambda: shell.service.fail("lease_lost"), CollectorRegistry())
    await shell.start()
    shell.ready("1001")
    fake_ari.delay("POST", "/channels", 1.5)  # Asterisk slow to answer the agent's originate
    await shell.caller()
    await shell.eventually(lambda: bool(fake_ari.calls_to("POST", "/channels")), "the agent's originate sent")
    originate = fake_ari.calls_to("POST", "/channels")[0]
    assert not originate.handled

    standby = Leadership(standby_store, time.time, lambda: None, CollectorRegistry())
    taking = asyncio.ensure_future(standby.wait_for_lease())
    stopping = asyncio.ensure_future(shell.service.stop())  # SIGTERM on the leader
    await asyncio.wait_for(taking, 10)
    # The moment the standby leads (and would read Asterisk's channels): the old leader is done.
    assert originate.handled, "the standby leads while the old leader's originate is still in flight"
    assert stopping.done() and shell.service.fatal_reason is None
    await standby.release()


async def test_a_leader_past_its_lease_sends_nothing_to_asterisk_and_stops(
    fake_ari: FakeAri,  # noqa: F811
    nodes: Nodes,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(leadership_module, "LEASE_TTL", 0.4)
    monkeypatch.setattr(leadership_module, "REFRESH_EVERY", 60.0)  # a leader that stalled: no refresh comes
    store = await nodes()
    shell = await make_shell(fake_ari, store=store)
    lease = shell.service.lock = Leadership(
        store, time.time, lambda: shell.service.fail("lease_lost"), CollectorRegistry()
    )
    await shell.start()
    assert lease.may_act()
    await shell.eventually(lambda: not lease.may_act(), "the lease to run out", timeout=3.0)
    shell.ready("1001")
    await shell.caller()
    await asyncio.wait_for(shell.service.fatal.wait(), 3.0)
    assert shell.service.fatal_reason == "lease_not_ours"
    await shell.settle()
    assert fake_ari.calls_to("POST", "/channels") == []  # the agent was not rung
    await shell.stop()
