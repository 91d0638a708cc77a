"""Reading a Holdfast YAML file into a validated `HoldfastConfig`, or a list of every problem.

Theory of operation: the file is parsed with a YAML loader closer to YAML 1.2 than PyYAML's
default: only true/false are booleans (so `NO` stays Norway and `off` stays "off"), only plain
decimals are integers (so "+4512345678" and "0045..." keep their digits) and dates stay text.
Duplicate keys, which YAML would silently resolve to the last one, are reported with their line.
Pydantic then validates the data and every error is rewritten as "<key path> is <value>;
<reason>". Checks across sections (a skill or an inbound number naming an unknown queue) run on
the raw data, so they are reported together with every other problem, not after them.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from app.config.notifications import notifications_cross_check
from app.config.schema import HoldfastConfig, UnsetSecret
from app.config.servers import servers_cross_check
from app.config.users import users_cross_check

__all__ = ["ConfigError", "check_config", "load_config", "parse_config", "unset_secrets", "validate_config"]

SECTIONS = tuple(HoldfastConfig.model_fields)


class ConfigError(Exception):
    """A configuration that cannot be used; `problems` holds one human message per problem."""

    def __init__(self, problems: Sequence[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.source} is not valid" if self.source else "the configuration is not valid"
        count = len(self.problems)
        head = f"{where} ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


# --- YAML ---------------------------------------------------------------------------------------

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2-like scalars (duplicate keys are found on the node tree)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(_INT, re.compile(r"^-?(?:0|[1-9][0-9]*)$"), list("-0123456789"))


def _read_yaml(text: str) -> tuple[Any, list[tuple[str, str]]]:
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
            duplicates = _duplicate_keys(node, ()) if node is not None else []
            data = loader.construct_document(node) if node is not None else None
        except yaml.MarkedYAMLError as e:
            raise ConfigError([_yaml_problem(e)]) from None
        except yaml.YAMLError as e:
            raise ConfigError([f"YAML error: {e}"]) from None
        return data, duplicates
    finally:
        loader.dispose()


def _duplicate_keys(
    node: yaml.Node, path: tuple[str, ...], seen_nodes: set[int] | None = None
) -> list[tuple[str, str]]:
    """(key path, problem) for every key written twice in one mapping (YAML would keep the last)."""
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:  # an alias met again (or a recursive one): already walked
        return []
    seen_nodes.add(id(node))
    found: list[tuple[str, str]] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = str(key_node.value)
            if key in first:
                problem = _duplicate_problem((*path, key), first[key], (key_node, value_node))
                found.append((_path((*path, key)), problem))
            else:
                first[key] = (key_node, value_node)
            found += _duplicate_keys(value_node, (*path, key), seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found += _duplicate_keys(item, (*path, str(i)), seen_nodes)
    return found


def _duplicate_problem(
    path: tuple[str, ...], first: tuple[yaml.Node, yaml.Node], again: tuple[yaml.Node, yaml.Node]
) -> str:
    mark, before = again[0].start_mark, first[0].start_mark
    text = (
        f"line {mark.line + 1}, column {mark.column + 1}: {_path(path)} appears twice in the same mapping "
        f"(first at line {before.line + 1})"
    )
    if len(path) == 2 and path[0] == "inbound":  # the admin must choose which queue the number goes to
        queues = [n.value if isinstance(n, yaml.ScalarNode) else "?" for n in (first[1], again[1])]
        text += f"; it sends the number to {queues[0]} and to {queues[1]}; a number goes to one queue"
    return text + "; remove one"


def _yaml_problem(e: yaml.MarkedYAMLError) -> str:
    mark = e.problem_mark or e.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    text = f"YAML syntax error{where}: {e.problem or e.context or 'cannot parse'}"
    if e.context and e.problem and e.context_mark and e.context_mark is not mark:
        text += f" ({e.context} at line {e.context_mark.line + 1}, column {e.context_mark.column + 1})"
    if e.problem and "alias" in e.problem:
        text += '; a value starting with "*" (like a feature code) must be quoted: "*21"'
    return text


# --- public API ---------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> HoldfastConfig:
    """Read and validate the YAML file at `path`; raises ConfigError listing every problem.

    `env` replaces os.environ for `${VAR}` / `env:VAR` secrets (tests, reloads).
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"cannot read the file: {e}"], source) from None
    return parse_config(text, env=env, source=source)


def check_config(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> HoldfastConfig:
    """Validate the file at `path` as `holdfast check-config` does, without its secrets present.

    A `${VAR}` / `env:VAR` secret whose variable is not set (or empty) here is not an error: it
    becomes an `UnsetSecret` placeholder, listed by `unset_secrets()`. The file is checked where it
    is written; the secrets are set where the service runs. Never run the service with the result:
    `load_config` (used by `holdfast run` and reloads) still refuses a missing variable.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"cannot read the file: {e}"], source) from None
    return parse_config(text, env=env, source=source, allow_unset_env=True)


def unset_secrets(config: BaseModel, prefix: tuple[str, ...] = ()) -> list[tuple[str, UnsetSecret]]:
    """(key path, placeholder) for every secret of a checked file whose variable is not set, in file order."""
    found: list[tuple[str, UnsetSecret]] = []

    def walk(value: object, path: tuple[str, ...]) -> None:
        if isinstance(value, UnsetSecret):
            found.append((_path(path), value))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name), (*path, name))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*path, str(key)))

    walk(config, prefix)
    return found


def parse_config(
    text: str, *, env: Mapping[str, str] | None = None, source: str | None = None, allow_unset_env: bool = False
) -> HoldfastConfig:
    """Validate YAML text; raises ConfigError listing every problem (`allow_unset_env`: see check_config)."""
    try:
        data, duplicates = _read_yaml(text)
    except ConfigError as e:
        raise ConfigError(e.problems, source) from None
    texts = [text for _, text in duplicates]
    try:
        config = validate_config(data, env=env, allow_unset_env=allow_unset_env)
    except ConfigError as e:
        # 4000 and "4000" are one key to the schema too: say it once, with the line numbers.
        said = tuple(f"{path} " for path, _ in duplicates)
        raise ConfigError([*texts, *(p for p in e.problems if not p.startswith(said))], source) from None
    if duplicates:
        raise ConfigError(texts, source)
    return config


def validate_config(
    data: object, *, env: Mapping[str, str] | None = None, allow_unset_env: bool = False
) -> HoldfastConfig:
    """Validate already-parsed data (a mapping); raises ConfigError listing every problem.

    `allow_unset_env`: a secret's unset variable gives a placeholder, not an error (see check_config).
    """
    sections = ", ".join(SECTIONS)
    if data is None:
        raise ConfigError([f"the file is empty; expected a mapping with the sections {sections}"])
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"the value {_show(data)}"
        raise ConfigError([f"the file holds {kind}; expected a mapping with the sections {sections}"])
    problems: list[tuple[int, str]] = []
    config: HoldfastConfig | None = None
    try:
        context: dict[str, object] = {"env": env}
        if allow_unset_env:
            context["unset_env"] = []  # the secret validator collects placeholders here
        config = HoldfastConfig.model_validate(data, context=context)
    except ValidationError as e:
        problems += [(_rank(err["loc"]), _describe(err)) for err in e.errors(include_url=False)]
    problems += [(_rank((section,)), text) for section, text in _cross_check(data)]
    if problems:
        problems.sort(key=lambda p: p[0])  # stable: keeps pydantic's order within a section
        raise ConfigError([text for _, text in problems])
    assert config is not None
    return config


# --- cross-section checks -----------------------------------------------------------------------


def _cross_check(data: dict[Any, Any]) -> list[tuple[str, str]]:
    queues = data.get("queues")
    if not isinstance(queues, dict):
        return []
    names = sorted(str(k) for k in queues)
    known = ", ".join(names)

    def unknown(path: str, queue: object) -> str:
        text = f'{path} names unknown queue "{queue}"; known queues: {known}'
        close = difflib.get_close_matches(str(queue), names, n=1)
        return text + (f"; did you mean {close[0]}?" if close else "")

    found: list[tuple[str, str]] = []
    inbound = data.get("inbound")
    if isinstance(inbound, dict):
        for number, queue in inbound.items():
            if isinstance(queue, str | int) and not isinstance(queue, bool) and str(queue) not in names:
                found.append(("inbound", unknown(f"inbound.{number}", queue)))
    agents = data.get("agents")
    if isinstance(agents, dict):
        for agent_id, agent in agents.items():
            skills = agent.get("skills") if isinstance(agent, dict) else None
            listed = skills if isinstance(skills, list) else list(skills) if isinstance(skills, dict) else []
            for queue in listed:
                if isinstance(queue, str | int) and not isinstance(queue, bool) and str(queue) not in names:
                    found.append(("agents", unknown(f"agents.{agent_id}.skills", queue)))
    campaigns = data.get("campaigns")
    if isinstance(campaigns, dict):
        for campaign_id, campaign in campaigns.items():
            queue = campaign.get("queue") if isinstance(campaign, dict) else None
            if isinstance(queue, str | int) and not isinstance(queue, bool) and str(queue) not in names:
                found.append(("campaigns", unknown(f"campaigns.{campaign_id}.queue", queue)))
    found += users_cross_check(data, names)
    found += servers_cross_check(data)
    campaign_ids = [str(k) for k in campaigns] if isinstance(campaigns, dict) else []
    found += notifications_cross_check(data, names, campaign_ids)
    return found


# --- pydantic errors as sentences ---------------------------------------------------------------

_MAPPING_TYPES = {"dict_type", "model_type", "model_attributes_type", "mapping_type"}

_MISSING_HINTS: dict[tuple[int | str, ...], str] = {
    ("asterisk",): " (the ARI connection: at least ari_user and ari_password)",
    ("queues",): " (at least one queue)",
}


def _rank(loc: tuple[int | str, ...]) -> int:
    first = loc[0] if loc else ""
    return SECTIONS.index(first) if first in SECTIONS else len(SECTIONS)


def _path(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc)


def _describe(err: ErrorDetails) -> str:
    loc = tuple(err["loc"])
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if loc and loc[-1] == "[key]":
        parent = _path(loc[:-2]) or "the file"
        reason = ctx.get("reason", err["msg"])
        return f"{parent}: the key {_show(value)} is not valid; {reason}"
    path = _path(loc) or "the file"
    if kind == "holdfast":
        return f"{path} is {_show(value)}; {ctx['reason']}"
    if kind == "holdfast_plain":
        return f"{path} {ctx['reason']}"
    if kind == "holdfast_key":  # a problem with one key of the mapping at `path`
        return f"{_path((*loc, ctx['key']))} {ctx['reason']}"
    if kind == "missing":
        return f"{path} is required{_MISSING_HINTS.get(loc, '')}"
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind in _MAPPING_TYPES:
        return f"{path} is {_show(value)}; expected a mapping of keys to values"
    return f"{path} is {_show(value)}; {err['msg']}"


def _unknown_key(loc: tuple[int | str, ...]) -> str:
    model = _model_at(loc[:-1])
    key = str(loc[-1])
    text = f"{_path(loc)} is not a known key"
    if model is None:
        return text
    known = list(model.model_fields)
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f"{text}; did you mean {close[0]}?"
    return f"{text}; known keys: {', '.join(known)}"


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc`, found by walking the annotations."""
    tp: Any = HoldfastConfig
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp = field.annotation
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    origin = get_origin(tp)
    if origin is Annotated:
        return _unwrap(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return tp


def _show(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
