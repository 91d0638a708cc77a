"""The benchmarks' way of giving the service the CPU first (README, "Beside Asterisk on one
machine"): its own session, whose scheduling group and threads carry the given nice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.queue.systems import prioritise

PROBE = """
import os, pathlib
group = pathlib.Path("/proc/self/autogroup")
print(os.getsid(0) == os.getpid(), os.nice(0))
print(group.read_text().strip() if group.exists() else "")
"""


def test_the_child_leads_its_own_session_and_its_group_and_threads_carry_the_nice() -> None:
    # A positive nice needs no privilege; the benchmarks use a negative one, the same code path.
    out = subprocess.run(
        [sys.executable, "-c", PROBE], preexec_fn=lambda: prioritise(3), capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == f"True {os.nice(0) + 3}"
    if Path("/proc/self/autogroup").exists():  # kernels built with autogroup (Debian's)
        assert out[1].endswith("nice 3"), out[1]
