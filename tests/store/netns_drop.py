"""A real silent network drop for the store's tests: a network namespace joined to the host by a
veth pair with private addresses, and a throwaway PostgreSQL cluster on one side of it.

`NetnsLink.drop()` sets the namespace's end of the link down: the host's end keeps its address
and routes, so what the host sends then vanishes with no reset and no error, and nothing comes
back; the same for what the namespace sends. That is what a cut cable or a dead firewall does,
which the proxy's "blackhole" (tests/store/pg_proxy.py) only plays above TCP: here the kernels'
TCP on both ends sees it, so keepalives and TCP_USER_TIMEOUT are what is tested.

Needs root, `ip netns` and PostgreSQL's binaries (the ones scripts/postgres-for-tests.sh uses).
Without them the test skips on a developer's machine and fails under CI (`need_parts`).
Everything made is removed afterwards, also when the test fails (use them as context managers).
"""

from __future__ import annotations

import contextlib
import glob
import os
import random
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.store.conftest import ON_CI


def _run(*argv: str, netns: str | None = None) -> None:
    command = (*(("ip", "netns", "exec", netns) if netns else ()), *argv)
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:  # (e.g. a container without the right to make namespaces)
        raise subprocess.SubprocessError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")


def postgres_bin() -> Path | None:
    """PostgreSQL's server binaries, found as scripts/postgres-for-tests.sh finds them."""
    on_path = shutil.which("pg_ctl")
    for candidate in [
        *sorted(glob.glob("/usr/lib/postgresql/*/bin")),
        *([os.path.dirname(on_path)] if on_path else []),
    ]:
        if os.access(f"{candidate}/pg_ctl", os.X_OK) and os.access(f"{candidate}/initdb", os.X_OK):
            return Path(candidate)
    return None


def need_parts() -> Path:
    """Root, `ip` and PostgreSQL's binaries, or the test skips (fails under CI: never a silent pass)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (ip netns, veth)")
    if shutil.which("ip") is None:
        missing.append("the ip command (iproute2)")
    pg_bin = postgres_bin()
    if pg_bin is None:
        missing.append("PostgreSQL's server binaries (initdb, pg_ctl)")
    if missing:
        message = f"a real network drop needs {', '.join(missing)}"
        if ON_CI:
            pytest.fail(f"CI is set but {message}, missing here")
        pytest.skip(message)
    assert pg_bin is not None
    return pg_bin


class NetnsLink:
    """A namespace and a veth pair: the host's end `host_address`, the namespace's `netns_address`."""

    def __init__(self) -> None:
        tag = f"{random.getrandbits(24):06x}"
        self.netns = f"hfdrop{tag}"
        self.host_dev = f"hfh{tag}"
        self.netns_dev = f"hfn{tag}"
        second, third, fourth = random.randrange(20, 30), random.randrange(256), random.randrange(0, 256, 4)
        self.host_address = f"10.{second}.{third}.{fourth + 1}"
        self.netns_address = f"10.{second}.{third}.{fourth + 2}"

    def __enter__(self) -> NetnsLink:
        try:
            _run("ip", "netns", "add", self.netns)
            _run(
                "ip", "link", "add", self.host_dev, "type", "veth", "peer", "name", self.netns_dev, "netns", self.netns
            )
            _run("ip", "addr", "add", f"{self.host_address}/30", "dev", self.host_dev)
            _run("ip", "link", "set", self.host_dev, "up")
            _run("ip", "addr", "add", f"{self.netns_address}/30", "dev", self.netns_dev, netns=self.netns)
            _run("ip", "link", "set", self.netns_dev, "up", netns=self.netns)
            _run("ip", "link", "set", "lo", "up", netns=self.netns)
        except BaseException:
            self.close()
            raise
        return self

    def drop(self) -> None:
        """The link goes silent: packets vanish both ways, no reset, no error on the host's end."""
        _run("ip", "link", "set", self.netns_dev, "down", netns=self.netns)

    def close(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            _run("ip", "link", "del", self.host_dev)  # (its peer goes with it)
        with contextlib.suppress(subprocess.SubprocessError):
            _run("ip", "netns", "del", self.netns)

    def __exit__(self, *exc: object) -> None:
        self.close()


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


class Cluster:
    """A throwaway PostgreSQL listening on `address` (inside `netns` when given) and on a Unix
    socket in its own directory, trusting every client: removed on exit."""

    def __init__(self, pg_bin: Path, address: str, port: int, netns: str | None = None) -> None:
        self.pg_bin, self.address, self.port, self.netns = pg_bin, address, port, netns
        self.dir = Path(tempfile.mkdtemp(prefix="holdfast-netns-pg-", dir="/var/tmp"))
        self.dsn = f"postgresql://postgres@{address}:{port}/postgres"
        self.local_dsn = f"postgresql://postgres@/postgres?host={self.dir}&port={port}"  # never crosses the link

    def _as_postgres(self, command: str) -> None:  # PostgreSQL refuses to run as root
        _run("su", "postgres", "-s", "/bin/sh", "-c", command, netns=self.netns)

    def __enter__(self) -> Cluster:
        try:
            shutil.chown(self.dir, "postgres")
            data = self.dir / "data"
            self._as_postgres(f"'{self.pg_bin}/initdb' -N -D '{data}' -A trust -U postgres >/dev/null")
            with (data / "pg_hba.conf").open("a") as hba:
                hba.write("host all all 10.0.0.0/8 trust\n")
            options = f"-p {self.port} -k {self.dir} -c listen_addresses={self.address} -c fsync=off"
            self._as_postgres(f"'{self.pg_bin}/pg_ctl' -D '{data}' -l '{self.dir}/server.log' -w -o '{options}' start")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        data = self.dir / "data"
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError):
                self._as_postgres(f"'{self.pg_bin}/pg_ctl' -D '{data}' -m immediate -w stop")
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def link_and_cluster(server_in_netns: bool) -> Iterator[tuple[NetnsLink, Cluster]]:
    """A link, and a cluster on its namespace's end (`server_in_netns`) or on the host's end."""
    pg_bin = need_parts()
    with NetnsLink() as link:
        if server_in_netns:
            cluster = Cluster(pg_bin, link.netns_address, 5432, netns=link.netns)
        else:
            cluster = Cluster(pg_bin, link.host_address, free_port(link.host_address))
        with cluster:
            yield link, cluster
