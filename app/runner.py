"""Run the service: ARI client, the Stasis application and the HTTP API, until a signal.

Stopping is bounded whatever is in flight (a call up, a commit waiting on a busy database,
stderr a closed pipe): each step (HTTP, service, store) gets a few seconds and a failure in one
does not skip the next. A stop that could not finish cleanly (a step timed out or failed) leaves
something behind that can block the interpreter's exit for ever (SQLite's worker thread is not a
daemon and waits on a connection nobody closed), so the process then ends at once with
EXIT_FATAL; a watchdog does the same if the stop as a whole overruns, and a second signal during
the stop ends the process immediately. A restart reconciles, and nothing was confirmed to a
caller that was not stored (commit before act).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.config import HoldfastConfig
from app.store import Store, is_postgres, sqlite_file, store_from_dsn
from app.store.lease import PostgresLeases
from app.telephony.instance_lock import AnotherInstanceRunning
from app.telephony.leadership import Leadership
from app.telephony.prompts import PromptBook
from app.telephony.servers import ServerSet
from app.telephony.service import TelephonyService
from app.web.api import make_app
from app.web.auth import load_session_key, metrics_allowed

log = structlog.get_logger("holdfast")

EXIT_FATAL = 3  # the service stopped on a fault it could not handle (2: refused to start)

# Seconds each stop step may take; the watchdog ends the process if the whole stop overruns.
STOP_HTTP = 1.0
STOP_SERVICE = 3.0  # a pending commit gets most of this to finish
STOP_STORE = 1.5
STOP_WATCHDOG = 8.0


def _hard_exit(reason: str) -> None:
    """End the process now: the clean way is stuck. Logging may itself fail (a closed pipe)."""
    _log_quietly("critical", "stop_forced", reason=reason, exit_code=EXIT_FATAL)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing to flush to
            stream.flush()
    os._exit(EXIT_FATAL)


def _log_quietly(level: str, event: str, **fields: object) -> None:
    """A log line that cannot break the stop (e.g. stderr is a pipe whose reader has gone)."""
    with contextlib.suppress(Exception):  # the stop goes on without its log line
        getattr(log, level)(event, **fields)


async def _stop_step(name: str, action: Awaitable[None], timeout: float) -> bool:
    """Run one stop step within `timeout`; False (logged) if it failed or overran."""
    try:
        async with asyncio.timeout(timeout):
            await action
    except TimeoutError:
        _log_quietly("error", "stop_step_timed_out", step=name, timeout=timeout)
        return False
    except Exception as error:
        _log_quietly("error", "stop_step_failed", step=name, error=f"{type(error).__name__}: {error}")
        return False
    return True


async def _listen(runner: web.AppRunner, config: HoldfastConfig) -> None:
    await runner.setup()
    site = web.TCPSite(runner, config.service.http_host, config.service.http_port)
    await site.start()
    log.info("http_listening", host=config.service.http_host, port=config.service.http_port)


def _standby_app(service: TelephonyService, leadership: Leadership) -> web.Application:
    """A standby's HTTP: /healthz (503, who leads) and /metrics (holdfast_leader 0)."""

    async def healthz(request: web.Request) -> web.Response:
        status = leadership.standby_status or "standby, waiting for the lease"
        return web.json_response({"ari": "disconnected", "problems": [status], "error": status}, status=503)

    async def metrics(request: web.Request) -> web.Response:
        if not metrics_allowed(request, service.config):  # as on the leader (app/web/auth.py)
            return web.json_response({"error": "/metrics needs the metrics token or an admin's"}, status=401)
        return web.Response(
            body=generate_latest(service.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def _wait_for_lease(leadership: Leadership, service: TelephonyService) -> None:
    """Standby: wait for the lease (who holds it meanwhile: logged, and on /healthz)."""
    lease = await leadership.wait_for_lease()
    log.info("taking_over", epoch=lease.epoch, detail="loading the state, connecting to Asterisk, reconciling")


def build_service(
    config: HoldfastConfig,
    prompts: PromptBook | None = None,
    store: Store | None = None,
    config_path: Path | None = None,
    clock: Callable[[], float] | None = None,
) -> TelephonyService:
    """`clock`: for tests (default: the service's SteadyClock on the machine's clocks)."""
    servers = ServerSet.from_config(config.asterisk.server_list(), config.asterisk.app)  # one ARI client each
    return TelephonyService(
        config, servers.first.ari, prompts=prompts, store=store, config_path=config_path, servers=servers, clock=clock
    )


async def open_store(config: HoldfastConfig) -> Store:
    """The configured store, opened (schema migrated); SQLite's folder is created if missing,
    whether the file is named by a path or by `sqlite:///FILE` (as data_dir would be)."""
    dsn = config.service.database_dsn()
    file = None if is_postgres(dsn) else sqlite_file(dsn)
    if file is not None and file != ":memory:":
        Path(file).parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # callers' numbers: ours alone
    store = store_from_dsn(dsn)
    await store.open()
    return store


async def serve(
    config: HoldfastConfig,
    prompts: PromptBook | None = None,
    ready: asyncio.Event | None = None,
    config_path: Path | None = None,
    store: Store | None = None,
    standby: bool = False,
) -> int:
    """Run until a signal (returns 0) or a fatal fault (returns EXIT_FATAL after a clean stop).
    `store` is for tests; by default the configured one is opened. `standby`: wait for the
    leadership lease (PostgreSQL) instead of refusing to start while another node leads."""
    store = store or await open_store(config)
    service = build_service(config, prompts, store, config_path)
    leadership: Leadership | None = None
    if isinstance(store, PostgresLeases):  # several nodes: the lease with its fencing epoch
        # The lease is judged by the standby's wall clock: ours (steady_clock.py) may run ahead of it.
        leadership = Leadership(store, time.time, lambda: service.fail("lease_lost"), service.metrics.registry)
        service.lock = leadership
    elif standby:
        await store.close()
        raise AnotherInstanceRunning("--standby needs the store on PostgreSQL (service.database: postgresql://…)")
    app = make_app(service)
    runner = web.AppRunner(app, access_log=None)  # the API reads the token from service.config
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # SIGHUP (systemctl reload) from the first moment: its default action ends the process, and a
    # fleet-wide reload would silently take down every node still starting or waiting as standby.
    # One that comes before the service runs is applied once it does (the file may have changed).
    reload_asked = asyncio.Event()

    def reload_later() -> None:
        reload_asked.set()
        log.warning("reload_deferred", detail="still starting or on standby: applied once the service runs")

    loop.add_signal_handler(signal.SIGHUP, reload_later)
    try:
        if standby and leadership is not None:
            # While waiting only /healthz and /metrics answer (a standby must not take API calls:
            # it would queue changes nobody commits); the full API replaces them on taking over.
            waiting_http = web.AppRunner(_standby_app(service, leadership), access_log=None)
            await _listen(waiting_http, config)
            lease_wait = asyncio.ensure_future(_wait_for_lease(leadership, service))
            stopped = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait([lease_wait, stopped], return_when=asyncio.FIRST_COMPLETED)
            finally:
                lease_wait.cancel()
                stopped.cancel()
                await asyncio.gather(lease_wait, stopped, return_exceptions=True)
                await waiting_http.cleanup()
            if lease_wait.cancelled() or stop.is_set():  # a signal while waiting: nothing was led
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    loop.remove_signal_handler(sig)
                await leadership.release()  # in case the lease came with the signal
                await service.ari.close()
                await store.close()
                return 0
            lease_wait.result()
        # The page's log-in key, from the store, with the start's other store work: before Asterisk and
        # before the API serves (a database another writer holds then delays the start, not the API).
        await load_session_key(app)
        await service.start()
    except BaseException:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
        await service.ari.close()
        await store.close()
        raise
    await _listen(runner, config)
    loop.add_signal_handler(signal.SIGHUP, service.reload)  # problems are logged; old settings stay
    if reload_asked.is_set():
        service.reload()
    if ready is not None:
        ready.set()
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(service.fatal.wait())]
    try:
        # Stop on a signal, or when the service cannot go on safely (e.g. the store failed).
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watchdog = threading.Timer(STOP_WATCHDOG, _hard_exit, args=("stop_overran",))
        watchdog.daemon = True  # it must never keep the process alive itself
        watchdog.start()
        for waiting in waits:
            waiting.cancel()
        # Not removed: SIGHUP's default action would end the stop half-way.
        loop.add_signal_handler(signal.SIGHUP, lambda: _log_quietly("warning", "reload_ignored", detail="stopping"))
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal: stop waiting, out now
            loop.add_signal_handler(sig, _hard_exit, "second_signal")
        _log_quietly("info", "stopping", fatal=service.fatal_reason)
        clean = await _stop_step("http", runner.cleanup(), STOP_HTTP)  # frees the port first
        clean = await _stop_step("service", service.stop(), STOP_SERVICE) and clean
        clean = await _stop_step("store", store.close(), STOP_STORE) and clean
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        if not clean:  # something may still hold the interpreter's exit (the store's thread)
            _hard_exit("stop_incomplete")
        watchdog.cancel()
    if service.fatal.is_set():
        _log_quietly("critical", "stopped_on_fault", reason=service.fatal_reason, exit_code=EXIT_FATAL)
        return EXIT_FATAL
    return 0
