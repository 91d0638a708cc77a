"""The newcomer's journey on `make run`, end to end: `holdfast dev-run` (what `make run` starts) with a
copy of examples/holdfast.yaml, and the phone simulator Asterisk registering an agent's softphone and
the sandbox's customer softphone with the settings the banner prints.

The customer calls 4000 with caller id +4520123456, is queued with that number, hears the offer,
presses 1 then 1, hangs up; the agent logs in (*21), is rung, answers; then the callback rings the
registered customer softphone (not the trunk, which leads nowhere in the sandbox), as does a callback
to another number asked for through the API. Ctrl-C (SIGINT) ends it all with exit code 0 and no
Asterisk left running.

Only the example's office hours and its 20 s wait before the offer are changed (so the test does not
depend on the clock or wait 20 s), and ports are free ones; everything else is the example.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.devrun import CUSTOMER_PASSWORD_ENV, instance_name
from app.sandbox import AgentEndpoint, AsteriskInstall, AsteriskInstance, free_port_range, free_tcp_port, free_udp_port
from app.sandbox.asterisk import default_cache_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phonesim import MiniAri, PhoneSim, render_agent_registrations

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
PHONESIM_CONF = Path(__file__).resolve().parent / "phonesim-conf"
CALLER_ID = "+4520123456"  # what the customer's softphone is configured to send: a Danish mobile
AGENT = "1001"  # Anna Jensen in the example, skilled for support
SUPPORT = "4000"
OTHER = "+4530123456"  # another eligible number: callbacks to it ring the customer softphone too


@dataclass(frozen=True)
class Ports:
    sip: int
    ari_http: int
    web: int


def sandbox_config(tmp: Path, ports: Ports) -> Path:
    """examples/holdfast.yaml with free ports, its data in `tmp`, always open, offering after 1 s.

    Edited as text, not loaded and dumped, so the file dev-run reads is the example's own YAML."""
    text = (REPO / "examples" / "holdfast.yaml").read_text()
    edits = [
        (r"ari_url: http://127\.0\.0\.1:8088/ari", f"ari_url: http://127.0.0.1:{ports.ari_http}/ari"),
        (r"sip_port: 5060", f"sip_port: {ports.sip}"),
        (r"http_port: 8080", f"http_port: {ports.web}"),
        (r"data_dir: \./var", f"data_dir: {tmp / 'var'}"),
        (r"(  support:\n(?:    .*\n)*?)    hours:\n(?:      .*\n)+", r"\1"),  # support's office hours
        (r"min_wait_before_offer: 20s", "min_wait_before_offer: 1s"),
    ]
    for pattern, replacement in edits:
        text, count = re.subn(pattern, replacement, text)
        assert count == 1, f"examples/holdfast.yaml changed: {pattern!r} matched {count} times"
    path = tmp / "holdfast.yaml"
    path.write_text(text)
    return path


@dataclass
class DevRun:
    """`holdfast dev-run` as a child process: its banner and its activity log lines as they come."""

    proc: asyncio.subprocess.Process
    banner: list[str] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.output.append(line)
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if isinstance(record, dict):
                if record.get("event") == "activity":
                    self.activities.append(record)
            elif line.strip():
                self.banner.append(line)
            self.changed.set()
        self.changed.set()

    async def wait(self, what: str, found: Any, timeout: float = 20.0) -> Any:
        """Until `found()` returns something truthy (checked on every line the process prints)."""
        deadline = time.monotonic() + timeout
        while True:
            result = found()
            if result:
                return result
            if self.proc.returncode is not None or (self.reader is not None and self.reader.done()):
                raise AssertionError(f"dev-run ended ({self.proc.returncode}) waiting for {what}:\n{self.tail()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {what} within {timeout}s:\n{self.tail()}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)

    async def activity(self, kind: str, timeout: float = 20.0, **match: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next(
                (a for a in self.activities if a["kind"] == kind and all(a.get(k) == v for k, v in match.items())),
                None,
            )

        result: dict[str, Any] = await self.wait(f"activity {kind} {match}", found, timeout)
        return result

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output[-lines:])


def banner_value(banner: list[str], pattern: str) -> str:
    text = "\n".join(banner)
    m = re.search(pattern, text)
    assert m, f"banner lacks {pattern!r}:\n{text}"
    return m.group(1)


def customer_phone(username: str, password: str, caller_id: str, sut_port: int) -> str:
    """Simulator config for the customer's softphone, set up as the README says: SIP user = the
    caller id, authentication user + password from the banner; it registers, and places calls
    (PhoneSim(trunk_endpoint="customer-phone")) whose From user is the caller id."""
    sut = f"127.0.0.1:{sut_port}"
    return f"""
[auth-customer]
type = auth
auth_type = userpass
username = {username}
password = {password}

[reg-customer]
type = registration
transport = transport-udp
outbound_auth = auth-customer
server_uri = sip:{sut}
client_uri = sip:{caller_id}@{sut}
contact_user = softphone
expiration = 300
retry_interval = 1
forbidden_retry_interval = 2
fatal_retry_interval = 2
max_retries = 1000
auth_rejection_permanent = no

[customer-phone]
type = endpoint
transport = transport-udp
context = from-sut
disallow = all
allow = ulaw,alaw
direct_media = no
dtmf_mode = rfc4733
outbound_auth = auth-customer
aors = customer-phone

[customer-phone]
type = aor
contact = sip:{sut}
"""


@pytest.fixture
def ports() -> Ports:
    sip = free_udp_port()
    web = free_tcp_port()
    ari_http = free_tcp_port()
    while ari_http == web:
        ari_http = free_tcp_port()
    return Ports(sip, ari_http, web)


@pytest.fixture
def secrets_env() -> dict[str, str]:
    """The example's secrets as an admin would set them; the customer's password is left to dev-run."""
    env = {k: v for k, v in os.environ.items() if k != CUSTOMER_PASSWORD_ENV}
    env.update(
        HOLDFAST_ARI_PASSWORD=secrets.token_urlsafe(12),
        HOLDFAST_AGENT_1001_PASSWORD=secrets.token_urlsafe(12),
        HOLDFAST_AGENT_1002_PASSWORD=secrets.token_urlsafe(12),
        HOLDFAST_ADMIN_TOKEN=secrets.token_urlsafe(12),
    )
    return env


def keep_instances(request: pytest.FixtureRequest) -> bool:
    """As in conftest: instance directories stay after a failure or with HOLDFAST_KEEP_INSTANCES=1."""
    return request.session.testsfailed > 0 or os.environ.get("HOLDFAST_KEEP_INSTANCES") == "1"


@pytest.fixture
def sandbox_dir(request: pytest.FixtureRequest, asterisk_install: AsteriskInstall, ports: Ports) -> Iterator[Path]:
    """dev-run's instance directory (named after the SIP port)."""
    if asterisk_install.root is not None:
        base = asterisk_install.root / "holdfast"
    else:
        base = default_cache_dir() / "instances"
    path = base / instance_name(ports.sip)
    yield path
    if keep_instances(request):
        print(f"\n[e2e] kept the sandbox's Asterisk instance at {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def devrun(tmp_path: Path, ports: Ports, secrets_env: dict[str, str], sandbox_dir: Path) -> AsyncIterator[DevRun]:
    """`holdfast dev-run --config <copy of the example>`, once it printed its banner and its HTTP API
    listens; stopped with SIGINT (Ctrl-C) after the test if the test did not stop it."""
    config = sandbox_config(tmp_path, ports)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "dev-run",
        "--config",
        str(config),
        cwd=tmp_path,
        env=secrets_env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    run = DevRun(proc)
    run.reader = asyncio.create_task(run.read())
    try:
        await run.wait("the banner", lambda: any("Ctrl-C" in line for line in run.banner), timeout=90)
        await run.wait("the HTTP API", lambda: any('"http_listening"' in line for line in run.output), timeout=30)
        yield run
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await run.reader


@pytest.fixture
def phonesim_instance(
    request: pytest.FixtureRequest,
    asterisk_install: AsteriskInstall,
    ports: Ports,
    secrets_env: dict[str, str],
    devrun: DevRun,
) -> Iterator[AsteriskInstance]:
    """The simulator with the agent's and the customer's softphones, configured from the banner."""
    password = banner_value(devrun.banner, r"auth user customer\s+password (\S+)")
    sip_user = banner_value(devrun.banner, r"customer\s+user (\S+)")
    assert sip_user == CALLER_ID  # the banner's example caller id is an eligible one
    assert banner_value(devrun.banner, r"SIP server (\S+) \(UDP\)") == f"127.0.0.1:{ports.sip}"
    agent = AgentEndpoint(AGENT, secrets_env["HOLDFAST_AGENT_1001_PASSWORD"])
    rtp = free_port_range(200)
    inst = AsteriskInstance(
        f"e2e-sbxsim-{os.getpid()}",
        asterisk_install,
        PHONESIM_CONF,
        {
            "SIP_PORT": str(free_udp_port()),
            "HTTP_PORT": str(free_tcp_port()),
            "RTP_START": str(rtp[0]),
            "RTP_END": str(rtp[1]),
            "ARI_USER": "phonesim",
            "ARI_PASSWORD": secrets.token_urlsafe(12),
            "SUT_SIP_PORT": str(ports.sip),
            "VERBOSE": "3",
        },
        extra_files={
            "pjsip_agents.conf": render_agent_registrations([agent], "127.0.0.1", ports.sip)
            + customer_phone("customer", password, CALLER_ID, ports.sip)
        },
    )
    inst.start()
    try:
        inst.wait_ready(30)
        yield inst
    finally:
        inst.stop()
        if keep_instances(request):
            print(f"\n[e2e] kept the simulator's Asterisk instance at {inst.host_dir}")
        else:
            inst.remove()


@pytest.fixture
async def phones(phonesim_instance: AsteriskInstance) -> AsyncIterator[PhoneSim]:
    """The simulator's driver; its `call()` dials from the customer softphone."""
    user, password = phonesim_instance.ari_auth
    ari = await MiniAri(phonesim_instance.ari_url, user, password, "phonesim").connect()
    sim = PhoneSim(ari, trunk_endpoint="customer-phone")
    try:
        yield sim
    finally:
        await sim.close()
    assert not sim.errors, f"phonesim background errors: {sim.errors}"


async def wait_registered(api: aiohttp.ClientSession, ari_url: str, endpoint: str, timeout: float = 15.0) -> None:
    """Until the SUT has a contact registered for `endpoint`."""
    deadline = time.monotonic() + timeout
    while True:
        async with api.get(f"{ari_url}/endpoints/PJSIP/{endpoint}") as resp:
            body = await resp.json() if resp.status == 200 else {}
        if body.get("state") == "online":
            return
        assert time.monotonic() < deadline, f"{endpoint} not registered on the sandbox after {timeout}s: {body}"
        await asyncio.sleep(0.1)  # polling with a deadline: ARI has no event for it without a Stasis app


async def waiting_in(web: aiohttp.ClientSession, url: str, queue: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The waiting list of `queue` from the service API, once it is not empty."""
    deadline = time.monotonic() + timeout
    while True:
        async with web.get(f"{url}/api/queues") as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
        waiting: list[dict[str, Any]] = next(q for q in body["queues"] if q["name"] == queue)["waiting"]
        if waiting:
            return waiting
        assert time.monotonic() < deadline, f"nobody waiting in {queue} after {timeout}s: {body}"
        await asyncio.sleep(0.1)


async def test_make_run_customer_softphone_calls_in_takes_a_callback_and_is_called_back(
    devrun: DevRun, phones: PhoneSim, ports: Ports, secrets_env: dict[str, str]
) -> None:
    token = secrets_env["HOLDFAST_ADMIN_TOKEN"]
    web_url = f"http://127.0.0.1:{ports.web}"
    assert f"{web_url}/api/queues" in "\n".join(devrun.banner)
    assert f"{web_url}/metrics" in "\n".join(devrun.banner)
    assert re.search(rf"dial {SUPPORT} for queue 'support'$", "\n".join(devrun.banner), re.M)  # open: no hours
    ari_url = f"http://127.0.0.1:{ports.ari_http}/ari"
    basic = base64.b64encode(f"holdfast:{secrets_env['HOLDFAST_ARI_PASSWORD']}".encode()).decode()
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Basic {basic}"}) as ari,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as web,
    ):
        await wait_registered(ari, ari_url, "customer")
        await wait_registered(ari, ari_url, AGENT)

        # The customer calls in from the softphone and waits in the queue under its own number.
        call = await phones.call(SUPPORT, caller_id=CALLER_ID)
        arrived = await devrun.activity("arrived", caller=CALLER_ID)
        request_id = arrived["request_id"]
        assert arrived["queue"] == "support"
        await call.wait_answered()
        waiting = await waiting_in(web, web_url, "support")
        assert [(w["request_id"], w["number"]) for w in waiting] == [(request_id, CALLER_ID)]

        # The offer, 1 (callback), 1 (this number); the service hangs up after the confirmation.
        await devrun.activity("offered", request_id=request_id)
        await call.send_dtmf("1")
        await devrun.activity("callback_key", request_id=request_id)
        await call.send_dtmf("1")
        accepted = await devrun.activity("callback_accepted", request_id=request_id)
        assert accepted["number"] == CALLER_ID
        await call.wait_hangup(15)

        # The agent logs in from the phone; the agent is rung first, then the customer's softphone.
        login = await phones.agent_dials(AGENT, "*21")
        await login.wait_hangup(15)  # after "agent ready"
        await devrun.activity("agent_ringing", request_id=request_id, agent_id=AGENT)
        agent_leg = await phones.wait_incoming(f"agent:{AGENT}", timeout=15)
        assert agent_leg.caller_name == "Callback"
        started = await devrun.activity("attempt_started", request_id=request_id, timeout=30)
        assert started["number"] == CALLER_ID
        # The simulator received the INVITE at the contact the customer softphone registered (the
        # trunk's contact is 127.0.0.2:5060, where nothing listens), addressed to the callback number.
        callback = await phones.wait_incoming(f"customer:{CALLER_ID}", timeout=20)
        async with ari.get(f"{ari_url}/channels") as resp:
            channels = await resp.json()
        assert any(ch["name"].startswith("PJSIP/customer-") for ch in channels), [ch["name"] for ch in channels]
        assert callback.caller_number.endswith("70000000")  # the queue's caller id
        await devrun.activity("connected", request_id=request_id, timeout=20)
        await callback.hangup()
        await devrun.activity("ended", request_id=request_id, outcome="served")

        # Any other number rings the same softphone: a callback asked for through the API.
        async with web.post(f"{web_url}/api/callbacks", json={"queue": "support", "number": OTHER}) as resp:
            assert resp.status == 201, await resp.text()
            other_id = (await resp.json())["request_id"]
        await phones.wait_incoming(f"agent:{AGENT}", timeout=30)  # after the agent's wrap-up
        other = await phones.wait_incoming(f"customer:{OTHER}", timeout=20)
        await devrun.activity("connected", request_id=other_id, timeout=20)
        await other.hangup()

    # Ctrl-C stops the service and Asterisk, with exit code 0.
    devrun.proc.send_signal(signal.SIGINT)
    code = await asyncio.wait_for(devrun.proc.wait(), 30)
    assert code == 0, devrun.tail()
    conf = f"/{instance_name(ports.sip)}/etc/asterisk.conf".encode()
    assert not [p for p in processes() if conf in p], "the sandbox's Asterisk outlived dev-run"


def processes() -> list[bytes]:
    """Command lines of the running processes."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                found.append((entry / "cmdline").read_bytes())
    return found
