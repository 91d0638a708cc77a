"""What every handler reads from the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from app.config import HoldfastConfig
from app.telephony.service import TelephonyService
from app.web.sessions import SessionKeeper

SERVICE_KEY = web.AppKey("service", TelephonyService)
# The settings the process started with: the listener, store and ARI connection use these until a
# restart, whatever a reload says (see app/config/restart.py).
STARTED_CONFIG_KEY = web.AppKey("started_config", HoldfastConfig)
OPENAPI_KEY = web.AppKey("openapi", dict)
SESSIONS_KEY = web.AppKey("sessions", SessionKeeper)
