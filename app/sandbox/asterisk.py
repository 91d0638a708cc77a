"""Find an Asterisk and run instances of it.

An install is either a system `asterisk` (version >= 20) or the sandbox root filesystem built by
scripts/asterisk-sandbox.sh, run with `chroot ROOT asterisk …` (needs root). A chrooted Asterisk sees
only the root, so an instance's directory lives inside it (ROOT/holdfast/<name>) and every path has
two spellings: `host_dir` (for Python) and `dir` (what Asterisk is told). With a system install both
are the same.

Instance layout (`dir`): etc/ (rendered config, asterisk.conf is the -C file), run/ (control socket),
db/ (astdb), spool/, log/ (messages.log), lib/, keys/, cache/, sounds/ (custom prompts, see
`AsteriskInstance.sound_uri`), asterisk.out (the process's stdout/stderr).

An instance is stopped gracefully (`core stop now`), then with SIGTERM, then SIGKILL; instances still
running when Python exits are stopped by an atexit hook, and a process left behind by an earlier,
killed run of the same instance directory is ended before a new one starts.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.sandbox.templates import render_tree

MIN_MAJOR = 20
STAMP_NAME = ".holdfast-asterisk-root"


class AsteriskError(RuntimeError):
    """An Asterisk instance failed to start, answer or stop."""


class AsteriskNotFound(AsteriskError):
    """No usable Asterisk on this machine."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("HOLDFAST_CACHE") or Path.home() / ".cache" / "holdfast")


@dataclass(frozen=True)
class AsteriskInstall:
    """Where an Asterisk lives. Paths other than `root` are as Asterisk sees them."""

    root: Path | None  # chroot root filesystem, None for a system install
    binary: str
    version: str
    modules_dir: str
    data_dir: str
    moh_dir: str

    @property
    def chrooted(self) -> bool:
        return self.root is not None

    def command(self, *args: str) -> list[str]:
        """argv running asterisk with `args` (through chroot for the sandbox)."""
        if self.root is not None:
            return ["chroot", str(self.root), self.binary, *args]
        return [self.binary, *args]

    def host_path(self, inner: str) -> Path:
        """The host path of a path as Asterisk sees it."""
        if self.root is None:
            return Path(inner)
        return self.root / inner.lstrip("/")

    def inner_path(self, host: Path) -> str:
        """The path Asterisk sees for a host path (which must be inside the root)."""
        if self.root is None:
            return str(host)
        rel = Path(host).resolve().relative_to(self.root.resolve())
        return "/" + str(rel)

    @property
    def major(self) -> int:
        m = re.match(r"Asterisk (\d+)", self.version)
        return int(m.group(1)) if m else 0


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run([*argv, "-V"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _major(version: str) -> int:
    m = re.match(r"Asterisk (\d+)", version)
    return int(m.group(1)) if m else 0


def _probe_layout(root: Path | None, binary: str, version: str) -> AsteriskInstall:
    def host(p: str) -> Path:
        return root / p.lstrip("/") if root is not None else Path(p)

    modules_candidates = [
        "/usr/lib/x86_64-linux-gnu/asterisk/modules",
        "/usr/lib/aarch64-linux-gnu/asterisk/modules",
        "/usr/lib/asterisk/modules",
        "/usr/lib64/asterisk/modules",
        "/usr/local/lib/asterisk/modules",
    ]
    lib = host("/usr/lib")
    if lib.is_dir():
        modules_candidates += [
            "/usr/lib/" + p.parent.parent.name + "/asterisk/modules"
            for p in lib.glob("*/asterisk/modules/chan_pjsip.so")
        ]
    modules = next((m for m in modules_candidates if (host(m) / "chan_pjsip.so").exists()), None)
    if modules is None:
        raise AsteriskNotFound(f"{version} found but no module directory with chan_pjsip.so")
    data = next(
        (d for d in ("/usr/share/asterisk", "/var/lib/asterisk") if host(d + "/sounds").is_dir()),
        "/usr/share/asterisk",
    )
    moh = next(
        (d for d in (data + "/moh", "/usr/share/asterisk/moh", "/var/lib/asterisk/moh") if host(d).is_dir()),
        data + "/moh",
    )
    return AsteriskInstall(root, binary, version, modules, data, moh)


def find_asterisk() -> AsteriskInstall:
    """The Asterisk to use: $HOLDFAST_ASTERISK_ROOT, a system one >= 20, or the cached sandbox."""
    explicit = os.environ.get("HOLDFAST_ASTERISK_ROOT")
    roots = [Path(explicit)] if explicit else []
    if not explicit and os.environ.get("HOLDFAST_FORCE_SANDBOX") != "1":
        system = shutil.which("asterisk")
        if system:
            version = _version([system])
            if _major(version) >= MIN_MAJOR:
                return _probe_layout(None, system, version)
    if not explicit:
        roots.append(default_cache_dir() / "asterisk-root")
    for root in roots:
        if not (root / STAMP_NAME).exists():
            continue
        if os.geteuid() != 0:
            raise AsteriskNotFound(f"the Asterisk sandbox at {root} runs through chroot, which needs root; run as root")
        version = _version(["chroot", str(root), "/usr/sbin/asterisk"])
        if _major(version) >= MIN_MAJOR:
            return _probe_layout(root, "/usr/sbin/asterisk", version)
    raise AsteriskNotFound(
        "no Asterisk >= 20 found: run `make asterisk` (scripts/asterisk-sandbox.sh) to build the sandbox"
        f" at {roots[-1] if roots else default_cache_dir() / 'asterisk-root'}, or install Asterisk 20+"
    )


_live: weakref.WeakSet[AsteriskInstance] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for inst in list(_live):
        with contextlib.suppress(Exception):
            inst.stop(timeout=5)


class AsteriskInstance:
    """One Asterisk process with its own directory, configuration and ports.

    `variables` fill the templates of `template_dir`; INSTANCE_DIR, MODULES_DIR, DATA_DIR, MOH_DIR and
    SOUNDS_DIR are provided automatically (a value given in `variables` wins). `extra_files` are
    written into etc/ after rendering (e.g. {"pjsip_agents.conf": render_agent_endpoints(...)}).
    ARI readiness needs HTTP_PORT, ARI_USER and ARI_PASSWORD among the variables (HTTP_BIND
    defaults to 127.0.0.1).
    """

    def __init__(
        self,
        name: str,
        install: AsteriskInstall,
        template_dir: Path | str,
        variables: Mapping[str, str],
        extra_files: Mapping[str, str] | None = None,
        base_dir: Path | None = None,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise ValueError(f"instance name {name!r}: use letters, digits, '.', '_' or '-'")
        self.name = name
        self.install = install
        self.template_dir = Path(template_dir)
        if base_dir is None:
            base_dir = install.root / "holdfast" if install.root is not None else default_cache_dir() / "instances"
        self.host_dir: Path = Path(base_dir) / name
        self.dir: str = install.inner_path(self.host_dir) if install.root is not None else str(self.host_dir)
        self.variables: dict[str, str] = {
            "INSTANCE_DIR": self.dir,
            "MODULES_DIR": install.modules_dir,
            "DATA_DIR": install.data_dir,
            "MOH_DIR": install.moh_dir,
            "SOUNDS_DIR": self.dir + "/sounds",
            **{k: str(v) for k, v in variables.items()},
        }
        self.extra_files: dict[str, str] = dict(extra_files or {})
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: Any = None

    # ---- paths -------------------------------------------------------------------------------
    @property
    def conf_path(self) -> str:
        """asterisk.conf as Asterisk sees it (the -C argument)."""
        return self.dir + "/etc/asterisk.conf"

    @property
    def etc_dir(self) -> Path:
        return self.host_dir / "etc"

    @property
    def log_path(self) -> Path:
        """The process's own stdout/stderr."""
        return self.host_dir / "asterisk.out"

    @property
    def messages_path(self) -> Path:
        return self.host_dir / "log" / "messages.log"

    @property
    def sounds_dir(self) -> Path:
        """Host directory for custom prompts Asterisk can play (see `sound_uri`)."""
        return self.host_dir / "sounds"

    def sound_uri(self, name: str) -> str:
        """ARI media URI for a prompt stored as sounds_dir/<name>.<ext> (ext omitted: Asterisk picks
        the best format present, e.g. name.wav or name.ulaw). Also usable in dialplan Playback()
        without the `sound:` prefix. Absolute paths work because Asterisk treats a sound name
        starting with '/' as a path."""
        return f"sound:{self.dir}/sounds/{name}"

    # ---- ARI ---------------------------------------------------------------------------------
    @property
    def ari_url(self) -> str:
        """Base URL of ARI, e.g. http://127.0.0.1:8088/ari."""
        return f"http://{self.variables.get('HTTP_BIND', '127.0.0.1')}:{self.variables['HTTP_PORT']}/ari"

    @property
    def ari_auth(self) -> tuple[str, str]:
        return self.variables["ARI_USER"], self.variables["ARI_PASSWORD"]

    def ari_get(self, path: str, timeout: float = 5.0) -> Any:
        """GET an ARI resource synchronously (handy in fixtures); raises on HTTP errors."""
        req = urllib.request.Request(self.ari_url + path)
        token = base64.b64encode(":".join(self.ari_auth).encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    # ---- lifecycle ---------------------------------------------------------------------------
    def render(self) -> None:
        """Write the instance directory: fresh etc/ from the templates, the other dirs if missing."""
        # spool/recording: Asterisk does not make it, and ARI's record fails (500) without it.
        for sub in ("run", "db", "spool", "spool/recording", "log", "lib", "keys", "cache", "sounds"):
            (self.host_dir / sub).mkdir(parents=True, exist_ok=True)
        if self.etc_dir.exists():
            shutil.rmtree(self.etc_dir)
        render_tree(self.template_dir, self.etc_dir, self.variables)
        for fname, text in self.extra_files.items():
            (self.etc_dir / fname).write_text(text)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Render the configuration and start Asterisk in the foreground (-f) as a child process."""
        if self.running:
            raise AsteriskError(f"asterisk instance {self.name} is already running (pid {self.pid})")
        self.render()
        self._kill_leftover()
        self._out = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process's lifetime
        self._out.write(f"\n==== start {time.strftime('%F %T')} ====\n".encode())
        self._out.flush()
        self._proc = subprocess.Popen(
            self.install.command("-f", "-n", "-C", self.conf_path),
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _live.add(self)

    def wait_ready(self, timeout: float = 30.0) -> dict[str, Any]:
        """Wait until ARI answers `GET /asterisk/info` and Asterisk is fully booted; returns the info."""
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if not self.running:
                raise AsteriskError(
                    f"asterisk instance {self.name} exited (code {self._proc.returncode if self._proc else None})"
                    f" before it was ready\n{self.log_tail()}"
                )
            try:
                info: dict[str, Any] = self.ari_get("/asterisk/info", timeout=2)
                self.cli("core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
                return info
            except urllib.error.HTTPError as e:
                last_error = f"HTTP {e.code} {e.reason}"
                if e.code == 401:
                    raise AsteriskError(
                        f"ARI of {self.name} rejects user {self.ari_auth[0]!r} (401): check ari.conf"
                    ) from e
            except (OSError, AsteriskError) as e:
                last_error = str(e)
            time.sleep(0.1)
        raise AsteriskError(
            f"asterisk instance {self.name}: ARI at {self.ari_url} not ready after {timeout:.0f}s"
            f" (last error: {last_error})\n{self.log_tail()}"
        )

    def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run a CLI command through the control socket (`asterisk -rx`) and return its output."""
        try:
            out = subprocess.run(
                self.install.command("-C", self.conf_path, "-rx", command),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as e:
            raise AsteriskError(f"{self.name}: CLI {command!r} timed out after {timeout}s") from e
        if out.returncode != 0 or "Unable to connect to remote asterisk" in out.stdout:
            raise AsteriskError(f"{self.name}: CLI {command!r} failed: {(out.stdout + out.stderr).strip()}")
        return out.stdout

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully, then SIGTERM, then SIGKILL. Never returns with the process alive."""
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                with contextlib.suppress(AsteriskError):
                    self.cli("core stop now", timeout=min(5.0, timeout))
                if not self._wait(proc, timeout):
                    self._signal(proc, signal.SIGTERM)
                    if not self._wait(proc, 5):
                        self._signal(proc, signal.SIGKILL)
                        proc.wait(5)
        finally:
            # Whatever the process left in its session (none expected) goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            self._proc = None
            if self._out is not None:
                self._out.close()
                self._out = None
            _live.discard(self)

    def restart(self, timeout: float = 30.0) -> dict[str, Any]:
        """Stop, re-render the configuration, start and wait until ready."""
        self.stop()
        self.start()
        return self.wait_ready(timeout)

    def remove(self) -> None:
        """Delete the instance directory (the instance must be stopped)."""
        if self.running:
            raise AsteriskError(f"stop instance {self.name} before removing it")
        shutil.rmtree(self.host_dir, ignore_errors=True)

    def __enter__(self) -> AsteriskInstance:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- helpers -----------------------------------------------------------------------------
    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in (self.log_path, self.messages_path):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- last lines of {path} ---\n" + "\n".join(text))
        return "\n".join(parts) or f"(no log in {self.host_dir})"

    @staticmethod
    def _wait(proc: subprocess.Popen[bytes], timeout: float) -> bool:
        try:
            proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)

    def _kill_leftover(self) -> None:
        """End an Asterisk an earlier, killed run left on this instance directory (pid file + cmdline)."""
        pidfile = self.host_dir / "run" / "asterisk.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return
        if self.conf_path.encode() not in cmdline:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not Path(f"/proc/{pid}").exists():
                return
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
