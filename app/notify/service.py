"""Wiring for the telephony service: the planner and the worker built from the configuration."""

from __future__ import annotations

from collections.abc import Callable

from app.config.notifications import SMS
from app.config.schema import HoldfastConfig
from app.core.commands import Activity, Command, Notify
from app.notify.channels import Channel, SmsChannel, WebhookChannel
from app.notify.planner import Planner
from app.notify.worker import OutboxWorker
from app.store.outbox import OutboxStore
from app.store.outbox_records import Notification


def channels_of(config: HoldfastConfig) -> dict[str, Channel]:
    settings = config.notifications
    channels: dict[str, Channel] = {name: WebhookChannel(hook) for name, hook in settings.webhooks.items()}
    if settings.sms is not None:
        channels[SMS] = SmsChannel(settings.sms)
    return channels


class Notifier:
    """What the service holds: `plan` for the commit, `worker` for delivery."""

    def __init__(self, config: HoldfastConfig, store: OutboxStore, clock: Callable[[], float]) -> None:
        self.planner = Planner(config)
        self.worker = OutboxWorker(store, channels_of(config), config.notifications.retry, clock)
        self.worker.restate = self.planner.restated  # a confirmation sent late says no time now past

    def plan(self, commands: list[Command]) -> list[Notification]:
        if not any(isinstance(c, Notify) for c in commands):
            return []
        return self.planner.plan(commands)

    def routed(self, notify: Notify) -> bool:
        """Whether `notify` has a route, so may have been given outbox rows (an SMS to a number that
        takes none gets none): only then is the worker woken."""
        return bool(self.planner.routed(notify))

    def on_activity(self, activity: Activity) -> None:
        """Each stored step of a request (the service's activity listener): a callback that
        connected or ended supersedes its confirmation held up by an outage at once."""
        if activity.request_id is not None:
            self.worker.moved(activity.request_id)

    def reload(self, config: HoldfastConfig) -> None:
        """New routes and templates for new notifications; channels for every later try."""
        self.planner.config = config
        self.worker.channels = channels_of(config)
        self.worker.retry = config.notifications.retry
