"""The ARI password is changed in Asterisk while the service runs: every reconnect is refused with
401. Retried for ever, the service was alive but deaf (only /healthz told); it stops now, loudly
(critical log, `holdfast run` exits non-zero), after a few refusals in a row."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from app.ari import EventsRefused
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import make_shell


async def test_credentials_refused_on_reconnect_stop_the_service(fake_ari: FakeAri) -> None:
    shell = await make_shell(fake_ari)
    try:
        await shell.start()
        fake_ari.password = "rotated"  # the service's credentials are no longer accepted
        with capture_logs() as logs:
            await fake_ari.drop_websockets()
            await asyncio.wait_for(shell.service.fatal.wait(), 5.0)
        assert shell.service.fatal_reason == "ari_events_died"
        events = shell.ari.events
        assert events is not None and not events.running
        assert events.auth_refusals == events.auth_refusals_fatal
        critical = [entry["event"] for entry in logs if entry.get("log_level") == "critical"]
        assert critical == ["ari_events_credentials_refused", "service_stopping"]
        stopping = next(entry for entry in logs if entry.get("event") == "service_stopping")
        assert EventsRefused.__name__ in stopping["error"]
    finally:
        await shell.stop()
