"""Run the service: ARI client, the Stasis application and the HTTP API, until a signal."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import structlog
from aiohttp import web

from app.ari import AriClient, AriConfig
from app.config import HoldfastConfig
from app.store import Store, store_from_dsn
from app.telephony.prompts import PromptBook
from app.telephony.service import TelephonyService
from app.web.api import make_app

log = structlog.get_logger("holdfast")

EXIT_FATAL = 3  # the service stopped on a fault it could not handle (2: refused to start)


def build_service(
    config: HoldfastConfig,
    prompts: PromptBook | None = None,
    store: Store | None = None,
    config_path: Path | None = None,
) -> TelephonyService:
    a = config.asterisk
    ari = AriClient(AriConfig(a.ari_url, a.ari_user.get_secret_value(), a.ari_password.get_secret_value(), app=a.app))
    return TelephonyService(config, ari, prompts=prompts, store=store, config_path=config_path)


async def open_store(config: HoldfastConfig) -> Store:
    """The configured store, opened (schema migrated); SQLite's folder is created if missing."""
    dsn = config.service.database_dsn()
    if "://" not in dsn:
        Path(dsn).parent.mkdir(parents=True, exist_ok=True)
    store = store_from_dsn(dsn)
    await store.open()
    return store


async def serve(
    config: HoldfastConfig,
    prompts: PromptBook | None = None,
    ready: asyncio.Event | None = None,
    config_path: Path | None = None,
    store: Store | None = None,
) -> int:
    """Run until a signal (returns 0) or a fatal fault (returns EXIT_FATAL after a clean stop).
    `store` is for tests; by default the configured one is opened."""
    store = store or await open_store(config)
    service = build_service(config, prompts, store, config_path)
    try:
        await service.start()
    except BaseException:
        await service.ari.close()
        await store.close()
        raise
    runner = web.AppRunner(make_app(service), access_log=None)  # the API reads the token from service.config
    await runner.setup()
    site = web.TCPSite(runner, config.service.http_host, config.service.http_port)
    await site.start()
    log.info("http_listening", host=config.service.http_host, port=config.service.http_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, service.reload)  # problems are logged; old settings stay
    if ready is not None:
        ready.set()
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(service.fatal.wait())]
    try:
        # Stop on a signal, or when the service cannot go on safely (e.g. the store failed).
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        log.info("stopping", fatal=service.fatal_reason)
        await runner.cleanup()
        await service.stop()
        await store.close()
    if service.fatal.is_set():
        log.critical("stopped_on_fault", reason=service.fatal_reason, exit_code=EXIT_FATAL)
        return EXIT_FATAL
    return 0
