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
import os
import secrets
import shutil
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

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
from app.store import Store
from tests.activity_log import ActivityLog

# tests/ is not a package: make the driver importable as `phonesim` whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from phonesim import PhoneSim, render_agent_registrations

from app.telephony.service import TelephonyService

REPO = Path(__file__).resolve().parents[2]
SUT_CONF = REPO / "asterisk-conf"
PHONESIM_CONF = Path(__file__).resolve().parent / "phonesim-conf"

SUT_ARI_APP = "holdfast"  # Stasis app name in the SUT's dialplan; the Holdfast service registers it
SUT_ARI_USER = "holdfast"
SIM_ARI_USER = "phonesim"
TEST_AGENT_NAMES = ["1001", "1002", "1003", "1004", "1005"]


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


def holdfast_config_text(
    sut: AsteriskInstance, agents: list[AgentEndpoint], http_port: int, extra: str = "", data_dir: Path | None = None
) -> str:
    """The service's YAML for the e2e tests. Queues: support/sales (no callbacks), and callback
    queues cb (3 attempts, 3 s quarantine, abandon trigger after 3 s), cb1 (1 attempt),
    cbx (max age 5 s), cbamd (answering-machine detection)."""
    user, password = sut.ari_auth
    queues = ["support", "sales", "cb", "cb1", "cbx", "cbamd", "ann"]
    agent_lines = "\n".join(
        f'  "{a.username}":\n    name: {a.display_name}\n    password: "{a.password}"\n'
        f"    skills: [{', '.join(queues)}]"
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
  cbx:{CALLBACK_QUEUE}      max_age: 5s
  cbamd:{CALLBACK_QUEUE}      amd: true
      voicemail_message: voicemail_message
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
async def holdfast(
    sut_asterisk: AsteriskInstance,
    phonesim_asterisk: AsteriskInstance,
    test_agents: list[AgentEndpoint],
    holdfast_extra_config: str,
    tmp_path: Path,
) -> AsyncIterator[Holdfast]:
    """The Holdfast service (real ARI client, engine and HTTP API) connected to the SUT Asterisk."""
    from aiohttp import web

    from app.devrun import prompts_for
    from app.runner import build_service, open_store
    from app.web.api import make_app

    http_port = free_tcp_port()
    path = tmp_path / "holdfast.yaml"
    path.write_text(holdfast_config_text(sut_asterisk, test_agents, http_port, holdfast_extra_config, tmp_path))
    config = load_config(path)
    store = await open_store(config)
    service = build_service(config, prompts_for(config, sut_asterisk), store, path)
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
