"""Errors the shell raises to its callers (the HTTP API among them).

A caller that awaits a change being kept (`feed_and_commit`, `wait_committed`, `admin_action`)
gets `ServiceStopping` instead of waiting forever once the service cannot go on: answer 503, the
change may not have been kept, and the process is about to exit (a restart reconciles).
"""

from __future__ import annotations


class ServiceStopping(Exception):
    """The service is stopping (a fatal fault, or shut down): the change may not be kept."""


class CommitFailed(ServiceStopping):
    """The store could not keep a change; nothing after it is acted on and the service stops."""
