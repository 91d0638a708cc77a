"""`python -m bench.queue.profile FILE [N]`: the top frames of a py-spy "raw" profile by own time.

py-spy's raw format is one collapsed stack per line ("outer;...;leaf count"); a sample's own time
belongs to its leaf frame. Frames are grouped by function and file (line numbers dropped), and the
share is of all samples in the file (py-spy leaves idle threads out unless asked for them).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


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


def top(text: str, n: int = 10) -> list[tuple[str, float, float]]:
    """The n frames with most own time: (frame, own share, total share)."""
    own, total, samples = own_time(text)
    if not samples:
        return []
    return [(f, c / samples, total[f] / samples) for f, c in own.most_common(n)]


def main(argv: list[str]) -> int:
    path, n = Path(argv[0]), int(argv[1]) if len(argv) > 1 else 10
    text = path.read_text()
    _, _, samples = own_time(text)
    print(f"{path}: {samples} samples")
    print("| own % | total % | frame |\n| ---: | ---: | --- |")
    for frame, own_share, total_share in top(text, n):
        print(f"| {100 * own_share:.1f} | {100 * total_share:.1f} | `{frame}` |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
