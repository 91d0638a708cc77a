"""Fixtures for end-to-end tests: the SUT's Asterisk (asterisk-conf/), the phone simulator Asterisk
(tests/e2e/phonesim-conf/) and a `phonesim` driver connected to it.

Both Asterisks are started once per session on free loopback ports with a generated ARI password;
agents 1001-1005 are configured on the SUT and registered to it from the simulator before any test
runs. Without an Asterisk (see `make asterisk`) the tests are skipped — unless Asterisk is required:
HOLDFAST_REQUIRE_ASTERISK=1, or CI=true (then HOLDFAST_REQUIRE_ASTERISK=0 opts out), in which case
they fail.

Instance directories (config, logs) are removed after a passing session and kept after a failing
one (or with HOLDFAST_KEEP_INSTANCES=1); their path is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.config import load_config
from app.core.commands import Activity
from app.core.engine import Engine
from app.sandbox import (
    AgentEndpoint,
    AsteriskInstall,
    AsteriskInstance,
    AsteriskNotFound,
    find_asterisk,
    free_port_range,
    free_tcp_port,
    free_udp_port,
    render_agent_endpoints,
)
from app.store import Store, store_from_dsn
from app.store.records import AdminEntry, StoredEvent
from tests.activity_log import ActivityLog

# tests/ is not a package: make the driver importable as `phonesim` whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from phonesim import PhoneSim, render_agent_registrations

from app.telephony.executor import HOLDING_PREFIX
from app.telephony.prompts import SHIPPED_DIR, install_prompts
from app.telephony.service import TelephonyService

REPO = Path(__file__).resolve().parents[2]
SUT_CONF = REPO / "asterisk-conf"
PHONESIM_CONF = Path(__file__).resolve().parent / "phonesim-conf"

SUT_ARI_APP = "holdfast"  # Stasis app name in the SUT's dialplan; the Holdfast service registers it
SUT_ARI_USER = "holdfast"
SIM_ARI_USER = "phonesim"
TEST_AGENT_NAMES = ["1001", "1002", "1003", "1004", "1005"]
RTP_TIMEOUT_OFF = "0"  # asterisk-conf/pjsip.conf: no hang-up for lack of RTP


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def asterisk_required() -> bool:
    flag = os.environ.get("HOLDFAST_REQUIRE_ASTERISK", "").strip().lower()
    if flag:
        return flag not in ("0", "false", "no")
    return os.environ.get("CI", "").strip().lower() == "true"


@pytest.fixture(scope="session")
def asterisk_install() -> AsteriskInstall:
    try:
        return find_asterisk()
    except AsteriskNotFound as e:
        if asterisk_required():
            pytest.fail(f"Asterisk is required (CI or HOLDFAST_REQUIRE_ASTERISK) but: {e}")
        pytest.skip(f"end-to-end tests need Asterisk: {e}")


@dataclass(frozen=True)
class E2EPorts:
    sut_sip: int
    sut_http: int
    sut_rtp: tuple[int, int]
    sim_sip: int
    sim_http: int
    sim_rtp: tuple[int, int]


@pytest.fixture(scope="session")
def e2e_ports() -> E2EPorts:
    """Chosen up front: each Asterisk's config names the other's SIP port."""
    sut_rtp = free_port_range(1000)
    while True:
        sim_rtp = free_port_range(1000)
        if sim_rtp[1] < sut_rtp[0] or sim_rtp[0] > sut_rtp[1]:
            break
    sut_sip = free_udp_port()
    sim_sip = free_udp_port()
    while sim_sip == sut_sip:
        sim_sip = free_udp_port()
    return E2EPorts(sut_sip, free_tcp_port(), sut_rtp, sim_sip, free_tcp_port(), sim_rtp)


@pytest.fixture(scope="session")
def test_agents() -> list[AgentEndpoint]:
    """The agents configured on the SUT (and registered from the simulator), with fresh passwords."""
    return [AgentEndpoint(n, f"pw;{n}#{secrets.token_hex(6)}", f"Agent {n}") for n in TEST_AGENT_NAMES]


def _finish(request: pytest.FixtureRequest, inst: AsteriskInstance) -> None:
    inst.stop()
    failed = request.session.testsfailed > 0
    if failed or os.environ.get("HOLDFAST_KEEP_INSTANCES") == "1":
        print(f"\n[e2e] kept Asterisk instance {inst.name} at {inst.host_dir} (logs: {inst.messages_path})")
    else:
        inst.remove()


def _remove_stale_instances(base: Path) -> None:
    """Directories of earlier sessions whose process is gone (names end in -<pid>)."""
    if not base.is_dir():
        return
    for d in base.glob("e2e-*-*"):
        pid = d.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def sut_asterisk(
    request: pytest.FixtureRequest,
    asterisk_install: AsteriskInstall,
    e2e_ports: E2EPorts,
    test_agents: list[AgentEndpoint],
) -> Iterator[AsteriskInstance]:
    """The SUT's Asterisk, configured from asterisk-conf/ as an admin would deploy it.

    ARI: `sut_asterisk.ari_url`, `sut_asterisk.ari_auth`; Stasis app name SUT_ARI_APP ("holdfast").
    """
    inst = AsteriskInstance(
        f"e2e-sut-{os.getpid()}",
        asterisk_install,
        SUT_CONF,
        {
            "SIP_PORT": str(e2e_ports.sut_sip),
            "HTTP_PORT": str(e2e_ports.sut_http),
            "RTP_START": str(e2e_ports.sut_rtp[0]),
            "RTP_END": str(e2e_ports.sut_rtp[1]),
            "ARI_USER": SUT_ARI_USER,
            "ARI_PASSWORD": secrets.token_urlsafe(18),
            "ARI_APP": SUT_ARI_APP,
            "TRUNK_MATCH": "127.0.0.1",
            "TRUNK_CONTACT": f"sip:127.0.0.1:{e2e_ports.sim_sip}",
            "AGENT_QUALIFY_FREQUENCY": "5",
            # The simulator's phones send RTP only while something plays on them: most are silent.
            # A test of the timeout sets its own (sut_rtp_timeout).
            "RTP_TIMEOUT": RTP_TIMEOUT_OFF,
            "RTP_TIMEOUT_HOLD": RTP_TIMEOUT_OFF,
            "VERBOSE": "3",
        },
        extra_files={"pjsip_agents.conf": render_agent_endpoints(test_agents)},
    )
    _remove_stale_instances(inst.host_dir.parent)
    inst.start()
    try:
        inst.wait_ready(30)
        yield inst
    finally:
        _finish(request, inst)


@pytest.fixture(scope="session")
def phonesim_asterisk(
    request: pytest.FixtureRequest,
    asterisk_install: AsteriskInstall,
    e2e_ports: E2EPorts,
    test_agents: list[AgentEndpoint],
    sut_asterisk: AsteriskInstance,
) -> Iterator[AsteriskInstance]:
    """The phone simulator's Asterisk; when this fixture is ready, every test agent is registered on the SUT."""
    inst = AsteriskInstance(
        f"e2e-phonesim-{os.getpid()}",
        asterisk_install,
        PHONESIM_CONF,
        {
            "SIP_PORT": str(e2e_ports.sim_sip),
            "HTTP_PORT": str(e2e_ports.sim_http),
            "RTP_START": str(e2e_ports.sim_rtp[0]),
            "RTP_END": str(e2e_ports.sim_rtp[1]),
            "ARI_USER": SIM_ARI_USER,
            "ARI_PASSWORD": secrets.token_urlsafe(18),
            "SUT_SIP_PORT": str(e2e_ports.sut_sip),
            "VERBOSE": "3",
        },
        extra_files={"pjsip_agents.conf": render_agent_registrations(test_agents, "127.0.0.1", e2e_ports.sut_sip)},
    )
    inst.start()
    try:
        inst.wait_ready(30)
        wait_agents_registered(sut_asterisk, [a.username for a in test_agents])
        yield inst
    finally:
        _finish(request, inst)


def set_sut_rtp_timeout(sut: AsteriskInstance, seconds: int, timeout: float = 10.0) -> None:
    """Render the SUT's configuration with rtp_timeout = `seconds` (0: off) and reload PJSIP; returns
    once the trunk endpoint shows it. Calls set up from then on are hung up by Asterisk after
    `seconds` without RTP (or RTCP) from their phone; calls already up keep their own."""
    sut.variables["RTP_TIMEOUT"] = str(seconds)
    sut.render()
    sut.cli("module reload res_pjsip.so")
    deadline = time.monotonic() + timeout
    while True:
        shown = sut.cli("pjsip show endpoint trunk")
        if ["rtp_timeout", ":", str(seconds)] in (line.split() for line in shown.splitlines()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"rtp_timeout {seconds} not applied on the SUT after {timeout}s\n{shown}")
        time.sleep(0.1)


@pytest.fixture
def sut_rtp_timeout(sut_asterisk: AsteriskInstance) -> Iterator[Callable[[int], None]]:
    """`sut_rtp_timeout(3)`: for this test, Asterisk hangs up calls (set up afterwards) whose phone
    sends no RTP for 3 s; off again after the test."""
    changed = False

    def apply(seconds: int) -> None:
        nonlocal changed
        changed = True
        set_sut_rtp_timeout(sut_asterisk, seconds)

    yield apply
    if changed:
        set_sut_rtp_timeout(sut_asterisk, int(RTP_TIMEOUT_OFF))


def wait_agents_registered(sut: AsteriskInstance, usernames: list[str], timeout: float = 15.0) -> None:
    """Until every agent's endpoint on the SUT is online (registered and reachable)."""
    deadline = time.monotonic() + timeout
    pending = list(usernames)
    while pending:
        pending = [u for u in pending if sut.ari_get(f"/endpoints/PJSIP/{u}").get("state") != "online"]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"agents {pending} not registered on the SUT after {timeout}s\n"
                + sut.cli("pjsip show contacts")
                + sut.log_tail()
            )
        time.sleep(0.1)


@pytest.fixture
async def phonesim(phonesim_asterisk: AsteriskInstance, sut_asterisk: AsteriskInstance) -> AsyncIterator[PhoneSim]:
    """A connected phone simulator; every call still up is hung up after the test."""
    user, password = phonesim_asterisk.ari_auth
    sim = await PhoneSim.connect(phonesim_asterisk.ari_url, user, password)
    try:
        yield sim
    finally:
        await sim.close()
    assert not sim.errors, f"phonesim background errors: {sim.errors}"


# ---- Holdfast service --------------------------------------------------------------------------
# The lead adds here a fixture that starts the Holdfast service itself against `sut_asterisk`
# (ARI at sut_asterisk.ari_url with sut_asterisk.ari_auth, Stasis app SUT_ARI_APP, agents from
# `test_agents`, trunk endpoint "trunk" for calls to customers), e.g.:
#
#   @pytest.fixture
#   async def holdfast(sut_asterisk, test_agents, phonesim_asterisk) -> AsyncIterator[...]:
#       ...
#
# Tests then combine `holdfast` with `phonesim`.


@dataclass
class Holdfast:
    """The real service running in this test's event loop against the SUT Asterisk."""

    service: TelephonyService
    http_url: str
    sut: AsteriskInstance
    activities: ActivityLog
    store: Store
    config_path: Path

    @property
    def engine(self) -> Engine:
        return self.service.engine

    async def wait_activity(self, kind: str, timeout: float = 15.0, **match: object) -> Activity:
        return await self.activities.wait(kind, timeout, **match)

    def left_behind(self, sut_channels: list[dict[str, Any]], sut_bridges: list[dict[str, Any]]) -> list[str]:
        """What still holds an ended call: a leg, playback, call bridge or hang-up the service still
        tracks, a request or per-request timer the engine keeps, a channel or call bridge on the SUT."""
        service, engine = self.service, self.engine
        found = [f"request {rid} ({r.state})" for rid, r in engine.requests.items()]
        found += [f"leg {leg.leg_id} ({leg.role}, ended={leg.ended})" for leg in service.legs.all()]
        found += [f"playback {p}" for p in service.legs.playbacks]
        found += [f"call bridge {b}" for b in service.executor.call_bridges]
        found += [f"hang-up pending {ch}" for ch in service.executor.pending_hangups]
        found += [
            f"timer {kind} {subject}"
            for (kind, subject) in engine._timers._due
            # per agent, queue or campaign, and a call-back reservation (keyed campaign:contact): none holds a call
            if kind not in ("wrap_up", "pace", "contacts", "hours", "close_sweep", "reserve")
            and subject not in engine.requests
        ]
        found += [f"SUT channel {ch['name']} ({ch['state']})" for ch in sut_channels]
        found += [f"SUT bridge {b['id']}" for b in sut_bridges if not b["id"].startswith(HOLDING_PREFIX)]
        return found

    async def assert_nothing_left_behind(self, timeout: float = 15.0) -> None:
        """Once every call has ended, the service and the SUT return to empty: the hundredth call must
        not inherit what the first ones left. Waits (polling both) until they are, else fails with
        what remains."""
        deadline = time.monotonic() + timeout
        while True:
            channels = await asyncio.to_thread(self.sut.ari_get, "/channels")
            bridges = await asyncio.to_thread(self.sut.ari_get, "/bridges")
            found = self.left_behind(channels, bridges)
            if not found:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"left behind {timeout}s after the last call ended: {found}")
            await asyncio.sleep(0.2)


CALLBACK_QUEUE = """
    ring_timeout: 6s
    wrap_up: 1s
    callback:
      enabled: true
      min_wait_before_offer: 1s
      offer_threshold: 0s
      reoffer_interval: 60s
      customer_ring_timeout: 5s
      caller_id: "+4570000000"
"""


BLOCKED_NUMBER = "+4520999888"  # on the blocklist of queue cbblk
MOVE_AGENT = "1005"  # the only agent skilled for queue cbmove


def holdfast_config_text(
    sut: AsteriskInstance, agents: list[AgentEndpoint], http_port: int, extra: str = "", data_dir: Path | None = None
) -> str:
    """The service's YAML for the e2e tests. Queues: support/sales (no callbacks), and callback
    queues cb (3 attempts, 3 s quarantine, abandon trigger after 3 s), cb1 (1 attempt; a dial
    Asterisk never reported is tried again 3 s on),
    cbx (max age 5 s), cbamd (answering-machine detection), cbr (3 attempts, 2 s quarantine),
    cbblk (BLOCKED_NUMBER on its blocklist, a callback a day per number), cbmove (served by
    MOVE_AGENT only) and cbf (the fault-injection run: short wrap-up, 3 attempts, 1 s quarantine)."""
    user, password = sut.ari_auth
    queues = ["support", "sales", "cb", "cb1", "cbx", "cbamd", "ann", "cbr", "cbblk", "cbf"]
    agent_lines = "\n".join(
        f'  "{a.username}":\n    name: {a.display_name}\n    password: "{a.password}"\n'
        f"    skills: [{', '.join(queues + (['cbmove'] if a.username == MOVE_AGENT else []))}]"
        for a in agents
    )
    return f"""
asterisk:
  ari_url: {sut.ari_url}
  ari_user: {user}
  ari_password: "{password}"
  app: {SUT_ARI_APP}
service:
  http_host: 127.0.0.1
  http_port: {http_port}
  data_dir: {data_dir or "./var"}
inbound:
  "4000": support
  "4001": sales
  "4002": cb
  "4003": cb1
  "4004": cbx
  "4005": cbamd
  "4006": ann
  "4007": cbblk
queues:
  support:
    display_name: Support
    ring_timeout: 6s
    wrap_up: 1s
    callback:
      enabled: false
  sales:
    display_name: Sales
    ring_timeout: 6s
    wrap_up: 1s
    callback:
      enabled: false
  cb:{CALLBACK_QUEUE}      max_attempts: 3
      sec_between_retries: 3s
      abandon_callback_after: 3s
  cb1:{CALLBACK_QUEUE}      max_attempts: 1
      sec_between_retries: 3s
  cbx:{CALLBACK_QUEUE}      max_age: 5s
  cbamd:{CALLBACK_QUEUE}      amd: true
      voicemail_message: voicemail_message
  cbr:{CALLBACK_QUEUE}      max_attempts: 3
      sec_between_retries: 2s
  cbblk:{CALLBACK_QUEUE}      max_per_number_per_day: 1
    eligibility:
      blocklist: ["{BLOCKED_NUMBER}"]
  cbmove:{CALLBACK_QUEUE}
  cbf:
    ring_timeout: 6s
    wrap_up: 0s
    callback:
      enabled: true
      customer_ring_timeout: 5s
      caller_id: "+4570000000"
      max_attempts: 3
      sec_between_retries: 1s
  ann:
    announce:
      position: true
      estimated_wait: true
      interval: 4s
    callback:
      enabled: false
agents:
{agent_lines}
{extra}
"""


@pytest.fixture
def holdfast_extra_config() -> str:
    """Override in a test module to add YAML to the service's config."""
    return ""


@pytest.fixture
def holdfast_extra_queues() -> tuple[dict[str, str], str]:
    """Override in a test module to add queues: ({dialled number: queue}, the queues' YAML, indented
    as entries of `queues`)."""
    return {}, ""


@pytest.fixture
def holdfast_clock() -> Callable[[], float] | None:
    """Override in a test module to give the service its clock (None: its own SteadyClock)."""
    return None


@pytest.fixture
async def holdfast(
    sut_asterisk: AsteriskInstance,
    phonesim_asterisk: AsteriskInstance,
    test_agents: list[AgentEndpoint],
    holdfast_extra_config: str,
    holdfast_extra_queues: tuple[dict[str, str], str],
    holdfast_clock: Callable[[], float] | None,
    tmp_path: Path,
) -> AsyncIterator[Holdfast]:
    """The Holdfast service (real ARI client, engine and HTTP API) connected to the SUT Asterisk."""
    from aiohttp import web

    from app.devrun import prompts_for
    from app.runner import build_service, open_store
    from app.web.api import make_app

    http_port = free_tcp_port()
    path = tmp_path / "holdfast.yaml"
    text = holdfast_config_text(sut_asterisk, test_agents, http_port, holdfast_extra_config, tmp_path)
    inbound, queues = holdfast_extra_queues
    for number, queue in inbound.items():
        text = text.replace("inbound:\n", f'inbound:\n  "{number}": {queue}\n', 1)
    path.write_text(text.replace("queues:\n", "queues:\n" + queues, 1))
    config = load_config(path)
    store = await open_store(config)
    service = build_service(config, prompts_for(config, sut_asterisk), store, path, clock=holdfast_clock)
    log = ActivityLog()
    service.activity_listeners.append(log)
    await service.start()
    runner = web.AppRunner(make_app(service))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", http_port).start()
    try:
        await asyncio.wait_for(service.connected.wait(), 15)
        yield Holdfast(service, f"http://127.0.0.1:{http_port}", sut_asterisk, log, store, path)
    finally:
        await runner.cleanup()
        await service.stop()
        await store.close()
    assert not service.playback_failures, f"prompts Asterisk could not play: {service.playback_failures}"


# ---- Holdfast as its own process (`holdfast run`), to be killed -------------------------------
HOLDFAST = str(Path(sys.executable).with_name("holdfast"))


def _log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return "(no log)"


class ServiceExited(AssertionError):
    """The service process ended without the test killing it."""


class ServiceProcess:
    """`holdfast run` in its own process, as in production, so a test can kill -9 it.

    Every exit the test did not cause is kept in `unexpected_exits` (exit codes); `check_alive()`
    raises ServiceExited with the code, the service log's tail and the latest stored events, so a
    crash loop shows up where it happens instead of as a later timeout."""

    def __init__(self, config_path: Path, http_port: int, data_dir: Path) -> None:
        self.config_path = config_path
        self.url = f"http://127.0.0.1:{http_port}"
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "service.log"
        self.starts = 0
        self.kills = 0
        self.unexpected_exits: list[int] = []
        self._exit_recorded = 0  # the start whose unexpected exit is already in unexpected_exits
        self._killed = False
        self.store_events = StoreEvents(data_dir)

    async def start(self, timeout: float = 20.0) -> None:
        self.starts += 1
        self._killed = False
        with self.log.open("ab") as f:
            f.write(f"\n===== test harness: start #{self.starts} =====\n".encode())
        self.proc = subprocess.Popen(
            [HOLDFAST, "run", "--config", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
        )
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as http:
            while True:
                self.check_alive()
                try:
                    async with http.get(f"{self.url}/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"service not healthy in {timeout} s\n{await self.diagnose()}")
                await asyncio.sleep(0.1)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exited_by_itself(self) -> int | None:
        """The exit code if the process ended on its own (a fatal stop or a crash), else None;
        each such exit is also kept in `unexpected_exits`."""
        if self.proc is None or self.proc.poll() is None or self._killed:
            return None  # running, or our own kill -9 (until the next start)
        code = self.proc.returncode
        if self._exit_recorded != self.starts:
            self.unexpected_exits.append(code)
            self._exit_recorded = self.starts
        return code

    def check_alive(self) -> None:
        """Raise ServiceExited if the process ended on its own (a fatal stop or a crash)."""
        code = self.exited_by_itself()
        if code is None:
            return
        verdict = "exit code 0 on a stop nobody asked for" if code == 0 else f"exit code {code}"
        raise ServiceExited(f"the service (start #{self.starts}) exited by itself: {verdict}\n{self.diagnose_sync()}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.check_alive()  # a process already gone is a finding, not something to kill
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._killed = True
        self.kills += 1
        with self.log.open("ab") as f:
            f.write(f"\n===== test harness: kill -9 #{self.kills} =====\n".encode())

    def stop(self) -> int | None:
        """SIGTERM (then SIGKILL); returns the exit code of a process that was still running."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        self.proc.terminate()
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    async def api(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http, http.request(method, f"{self.url}{path}", **kwargs) as resp:
            return resp.status, await resp.json()

    def diagnose_sync(self, events: list[StoredEvent] | None = None) -> str:
        code = None if self.proc is None else self.proc.poll()
        shown = events if events is not None else self.store_events.events
        last = "\n".join(
            f"  {e.id} {e.at:.2f} {e.kind} {e.request_id} {e.agent_id or ''} {e.data}" for e in shown[-20:]
        )
        return (
            f"process: {'running' if code is None else f'exited {code}'}; starts {self.starts}, kill -9 {self.kills},"
            f" unexpected exits {self.unexpected_exits}\nlast stored events:\n{last}\n"
            f"service log tail ({self.log}):\n{_log_tail(self.log)}"
        )

    async def diagnose(self) -> str:
        with contextlib.suppress(Exception):
            await self.store_events.refresh()
        return self.diagnose_sync()

    async def wait_events(
        self, predicate: Callable[[list[StoredEvent]], Any], what: str, timeout: float = 30.0, alive: bool = True
    ) -> list[StoredEvent]:
        """Until `predicate(all stored events)` is true; with `alive`, fail at once if the process
        ends by itself meanwhile."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            events = await self.store_events.refresh()
            if predicate(events):
                return events
            if alive:
                self.check_alive()
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not {what} within {timeout}s\n{self.diagnose_sync()}")
            await asyncio.sleep(0.1)


class StoreEvents:
    """The service's raw event log read from its SQLite file, incrementally (by event id)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "holdfast.db"
        self.events: list[StoredEvent] = []

    async def refresh(self) -> list[StoredEvent]:
        if not self.path.exists():
            return self.events
        store = store_from_dsn(str(self.path))
        await store.open()
        try:
            since = self.events[-1].id if self.events else 0
            self.events.extend(await store.events(since_id=since, limit=1_000_000))
        finally:
            await store.close()
        return self.events

    async def admin_log(self, request_id: str | None = None) -> list[AdminEntry]:
        store = store_from_dsn(str(self.path))
        await store.open()
        try:
            return await store.admin_log(request_id=request_id)
        finally:
            await store.close()


async def events_of(data_dir: Path) -> list[StoredEvent]:
    return await StoreEvents(data_dir).refresh()


async def wait_events(
    data_dir: Path, predicate: Callable[[list[StoredEvent]], Any], what: str, timeout: float = 30.0
) -> list[StoredEvent]:
    watcher = StoreEvents(data_dir)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        events = await watcher.refresh()
        if predicate(events):
            return events
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not {what} within {timeout}s; log: {[(e.kind, e.data) for e in events][-15:]}")
        await asyncio.sleep(0.2)


def installed_prompts_yaml(sut: AsteriskInstance, language: str = "en") -> str:
    """`prompts:` settings for a `holdfast run` process: the shipped recordings copied where the
    (chrooted) SUT Asterisk can read them, named by their path inside it. Without this the process
    hands Asterisk host paths it cannot see, and every prompt fails at once (no confirmation,
    no whisper), which would hide what a caller hears."""
    install_prompts(sut.sounds_dir)
    names = sorted(f.stem for f in (SHIPPED_DIR / language).glob("*.ulaw"))
    lines = "\n".join(f'    {name}: "{sut.dir}/sounds/{language}/{name}"' for name in names)
    return f"prompts:\n  overrides:\n{lines}\n"


@pytest.fixture
async def service_process(
    sut_asterisk: AsteriskInstance,
    phonesim_asterisk: AsteriskInstance,
    test_agents: list[AgentEndpoint],
    tmp_path: Path,
) -> AsyncIterator[ServiceProcess]:
    """`holdfast run` against the SUT Asterisk with the e2e settings (holdfast_config_text)."""
    port = free_tcp_port()
    path = tmp_path / "holdfast.yaml"
    extra = installed_prompts_yaml(sut_asterisk)
    path.write_text(holdfast_config_text(sut_asterisk, test_agents, port, extra=extra, data_dir=tmp_path))
    process = ServiceProcess(path, port, tmp_path)
    await process.start()
    try:
        yield process
    finally:
        process.stop()
