"""`python -m bench.queue.profile FILE [N]`: the top frames of a py-spy "raw" profile by own time.

py-spy's raw format is one collapsed stack per line ("outer;...;leaf count"); a sample's own time
belongs to its leaf frame. Frames are grouped by function and file (line numbers dropped). Waiting
leaves py-spy does not recognise as idle (WAITING) are left out; with the same workload and sampling
rate, own samples compare between two profiles as time spent.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")

# Leaf frames that are waiting, not working (py-spy does not always tell): the event loop's epoll
# and aiosqlite's worker thread waiting for its next job. Left out of the ranking.
WAITING = ("EpollSelector.select (", "_connection_worker_thread (")


def frame_name(frame: str) -> str:
    """ "handle (app/core/engine.py:120)" -> "handle (app/core/engine.py)"; site-packages trimmed."""
    frame = _LINE.sub(")", frame.strip())
    return re.sub(r"\(.*?site-packages/", "(", frame)


def own_time(text: str) -> tuple[Counter[str], Counter[str], int]:
    """(own samples per frame, total samples per frame, all samples)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [frame_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        samples += n
        own[frames[-1]] += n
        for f in set(frames):
            total[f] += n
    return own, total, samples


def top(text: str, n: int = 10) -> tuple[int, list[tuple[str, int, float]]]:
    """Samples spent working (WAITING leaves left out), and the n frames with most own samples:
    (frame, own samples, own share of the working samples)."""
    own, _, _ = own_time(text)
    working = {f: c for f, c in own.items() if not f.startswith(WAITING)}
    busy = sum(working.values())
    ranked = sorted(working.items(), key=lambda item: -item[1])[:n]
    return busy, [(f, c, c / busy if busy else 0.0) for f, c in ranked]


def main(argv: list[str]) -> int:
    path, n = Path(argv[0]), int(argv[1]) if len(argv) > 1 else 10
    busy, ranked = top(path.read_text(), n)
    print(f"{path}: {busy} working samples")
    print("| own samples | share of working | frame |\n| ---: | ---: | --- |")
    for frame, count, share in ranked:
        print(f"| {count} | {100 * share:.1f} % | `{frame}` |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
