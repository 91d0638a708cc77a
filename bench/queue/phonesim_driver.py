"""The e2e tests' phone simulator driver (tests/e2e/phonesim.py), reused as is. tests/ is not an
installed package and the driver imports itself as `phonesim`, so its folder goes on sys.path the
way tests/e2e/conftest.py does it."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "e2e"))

from phonesim import (
    AriError,
    CallEnded,
    MiniAri,
    PhoneSim,
    SimCall,
    render_agent_registrations,
)

__all__ = ["AriError", "CallEnded", "MiniAri", "PhoneSim", "SimCall", "render_agent_registrations"]
