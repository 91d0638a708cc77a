"""app/core stays pure: no I/O layers, no clocks, no unseeded randomness."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import app.core

CORE = Path(app.core.__file__).parent
FORBIDDEN_MODULES = (
    "asyncio",
    "aiohttp",
    "aiosqlite",
    "sqlite3",
    "socket",
    "ssl",
    "http.client",
    "urllib.request",  # (urllib.parse and threading come in with the stdlib and phonenumbers: harmless)
    "subprocess",
    "psycopg",
    "app.store",
    "app.telephony",
    "app.web",
    "app.ari",
    "app.sim",
    "app.config",
    "app.cli",
)
# attribute calls that read a clock or an unseeded random source
FORBIDDEN_CALLS = {
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
    ("time", "time_ns"),
    ("time", "sleep"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("os", "urandom"),
    ("uuid", "uuid4"),
    ("uuid", "uuid1"),
    ("secrets", "token_hex"),
}
RANDOM_MODULE_FUNCS = {"random", "randint", "choice", "shuffle", "uniform", "sample", "randrange", "seed", "gauss"}


def core_modules() -> list[str]:
    return [f"app.core.{m.name}" for m in pkgutil.iter_modules([str(CORE)])]


def test_importing_the_core_pulls_in_no_io_layer() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {core_modules()!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=CORE.parent.parent
    )
    loaded = json.loads(out.stdout)
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_MODULES)]
    assert bad == []


def _sources() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(CORE.glob("*.py"))]


def test_core_sources_exist() -> None:
    assert len(_sources()) >= 10


def test_no_forbidden_imports_in_source() -> None:
    bad = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if any(name == f or name.startswith(f + ".") for f in (*FORBIDDEN_MODULES, "time", "secrets", "uuid")):
                    bad.append(f"{path.name}:{node.lineno} imports {name}")
    assert bad == []


def test_no_clock_reads_or_unseeded_random_calls() -> None:
    bad = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute):
                base = func.value
                base_name = (
                    base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else None
                )
                if (base_name, func.attr) in FORBIDDEN_CALLS:
                    bad.append(f"{path.name}:{node.lineno} {base_name}.{func.attr}()")
                if base_name == "random" and func.attr in RANDOM_MODULE_FUNCS:
                    bad.append(f"{path.name}:{node.lineno} random.{func.attr}() uses the unseeded global generator")
                if base_name == "random" and func.attr == "Random" and not node.args and not node.keywords:
                    bad.append(f"{path.name}:{node.lineno} random.Random() without a seed")
                if base_name == "random" and func.attr == "SystemRandom":
                    bad.append(f"{path.name}:{node.lineno} random.SystemRandom()")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "random":
                bad.append(f"{path.name}:{node.lineno} from random import ... (use a seeded random.Random)")
    assert bad == []


def test_the_scan_would_catch_a_clock_read() -> None:
    tree = ast.parse("import time\nx = time.time()\nfrom datetime import datetime\ny = datetime.now()\n")
    calls = [
        (n.func.value.id, n.func.attr)
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
    ]
    assert set(calls) <= FORBIDDEN_CALLS and len(calls) == 2
