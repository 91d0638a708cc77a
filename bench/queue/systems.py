"""The Asterisk instances and the Holdfast process of the benchmark.

- the phone simulator (tests/e2e/phonesim-conf/), started once: callers' calls and agents' phones,
  which register to whichever SUT is up on the fixed SUT SIP port;
- the SUT, started per run on the same ports: asterisk-conf/ as deployed for Holdfast, or for
  app_queue the same files with bench/queue/asterisk-appqueue/ laid over them (dialplan, queues.conf)
  plus `load => app_queue.so`;
- Holdfast itself as a separate process (bench.queue.holdfast_proc) so /proc gives its own CPU.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from app.sandbox import (
    AgentEndpoint,
    AsteriskInstall,
    AsteriskInstance,
    free_port_range,
    free_tcp_port,
    free_udp_port,
    render_agent_endpoints,
)
from bench.queue.phonesim_driver import render_agent_registrations

REPO = Path(__file__).resolve().parents[2]
SUT_CONF = REPO / "asterisk-conf"
PHONESIM_CONF = REPO / "tests" / "e2e" / "phonesim-conf"
APPQUEUE_OVERLAY = Path(__file__).resolve().parent / "asterisk-appqueue"
QUEUE_NUMBER = "4000"
ARI_APP = "holdfast"


@dataclass(frozen=True)
class Ports:
    sut_sip: int
    sut_http: int
    sut_rtp: tuple[int, int]
    sim_sip: int
    sim_http: int
    sim_rtp: tuple[int, int]
    holdfast_http: int

    @classmethod
    def pick(cls) -> Ports:
        sut_rtp = free_port_range(2000)
        while True:
            sim_rtp = free_port_range(2000)
            if sim_rtp[1] < sut_rtp[0] or sim_rtp[0] > sut_rtp[1]:
                break
        sut_sip, sim_sip = free_udp_port(), free_udp_port()
        while sim_sip == sut_sip:
            sim_sip = free_udp_port()
        return cls(sut_sip, free_tcp_port(), sut_rtp, sim_sip, free_tcp_port(), sim_rtp, free_tcp_port())


def make_agents(n: int) -> list[AgentEndpoint]:
    return [AgentEndpoint(str(1001 + i), f"pw{secrets.token_hex(6)}", f"Agent {1001 + i}") for i in range(n)]


def start_phonesim(install: AsteriskInstall, ports: Ports, agents: list[AgentEndpoint]) -> AsteriskInstance:
    inst = AsteriskInstance(
        f"bench-phonesim-{os.getpid()}",
        install,
        PHONESIM_CONF,
        {
            "SIP_PORT": str(ports.sim_sip),
            "HTTP_PORT": str(ports.sim_http),
            "RTP_START": str(ports.sim_rtp[0]),
            "RTP_END": str(ports.sim_rtp[1]),
            "ARI_USER": "phonesim",
            "ARI_PASSWORD": secrets.token_urlsafe(18),
            "SUT_SIP_PORT": str(ports.sut_sip),
            "VERBOSE": "0",
        },
        extra_files={"pjsip_agents.conf": render_agent_registrations(agents, "127.0.0.1", ports.sut_sip)},
    )
    inst.start()
    inst.wait_ready(60)
    return inst


def _appqueue_templates(agents: list[AgentEndpoint]) -> Path:
    """asterisk-conf/ with the app_queue overlay, in a fresh temporary directory."""
    d = Path(tempfile.mkdtemp(prefix="bench-appqueue-conf-"))
    for src in SUT_CONF.iterdir():
        if src.is_file():
            shutil.copy(src, d / src.name)
    for src in APPQUEUE_OVERLAY.iterdir():
        if src.is_file():
            shutil.copy(src, d / src.name)
    with (d / "modules.conf").open("a") as f:
        f.write("\n; queue benchmark: the system Holdfast is compared with\nload => app_queue.so\n")
    return d


def start_sut(system: str, install: AsteriskInstall, ports: Ports, agents: list[AgentEndpoint]) -> AsteriskInstance:
    """The SUT Asterisk for `system` ("holdfast" or "app_queue"), ready, agents not yet registered."""
    extra = {"pjsip_agents.conf": render_agent_endpoints(agents)}
    if system == "app_queue":
        templates = _appqueue_templates(agents)
        extra["queue_members.conf"] = "".join(f"member => PJSIP/{a.username}\n" for a in agents)
    else:
        templates = SUT_CONF
    inst = AsteriskInstance(
        f"bench-sut-{system.replace('_', '')}-{os.getpid()}",
        install,
        templates,
        {
            "SIP_PORT": str(ports.sut_sip),
            "HTTP_PORT": str(ports.sut_http),
            "RTP_START": str(ports.sut_rtp[0]),
            "RTP_END": str(ports.sut_rtp[1]),
            "ARI_USER": "holdfast",
            "ARI_PASSWORD": secrets.token_urlsafe(18),
            "ARI_APP": ARI_APP,
            "TRUNK_MATCH": "127.0.0.1",
            "TRUNK_CONTACT": f"sip:127.0.0.1:{ports.sim_sip}",
            "AGENT_QUALIFY_FREQUENCY": "0",  # no OPTIONS pings: neither system needs them here
            # the simulator's phones send RTP only while something plays on them: never cut them
            "RTP_TIMEOUT": "0",
            "RTP_TIMEOUT_HOLD": "0",
            "VERBOSE": "0",
        },
        extra_files=extra,
    )
    inst.start()
    inst.wait_ready(60)
    if templates != SUT_CONF:
        shutil.rmtree(templates, ignore_errors=True)
    return inst


def register_agents(
    phonesim: AsteriskInstance, sut: AsteriskInstance, agents: list[AgentEndpoint], timeout: float = 60.0
) -> None:
    """Have every agent's phone register to the (new) SUT and wait until all are online. A phone
    still believes it is registered to the SUT that ran before, so the registration is sent now."""
    phonesim.cli("pjsip send register *all")
    deadline = time.monotonic() + timeout
    pending = [a.username for a in agents]
    while pending:
        pending = [u for u in pending if sut.ari_get(f"/endpoints/PJSIP/{u}").get("state") != "online"]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"agents {pending} not registered on the SUT after {timeout}s")
        time.sleep(0.2)


HOLDFAST_LOG_LEVEL = "warning"  # the Holdfast process's log level (--holdfast-log-level)


def prioritise(nice: int) -> None:
    """In the child, before exec: the service in its own scheduling group weighted by `nice`, as
    the README's deployment advice gives it (systemd CPUWeight=, Docker cpu_shares). Each sandbox
    Asterisk is its own session, so with the kernel's autogroup a plain nice would only weigh the
    service against the benchmark that started it, not against the Asterisks."""
    os.setsid()
    with contextlib.suppress(OSError):  # a kernel without autogroup: the threads' own nice is what counts
        Path("/proc/self/autogroup").write_text(str(nice))
    os.nice(nice)


def holdfast_yaml(sut: AsteriskInstance, agents: list[AgentEndpoint], http_port: int, data_dir: Path) -> str:
    """One queue with the issue's settings: ring 15 s, wrap-up 5 s, no callbacks, no announcements."""
    user, password = sut.ari_auth
    agent_lines = "\n".join(
        f'  "{a.username}":\n    name: {a.display_name}\n    password: "{a.password}"\n    skills: [bench]'
        for a in agents
    )
    return f"""
asterisk:
  ari_url: {sut.ari_url}
  ari_user: {user}
  ari_password: "{password}"
  app: {ARI_APP}
service:
  http_host: 127.0.0.1
  http_port: {http_port}
  data_dir: {data_dir}
  log_level: {HOLDFAST_LOG_LEVEL}
inbound:
  "{QUEUE_NUMBER}": bench
queues:
  bench:
    ring_timeout: 15s
    wrap_up: 5s
    callback:
      enabled: false
agents:
{agent_lines}
"""


class HoldfastProcess:
    """The Holdfast service as a child process against `sut`, with every agent made ready."""

    def __init__(
        self,
        sut: AsteriskInstance,
        agents: list[AgentEndpoint],
        http_port: int,
        workdir: Path,
        tree: Path | None = None,
        nice: int = 0,
    ) -> None:
        """`tree`: run the Holdfast of another checkout (e.g. an older commit, to measure before and
        after a change in the same conditions); default this one. `nice`: its CPU priority against the
        Asterisks (`prioritise`); 0 schedules it as any other process."""
        self.sut, self.agents, self.http_port, self.workdir = sut, agents, http_port, workdir
        self.tree = tree or REPO
        self.nice = nice
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "holdfast.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 60.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "holdfast.yaml"
        config.write_text(holdfast_yaml(self.sut, self.agents, self.http_port, self.workdir / "var"))
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.queue.holdfast_proc",
                    str(config),
                    str(self.sut.sounds_dir),
                    f"{self.sut.dir}/sounds",
                ],
                cwd=self.tree,
                stdout=out,
                stderr=subprocess.STDOUT,
                # before exec, so every thread the service starts inherits it
                preexec_fn=(lambda: prioritise(self.nice)) if self.nice else None,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Holdfast exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/api/agents", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Holdfast's API not up after {timeout}s; see {self.log_path}")
            time.sleep(0.2)
        for a in self.agents:
            self._post(f"/api/agents/{a.username}/ready", {})

    def _post(self, path: str, body: object) -> None:
        req = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def counters(self) -> dict[str, float]:
        """Holdfast's own counters now, from its /metrics (see COUNTERS)."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            name, _, value = line.rpartition(" ")
            if name in COUNTERS:
                values[COUNTERS[name]] = float(value)
            elif name.startswith(tuple(BY_KIND)):
                values[by_kind_key(name)] = float(value)
        return values

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


# Prometheus series of the Holdfast process -> the name the benchmark keeps it under.
COUNTERS = {
    "holdfast_ari_rest_requests_total": "rest_requests",
    "holdfast_ari_events_received_total": "ari_events",
    "holdfast_commit_batch_steps_count": "store_commits",
    "holdfast_commit_batch_steps_sum": "steps_stored",
    "holdfast_steps_acted_before_stored_total": "acted_early",
}

# Labelled series: what the REST requests and events are, one by one ("rest: POST /bridges/{id}/addChannel",
# "event: StasisStart", "copy dropped: StasisEnd").
BY_KIND = {
    "holdfast_ari_rest_requests_by_kind_total{": "rest: ",
    "holdfast_ari_events_received_by_type_total{": "event: ",
    "holdfast_ari_event_copies_dropped_by_type_total{": "copy dropped: ",
}


def by_kind_key(series: str) -> str:
    """'holdfast_ari_rest_requests_by_kind_total{kind="POST /channels"}' -> 'rest: POST /channels'."""
    prefix, _, label = series.partition("{")
    value = label.partition('="')[2].rpartition('"}')[0]
    return BY_KIND[prefix + "{"] + value.replace('\\"', '"')


class Profiler:
    """py-spy sampling a process for the length of a run (root needed to attach). `--nonblocking`:
    the process is never paused, so the figures of a profiled run stay comparable; the output is
    py-spy's "raw" (collapsed stacks) format, which `bench.queue.profile` summarises."""

    def __init__(self, pid: int, out: Path, rate: int = 200) -> None:
        py_spy = Path(sys.executable).parent / "py-spy"
        self.out = out
        self.proc = subprocess.Popen(
            [str(py_spy), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "--nonblocking",
             "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    @classmethod
    def perf(cls, pid: int, out: Path, rate: int = 499) -> Profiler:
        """`perf record` of a (SUT Asterisk) process instead: where its CPU goes, by C function."""
        self = cls.__new__(cls)
        self.out = out
        self.proc = subprocess.Popen(
            ["perf", "record", "-F", str(rate), "-g", "-p", str(pid), "-o", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)  # py-spy and perf write their output on Ctrl-C
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) from /proc/<pid>/stat."""
    user, kernel = cpu_split(pid)
    return user + kernel


def cpu_split(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process (all its threads), seconds: its own code, and the kernel's work
    for it (system calls: sockets, fsync, waking threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick
