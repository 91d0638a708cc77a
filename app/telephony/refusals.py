"""How a background part of the service meets a store that refuses it.

A busy store (another node's transaction, a slow disk) is waited out: the part tries again at its
next round. A store that keeps refusing (a damaged page, a permission lost on the file) must not
leave the part dead inside a live service, logging one line per round while /healthz says all is
well: after MAX_REFUSALS refusals in a row the error is raised, and the service, which watches the
part's task, stops loudly.
"""

from __future__ import annotations

import structlog

from app.store import StoreError

log = structlog.get_logger("holdfast.refusals")

MAX_REFUSALS = 5  # refused rounds in a row before the part gives up


class Refusals:
    def __init__(self, what: str, limit: int = MAX_REFUSALS) -> None:
        self.what = what  # the part, for the log line: "recording_retention", "history_prune"
        self.limit = limit
        self.in_a_row = 0

    def refused(self, error: StoreError) -> None:
        """One round refused: logged, or raised once it is the limit's in a row."""
        self.in_a_row += 1
        if self.in_a_row >= self.limit:
            raise error
        log.error(f"{self.what}_store_error", error=str(error), in_a_row=self.in_a_row, gives_up_at=self.limit)

    def served(self) -> None:
        self.in_a_row = 0
