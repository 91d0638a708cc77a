"""Active/standby on PostgreSQL, on real Asterisk: two `holdfast run` processes share one database;
the leader holds the lease, the standby waits and takes over when the leader dies or freezes.

The nodes are conftest's ServiceProcess (tests/e2e/standby_nodes.py); the event log is read
from PostgreSQL. Needs HOLDFAST_TEST_POSTGRES_DSN (fails under CI without it).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from phonesim import PhoneSim
from standby_nodes import STANDBY_TEXT, DbLink, Node, make_nodes, node_config
from test_kill9_journeys import guarded, of, ready

pytestmark = pytest.mark.e2e

WAITING = ["+4520555001", "+4520555002", "+4520555003"]  # callbacks waiting in queue cbs
RINGING = "+4520555000"  # the callback being dialled when the leader dies


@pytest.fixture
async def nodes(sut_asterisk, test_agents, tmp_path: Path) -> AsyncIterator[tuple[Node, Node, str]]:
    async for pair in make_nodes(sut_asterisk, test_agents, tmp_path):
        yield pair


async def book(node: Node, queue: str, number: str) -> str:
    status, body = await node.api("POST", "/api/callbacks", json={"queue": queue, "number": number})
    assert status == 201, body
    return str(body["request_id"])


async def test_kill9_of_the_leader_the_standby_takes_over_nobody_dialled_twice_every_callback_served_once(
    nodes: tuple[Node, Node, str], phonesim: PhoneSim
) -> None:
    a, b, _ = nodes
    await a.start()
    await b.start(standby=True)
    status, health = await b.health()
    assert status == 503 and f"{STANDBY_TEXT} (held by " in health["error"] and "epoch 1)" in health["error"], health
    assert (await a.store_events.lease()).owner.split(":")[1] == str(a.proc.pid)  # type: ignore[union-attr]
    assert await a.metric("holdfast_leader") == 1.0 and await b.metric("holdfast_leader") == 0.0
    # A standby takes no API calls (it would queue changes nobody commits).
    assert await b.status_of("POST", "/api/callbacks", json={"queue": "cbs", "number": WAITING[0]}) == 404

    phonesim.set_behaviour(f"customer:{RINGING}", "manual")  # rings; answered only after the takeover
    for number in WAITING:
        phonesim.set_behaviour(f"customer:{number}", ("talk", 2.0))  # answers, hangs up 2 s later
    ringing_id = await book(a, "cbs", RINGING)
    await ready(a, "1001")  # one agent: one callback dialled at a time, the others wait
    ringing = await guarded(a, phonesim.wait_incoming(f"customer:{RINGING}", timeout=20), "first dial", 22)
    await a.wait_events(lambda ev: of(ev, "attempt_started", ringing_id), "attempt stored")
    waiting_ids = [await book(a, "cbs", n) for n in WAITING]

    a.kill9()
    assert not ringing.answered, "the customer should still be ringing when the leader dies"
    await b.wait_leading(timeout=20)
    assert await b.metric("holdfast_leader") == 1.0 and await b.metric("holdfast_lease_epoch") == 2.0
    # b adopted the leg a was dialling: the customer answers it and talks with the agent.
    await ringing.answer()
    await b.wait_events(lambda ev: of(ev, "connected", ringing_id), "the adopted dial connected", 15)
    await guarded(b, ringing.wait_audio_flowing(), "audio on the adopted call", 10)
    await ringing.hangup()

    # Every callback is served exactly once, every number dialled exactly once (the ringing one by a only).
    for request_id, number in zip([ringing_id, *waiting_ids], [RINGING, *WAITING], strict=True):
        await b.wait_events(
            lambda ev, r=request_id: of(ev, "ended", r), f"{number}'s callback ({request_id}) ended", 90
        )
    events = await b.store_events.refresh()
    dials = Counter(c.dest for c in phonesim.calls.values() if c.kind == "customer")
    for request_id, number in zip([ringing_id, *waiting_ids], [RINGING, *WAITING], strict=True):
        [ended] = of(events, "ended", request_id)
        assert ended.data["outcome"] == "served", b.diagnose_sync()
        assert len(of(events, "connected", request_id)) == 1, b.diagnose_sync()
        attempts = [e.data["attempt"] for e in of(events, "attempt_started", request_id)]
        assert len(attempts) == len(set(attempts)), f"{number}: attempt numbers {attempts}"
        assert dials[number] == len(attempts), f"{number} dialled {dials[number]} times for attempts {attempts}"
    assert all(dials[n] == 1 for n in [RINGING, *WAITING]), dials

    # The old leader restarted becomes the standby; b still leads at epoch 2.
    await a.start(standby=True)
    status, health = await a.health()
    assert status == 503 and f":{b.proc.pid}, epoch 2)" in health["error"], health  # type: ignore[union-attr]
    assert b.running and b.unexpected_exits == [] and a.unexpected_exits == [], b.diagnose_sync()


async def test_a_leader_frozen_beyond_its_lease_does_not_act_and_exits_at_its_first_write(
    nodes: tuple[Node, Node, str], phonesim: PhoneSim
) -> None:
    a, b, _ = nodes
    await a.start()
    await b.start(standby=True)
    await ready(a, "1001")

    a.pause()  # SIGSTOP: a stops refreshing its lease but keeps its connections
    frozen_at = time.monotonic()
    await b.wait_leading(timeout=20)
    took_over = time.monotonic() - frozen_at
    assert took_over < 10, f"takeover took {took_over:.1f} s"
    lease = await b.store_events.lease()
    assert lease is not None and lease.epoch == 2 and lease.owner.split(":")[1] == str(b.proc.pid)  # type: ignore[union-attr]

    # b serves a callback booked on it while a is still frozen.
    phonesim.set_behaviour(f"customer:{WAITING[0]}", ("talk", 2.0))
    served_id = await book(b, "cbs", WAITING[0])
    await b.wait_events(lambda ev: of(ev, "ended", served_id), "callback on b ended", 60)

    # A request reaches a while it is still frozen (the kernel queues it), so on SIGCONT a has a
    # write to make at once, alongside its lease refresh and Asterisk's news.
    late = "+4520555099"
    post = asyncio.ensure_future(a.api("POST", "/api/callbacks", json={"queue": "cbs", "number": late}))
    done, _ = await asyncio.wait([post], timeout=0.5)
    assert not done, "a frozen process answered"
    a.resume()  # SIGCONT: a wakes up believing it leads
    try:
        status, body = await asyncio.wait_for(post, 10)
    except Exception as error:  # the process may stop before answering: no answer at all is fine too
        status, body = None, {"error": repr(error)}
    assert status != 201, f"a deposed leader accepted a callback: {body}"
    code = await a.wait_exit(timeout=15)
    assert code != 0, f"a deposed leader exited {code}\n{a.diagnose_sync()}"
    log = a.log.read_text(errors="replace")
    # Whichever guard a notices first stops it, with a critical line: its next write refused by
    # the fence (FencedOut "... no longer current"), its lease refresh refused (lease_lost /
    # lease_expired), or Asterisk telling it b's connection replaced its Stasis app. The order
    # of these after SIGCONT is the event loop's; the fence itself is proven in tests/store.
    critical = [line for line in log.splitlines() if '"level": "critical"' in line and "service_stopping" in line]
    assert critical, log[-3000:]
    guards = ("no longer current", "lease_lost", "lease_expired", "application_replaced")
    assert any(g in critical[0] for g in guards), critical[0]
    print(f"deposed leader stopped by: {critical[0]}")

    events = await b.store_events.refresh()
    assert not [e for e in events if late in str(e.data)], "a deposed leader wrote"
    assert not [c for c in phonesim.calls.values() if c.dest == late], "a dialled after being deposed"
    [ended] = of(events, "ended", served_id)
    assert ended.data["outcome"] == "served"
    assert sum(1 for c in phonesim.calls.values() if c.kind == "customer" and c.dest == WAITING[0]) == 1

    # Restarted, a is the standby; b keeps leading.
    await a.start(standby=True)
    assert (await b.health())[0] == 200 and b.running and b.unexpected_exits == [], b.diagnose_sync()


async def test_a_leader_cut_off_from_the_database_stops_and_the_standby_takes_over(
    nodes: tuple[Node, Node, str], phonesim: PhoneSim, sut_asterisk, test_agents
) -> None:
    a, b, dsn = nodes
    host_port = dsn.split("@", 1)[1].split("/", 1)[0]
    link = DbLink(host_port.split(":")[0], int(host_port.split(":")[1]))
    await link.start()
    try:
        # a reaches the database through the link only.
        proxied = dsn.replace(f"@{host_port}/", f"@127.0.0.1:{link.port}/")
        port = int(a.url.rsplit(":", 1)[1])
        a.config_path.write_text(node_config(sut_asterisk, test_agents, port, a.data_dir, proxied))
        await a.start()
        await b.start(standby=True)
        await ready(a, "1001")
        before = len(await b.store_events.refresh())

        link.cut.set()  # the partition: a's queries go nowhere from now on
        cut_at = time.monotonic()
        code = await a.wait_exit(timeout=20)
        stopped_after = time.monotonic() - cut_at
        await b.wait_leading(timeout=20)
        assert code != 0, a.diagnose_sync()
        log = a.log.read_text(errors="replace")
        critical = [line for line in log.splitlines() if '"level": "critical"' in line]
        assert critical, log[-3000:]
        print(f"cut-off leader stopped after {stopped_after:.1f} s by: {critical[0]}")
        # It gives up its lease when it cannot refresh it in time, or hears from Asterisk that b
        # took the app over, whichever comes first; either way it stops and exits non-zero.
        assert any(g in critical[0] for g in ("lease_expired", "lease_lost", "application_replaced")), critical
        # lease ttl 3 s, then its bounded shutdown (commits to a database it cannot reach wait out
        # their timeout): it stops, it does not hang; wait_exit(timeout=20) bounds it.
        assert stopped_after < 20, critical

        # b leads at epoch 2 and serves; nothing was written between the cut and b's start.
        lease = await b.store_events.lease()
        assert lease is not None and lease.epoch == 2
        events = await b.store_events.refresh()
        assert all(e.at >= lease.acquired_at for e in events[before:]), [(e.kind, e.at) for e in events[before:]]
        phonesim.set_behaviour(f"customer:{WAITING[1]}", ("talk", 2.0))
        served_id = await book(b, "cbs", WAITING[1])
        await b.wait_events(lambda ev: of(ev, "ended", served_id), "callback on b ended", 60)
        [ended] = of(await b.store_events.refresh(), "ended", served_id)
        assert ended.data["outcome"] == "served"
    finally:
        await link.close()
