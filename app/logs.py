"""structlog set-up: JSON lines on stderr, with the level the config asks for."""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import TextIO

import structlog


class _Unbreakable:
    """stderr for log lines, which never raises: when it is a pipe whose reader has gone (`holdfast
    run | tee` after Ctrl-C) a log line is lost rather than breaking the code that logs, such as
    the stop sequence (which then left the store open and the process hung at exit)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except (OSError, ValueError):  # broken pipe, closed file
            return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.stream.flush()


def configure(level: str = "info", json: bool = True) -> None:
    numeric = logging.getLevelName(level.upper())
    logging.basicConfig(stream=sys.stderr, level=numeric, format="%(message)s")
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_Unbreakable(sys.stderr)),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
