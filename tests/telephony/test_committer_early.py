"""The one step acted on before it is stored: an inbound caller's agent answered, and the step only
bridges them (committer.acts_before_stored). Everything else still waits for its commit, and the
early step keeps the order of the steps put before it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.core.commands import Activity, BridgeLegs, Command, Hangup, StopPrompt
from app.core.states import RequestKind, RequestState
from app.telephony.committer import Committer, Step, acts_before_stored
from app.telephony.executor import call_bridge_id
from app.telephony.metrics import Metrics
from tests.store.test_contract import make_request
from tests.telephony.conftest import CALLER, Shell
from tests.telephony.test_committer_batch import CountingStore, step
from tests.telephony.test_service_store import FailingStore, failing_store, stored_shell  # noqa: F401 (fixtures)


def bridge_step(rid: str, *extra: Command, kind: RequestKind = RequestKind.INBOUND) -> Step:
    req = make_request(rid, kind=kind, state=RequestState.CONNECTED, customer_leg=rid, agent_leg=f"{rid}-a1")
    if kind is RequestKind.CALLBACK:
        req.callback_number = "+4520123456"
    connected = Activity("connected", rid, at=1001.0)
    commands: list[Command] = [BridgeLegs(rid, rid, f"{rid}-a1"), connected, *extra]
    return Step([req], [connected], [], commands)


class Acts:
    """What the committer handed over, in order, and whether the request was stored by then."""

    def __init__(self, store: CountingStore) -> None:
        self.store = store
        self.acted: list[str] = []
        self.stored_when_acted: list[bool] = []
        self.fatal: list[str] = []

    def __call__(self, commands: list[Command]) -> None:
        for c in commands:  # a step is named by its bridge, or its activity if it has none
            if isinstance(c, BridgeLegs) or (isinstance(c, Activity) and c.kind == "arrived"):
                assert c.request_id is not None
                self.acted.append(c.request_id)
                self.stored_when_acted.append(c.request_id in self.store.stored)

    def on_fatal(self, event: str, error: BaseException | None) -> None:
        self.fatal.append(event)


async def held_committer(tmp_path: Path) -> tuple[CountingStore, Acts, Committer]:
    store = CountingStore(tmp_path / "holdfast.db")
    await store.open()
    store.permits = asyncio.Semaphore(0)  # every commit waits for a permit
    acts = Acts(store)
    committer = Committer(store, acts, acts.on_fatal, Metrics())
    committer.retries = (0.0, None)
    committer.start()
    return store, acts, committer


def test_only_an_inbound_callers_bridge_alone_is_acted_on_before_it_is_stored() -> None:
    assert acts_before_stored(bridge_step("r1"))
    assert not acts_before_stored(bridge_step("r1", kind=RequestKind.CALLBACK))  # the promise's attempt
    assert not acts_before_stored(bridge_step("r1", kind=RequestKind.CONTACT))
    assert not acts_before_stored(bridge_step("r1", Hangup("r1-a2", "other")))  # more than the bridge
    assert not acts_before_stored(step(1))  # no bridge at all


async def test_an_inbound_bridge_is_acted_on_at_once_and_stored_after(tmp_path: Path) -> None:
    store, acts, committer = await held_committer(tmp_path)
    try:
        seq = committer.put(bridge_step("r1"))
        assert acts.acted == ["r1"] and acts.stored_when_acted == [False]  # handed over before the commit
        assert await asyncio.wait_for(store.arrived.get(), 5.0) == 1  # ...which is on its way, held
        waiter = asyncio.create_task(committer.wait_committed(seq))
        await asyncio.sleep(0.05)
        assert not waiter.done()  # wait_committed still means stored
        assert store.permits is not None
        store.permits.release()
        await asyncio.wait_for(waiter, 5.0)
        assert store.stored == {"r1"} and acts.acted == ["r1"]  # acted on once, not again at its commit
        assert committer.metrics.acted_before_stored._value.get() == 1
    finally:
        await committer.stop()
        await store.close()


async def test_a_bridge_does_not_wait_for_another_calls_step_still_at_the_store(tmp_path: Path) -> None:
    store, acts, committer = await held_committer(tmp_path)
    assert store.permits is not None
    try:
        committer.put(step(0))  # another call's step (its own legs, none of the bridge's)
        assert await asyncio.wait_for(store.arrived.get(), 5.0) == 1  # held at the store
        last = committer.put(bridge_step("r1"))
        assert acts.acted == ["r1"] and acts.stored_when_acted == [False]
        store.permits.release()
        assert await asyncio.wait_for(store.arrived.get(), 5.0) == 1  # the bridge's own commit
        store.permits.release()
        await asyncio.wait_for(committer.wait_committed(last), 5.0)
        assert acts.acted == ["r1", "r0"] and store.stored == {"r0", "r1"}
    finally:
        await committer.stop()
        await store.close()


@pytest.mark.parametrize("pending", [StopPrompt("r1"), Hangup("r1-a1", "test")], ids=["caller_leg", "agent_leg"])
async def test_a_bridge_waits_for_a_step_at_the_store_with_a_command_for_one_of_its_legs(
    tmp_path: Path, pending: Command
) -> None:
    store, acts, committer = await held_committer(tmp_path)
    assert store.permits is not None
    try:
        marker = Activity("arrived", "r0", at=1000.0)
        committer.put(Step([make_request("r0")], [marker], [], [marker, pending]))
        assert await asyncio.wait_for(store.arrived.get(), 5.0) == 1  # held at the store
        last = committer.put(bridge_step("r1"))
        assert acts.acted == []  # acting now would overtake the command for its leg
        store.permits.release()
        assert await asyncio.wait_for(store.arrived.get(), 5.0) == 1  # the bridge's own commit
        assert acts.acted == ["r0"]
        store.permits.release()
        await asyncio.wait_for(committer.wait_committed(last), 5.0)
        assert acts.acted == ["r0", "r1"] and acts.stored_when_acted == [True, True]
        assert committer.metrics.acted_before_stored._value.get() == 0
        again = committer.put(bridge_step("r1"))  # nothing pending for its legs any more: acted at once
        assert acts.acted == ["r0", "r1", "r1"]
        store.permits.release()
        await asyncio.wait_for(committer.wait_committed(again), 5.0)
    finally:
        await committer.stop()
        await store.close()


async def test_a_callbacks_bridge_and_a_bridge_with_more_are_stored_first(tmp_path: Path) -> None:
    store, acts, committer = await held_committer(tmp_path)
    assert store.permits is not None
    try:
        for s in (bridge_step("cb1", kind=RequestKind.CALLBACK), bridge_step("r2", Hangup("r2-a2", "other"))):
            seq = committer.put(s)
            assert await asyncio.wait_for(store.arrived.get(), 5.0) == 1
            assert s.requests[0].id not in acts.acted
            store.permits.release()
            await asyncio.wait_for(committer.wait_committed(seq), 5.0)
        assert acts.acted == ["cb1", "r2"] and acts.stored_when_acted == [True, True]
    finally:
        await committer.stop()
        await store.close()


async def test_the_agents_answer_bridges_the_caller_while_its_step_is_being_stored(
    stored_shell: Shell,  # noqa: F811 (the fixture imported above)
    failing_store: FailingStore,  # noqa: F811
) -> None:
    shell = stored_shell
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    ring = await shell.wait_originate("1001")
    await shell.service.wait_committed()
    failing_store.gate = asyncio.Event()  # the store takes its time from here on
    failing_store.held.clear()  # type: ignore[attr-defined]
    await shell.answer(ring)
    bridge_id = call_bridge_id(caller.request_id)
    add = await shell.fake.wait_for_call("POST", f"/bridges/{bridge_id}/addChannel")
    assert set((add.param("channel") or "").split(",")) == {caller.channel_id, ring.channel_id}
    await asyncio.wait_for(failing_store.held.wait(), 2.0)  # type: ignore[attr-defined]
    stored = await failing_store.load_request(caller.request_id)
    assert stored is not None and stored.state == "ringing_agent"  # bridged before it was stored
    failing_store.gate.set()
    await shell.service.wait_committed()
    stored = await failing_store.load_request(caller.request_id)
    assert stored is not None and stored.state == "connected"
    assert len(shell.fake.calls_to("POST", f"/bridges/{bridge_id}/addChannel")) == 1
