"""Health, metrics, the OpenAPI document and reloading the settings file."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.config import ConfigError, HoldfastConfig, load_config, restart_needed
from app.config.servers import applied_by_reload
from app.store import StoreError
from app.telephony.errors import ServiceStopping
from app.telephony.service import TelephonyService
from app.web.auth import who
from app.web.campaign_crud import campaign_changes
from app.web.commit import log_change, refuse_if_stopping
from app.web.context import OPENAPI_KEY, SERVICE_KEY, STARTED_CONFIG_KEY
from app.web.errors import ApiError
from app.web.models import Health, ReloadResult


def health_problems(service: TelephonyService) -> list[str]:
    """Why the service cannot take or move calls now; empty when it can."""
    problems = []
    if not service.connected.is_set():
        problems.append("ARI is not connected: Asterisk is unreachable or the events websocket dropped")
    if service.replaced:
        problems.append("another Holdfast took over the Stasis application")
    if not service.healthy:
        why = service.fatal_reason or "it cannot go on safely"
        # A store's refusal says what an admin must do (free disk space, fix permissions): a monitor
        # polling this sees it without the log. Other errors are bugs: their words stay in the log.
        if isinstance(service.fatal_error, StoreError):
            why += f": {service.fatal_error}"
        problems.append(f"the service is stopping: {why} (see its log)")
    return problems


async def healthz(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    problems = health_problems(service)
    several = service.servers.several
    answer = Health(
        ari="connected" if service.connected.is_set() else "disconnected",
        problems=problems,
        error="; ".join(problems) or None,
        servers={s.name: "up" if s.up else "down" for s in service.servers.servers} if several else None,
    )
    return web.json_response(answer.model_dump(mode="json", exclude_none=True), status=503 if problems else 200)


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI_KEY])


async def metrics(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    body = generate_latest(service.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def reload_settings(request: web.Request) -> web.Response:
    """Applied means applied and stored: the reload's own step (callbacks a lowered max_attempts
    ends, campaigns it drops) is committed before the answer, like any other change."""
    service = request.app[SERVICE_KEY]
    # not between a campaign change's check and its write (app/web/campaign_crud.py)
    async with campaign_changes(service):
        refuse_if_stopping(service)
        problem = service.reload()
        if problem is None:
            try:
                await service.wait_committed()
            except ServiceStopping as error:
                text = (
                    f"the reload is not kept: the service is stopping ({error}); it reads the file again when it starts"
                )
                raise ApiError(503, text) from None
    if problem is not None:
        answer = ReloadResult(applied=False, error=problem)
        return web.json_response(answer.model_dump(mode="json", exclude={"restart_needed"}), status=400)
    started, file = request.app[STARTED_CONFIG_KEY], _file_settings(service)
    # Which agents register on which server is applied by the reload itself (not the connections).
    applied = applied_by_reload(started.asterisk, file.asterisk)
    restart = [key for key in restart_needed(started, file) if key not in applied]
    # who applied the file's settings: a reload can end callbacks (a lowered max_attempts) or drop campaigns
    await log_change(service, service.clock(), who(request, "admin"), "reload", None, {"restart_needed": restart})
    return web.json_response(
        ReloadResult(applied=True, restart_needed=restart).model_dump(mode="json", exclude_none=True)
    )


def _file_settings(service: TelephonyService) -> HoldfastConfig:
    """The settings as the file now has them. The service keeps its running `asterisk` section on
    reload, so only the file shows that section's changes."""
    if service.config_path is not None:
        try:
            return load_config(service.config_path)
        except ConfigError:  # changed again since the reload read it: the applied settings will do
            pass
    return service.config
