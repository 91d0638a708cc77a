"""Configuration templates with `${NAME}` placeholders.

A template declares its variables in comment lines of the form

    ;   ${NAME}            what it is
    ;   ${NAME} = default  what it is (optional, with a default)

Only declared names are substituted; every other `${...}` (Asterisk's own `${EXTEN}`, `${AMDSTATUS}`…)
is left alone, so dialplan needs no escaping. The declaration lines themselves are kept verbatim as
documentation. A declared variable without default that is not supplied is an error naming the
file and the variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

_DECLARATION = re.compile(r"^;\s+\$\{([A-Z][A-Z0-9_]*)\}(?:\s*=\s*(\S*))?")


class TemplateError(ValueError):
    """A template cannot be rendered (missing variable, bad value)."""


def declared_variables(text: str) -> dict[str, str | None]:
    """Variables a template declares, each with its default (None when required)."""
    found: dict[str, str | None] = {}
    for line in text.splitlines():
        m = _DECLARATION.match(line)
        if m:
            found[m.group(1)] = m.group(2)
    return found


def render_template(text: str, variables: Mapping[str, str], *, source: str = "template") -> str:
    """Substitute the declared variables of `text`; see the module docstring."""
    declared = declared_variables(text)
    values: dict[str, str] = {}
    missing: list[str] = []
    for name, default in declared.items():
        if name in variables:
            values[name] = str(variables[name])
        elif default is not None:
            values[name] = default
        else:
            missing.append(name)
    if missing:
        raise TemplateError(f"{source}: no value for {', '.join('${' + n + '}' for n in missing)}")
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            raise TemplateError(f"{source}: value of ${{{name}}} contains a line break")
    if not values:
        return text
    pattern = re.compile(r"\$\{(" + "|".join(map(re.escape, values)) + r")\}")
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        if _DECLARATION.match(line):
            out.append(line)
        else:
            out.append(pattern.sub(lambda m: values[m.group(1)], line))
    return "".join(out)


def render_tree(template_dir: Path, dest_dir: Path, variables: Mapping[str, str]) -> list[Path]:
    """Render every file of `template_dir` (not recursive) into `dest_dir`; returns written paths."""
    template_dir = Path(template_dir)
    if not template_dir.is_dir():
        raise TemplateError(f"template directory {template_dir} does not exist")
    dest_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for src in sorted(template_dir.iterdir()):
        if not src.is_file() or src.name.startswith(".") or src.suffix in {".md", ".py"}:
            continue
        text = src.read_text()
        target = dest_dir / src.name
        target.write_text(render_template(text, variables, source=str(src)))
        written.append(target)
    return written
