"""The machine a benchmark ran on, for the header of every report (figures mean little without it)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> str:
    """e.g. "2 CPUs (nproc 2), Intel(R) Xeon(R) Processor; Linux 6.1; Python 3.11.7"."""
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu_model()}; {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}"
    )
