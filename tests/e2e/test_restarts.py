"""Nothing promised is lost: kill -9 of the service, Asterisk restarts, reloads, a second instance.

The service runs here as its own process (`holdfast run`), as in production, so it can be killed;
progress is read from its store (the raw event log) and its HTTP API.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess

import aiohttp
import pytest
from conftest import HOLDFAST, wait_agents_registered, wait_events

pytestmark = pytest.mark.e2e

CUSTOMERS = [f"+45201000{i:02d}" for i in range(6)]


async def test_kill9_while_callbacks_wait_and_one_is_dialled_serves_each_exactly_once(service_process, phonesim):
    service = service_process
    ids = {}
    for number in CUSTOMERS:
        status, body = await service.api("POST", "/api/callbacks", json={"queue": "cb", "number": number})
        assert status == 201, body
        ids[number] = body["request_id"]
    first = CUSTOMERS[0]
    phonesim.set_behaviour(f"customer:{first}", "manual")  # rings until the test answers it
    status, _ = await service.api("POST", "/api/agents/1001/ready")
    assert status == 200
    ringing = await phonesim.wait_incoming(f"customer:{first}", timeout=20)  # agent answered, whisper done
    await wait_events(service.data_dir, lambda ev: any(e.kind == "attempt_started" for e in ev), "dialling")

    service.kill9()
    await service.start()  # the lock of the dead process is taken over at once

    await ringing.answer()  # the customer picks up the call the old process placed
    await wait_events(
        service.data_dir,
        lambda ev: any(e.kind == "connected" and e.request_id == ids[first] for e in ev),
        "the in-flight callback connected by the new process",
    )
    await ringing.hangup()
    for agent_id in ("1002", "1003"):
        await service.api("POST", f"/api/agents/{agent_id}/ready")

    async def serve_customer(number: str) -> None:
        call = await phonesim.wait_incoming(f"customer:{number}", timeout=60)
        await call.wait_answered()
        await call.wait_audio_flowing()
        await call.hangup()

    await asyncio.wait_for(asyncio.gather(*(serve_customer(n) for n in CUSTOMERS[1:])), 120)
    events = await wait_events(
        service.data_dir,
        lambda ev: sum(1 for e in ev if e.kind == "ended" and e.data.get("outcome") == "served") == len(CUSTOMERS),
        "all callbacks served",
    )
    for number, request_id in ids.items():
        started = [e for e in events if e.kind == "attempt_started" and e.request_id == request_id]
        assert len(started) == 1, f"{number} dialled {len(started)} times"
        dialled = [c for c in phonesim.calls.values() if c.kind == "customer" and c.dest == number]
        assert len(dialled) == 1, f"{number} rang {len(dialled)} times at the phone"


async def test_second_instance_is_refused(service_process):
    proc = subprocess.run(
        [HOLDFAST, "run", "--config", str(service_process.config_path)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert "refusing to start" in proc.stderr and "holds the lock" in proc.stderr
    status, _ = await service_process.api("GET", "/api/queues")
    assert status == 200  # the first one runs on


async def test_asterisk_restart_drops_callers_on_hold_and_keeps_callbacks(
    holdfast, phonesim, sut_asterisk, test_agents
):
    caller = await phonesim.call("4000", "+4520999999")  # on hold in support (nobody ready)
    arrived = await holdfast.wait_activity("arrived", caller="+4520999999")
    async with aiohttp.ClientSession() as http:
        for number in CUSTOMERS[:3]:
            async with http.post(f"{holdfast.http_url}/api/callbacks", json={"queue": "cb", "number": number}) as r:
                assert r.status == 201
    await caller.wait_answered()

    await asyncio.to_thread(sut_asterisk.restart)
    dropped = await holdfast.wait_activity("ended", request_id=arrived.request_id, timeout=30)
    assert dropped.data["outcome"] == "dropped"
    assert dropped.data["reason"] in ("asterisk_shutdown", "asterisk_restarted")
    await asyncio.to_thread(wait_agents_registered, sut_asterisk, [a.username for a in test_agents], 30)

    holdfast.service.agent_action("1004", "ready")
    for number in CUSTOMERS[:3]:
        call = await phonesim.wait_incoming(f"customer:{number}", timeout=40)
        await call.wait_answered()
        await holdfast.wait_activity("connected", timeout=20, count=CUSTOMERS.index(number) + 1)
        await call.hangup()
    await holdfast.activities.wait("ended", count=3, outcome="served")


async def test_invalid_reload_keeps_the_running_settings_and_a_valid_one_applies(holdfast, phonesim):
    original = holdfast.config_path.read_text()
    holdfast.config_path.write_text(original.replace("max_attempts: 3", "max_attempts: 5"))
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{holdfast.http_url}/api/reload") as resp:
            body = await resp.json()
            assert resp.status == 400 and not body["applied"]
            assert "queues.cb.callback.max_attempts is 5; allowed 1-3" in body["error"]
        assert holdfast.engine.queues["cb"].callback.max_attempts == 3

        holdfast.config_path.write_text(original.replace("display_name: Support", "display_name: Helpdesk"))
        async with http.post(f"{holdfast.http_url}/api/reload") as resp:
            assert resp.status == 200
    assert holdfast.engine.queues["support"].label == "Helpdesk"
    await holdfast.wait_activity("settings_changed")

    holdfast.service.agent_action("1005", "ready")  # calls still flow, with the new name shown
    caller = await phonesim.call("4000", "+4520123456")
    agent = await phonesim.wait_incoming("agent:1005")
    assert agent.caller_name == "Helpdesk"
    await holdfast.wait_activity("connected", agent_id="1005")
    await caller.hangup()


async def test_sighup_reloads_the_settings_file(service_process):
    path = service_process.config_path
    path.write_text(path.read_text().replace("display_name: Sales", "display_name: Webshop"))
    os.kill(service_process.proc.pid, signal.SIGHUP)
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        _, body = await service_process.api("GET", "/api/queues")
        names = {q["name"]: q["display_name"] for q in body["queues"]}
        if names["sales"] == "Webshop":
            break
        assert asyncio.get_running_loop().time() < deadline, f"not reloaded: {names}"
        await asyncio.sleep(0.1)
    assert service_process.proc.poll() is None  # still running
