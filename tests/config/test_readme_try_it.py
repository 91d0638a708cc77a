"""README "Try it", step 3, against the engine run on examples/holdfast.yaml: a caller dialling
4000 while no agent is logged in hears their position and no estimated wait (there is none while
nobody serves the queue, docs/settings.md `announce.estimated_wait`); the README said a very long one."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from app.config import check_config
from app.core import commands as c
from app.core import events as ev
from app.core.engine import Engine

from .helpers import EXAMPLE

README = Path(__file__).resolve().parents[2] / "README.md"


def step(number: int) -> str:
    """The text of the numbered step of "Try it", on one line."""
    match = re.search(rf"^{number}\. (.*?)^{number + 1}\. ", README.read_text(), re.S | re.M)
    assert match is not None, f"README has no step {number}"
    return " ".join(match.group(1).split())


def test_a_caller_with_no_agent_logged_in_hears_what_the_readme_says() -> None:
    config = check_config(EXAMPLE, env={})
    assert config.queues["support"].announce.estimated_wait  # asked for, but nobody serves the queue
    engine = Engine(config.core())
    now = datetime(2026, 12, 21, 10, 0, tzinfo=ZoneInfo("Europe/Copenhagen")).timestamp()  # a Monday
    out = engine.handle(ev.CallerArrived(now, "r1", config.inbound["4000"], "+4520123456", 0))
    while (deadline := engine.next_deadline()) is not None and deadline <= now + 5:
        out += engine.handle(ev.Tick(deadline))
    heard = [item.name for command in out if isinstance(command, c.PlayPrompt) for item in command.items]
    assert heard == ["position", "count"]
    text = step(3)
    assert "you hear your position (no estimated wait" in text, text
