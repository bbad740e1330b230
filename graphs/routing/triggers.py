"""Layer 2: keyword / pattern triggers loaded from ``triggers.yaml`` (configuration, not code)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from graphs.routing.routes import ROUTES

TRIGGERS_FILE = Path(__file__).resolve().parent / "triggers.yaml"


class RoutingConfigError(ValueError):
    """A routing file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Trigger:
    route: str
    name: str
    patterns: tuple[re.Pattern[str], ...]
    unless: tuple[re.Pattern[str], ...] = ()  # any of these matching keeps the trigger silent


@dataclass(frozen=True)
class TriggerMatch:
    route: str
    name: str
    pattern: str


def load_triggers(path: Path = TRIGGERS_FILE) -> list[Trigger]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RoutingConfigError(f"{path}: cannot read triggers ({exc})") from None
    entries = data.get("triggers")
    if not isinstance(entries, list):
        raise RoutingConfigError(f"{path}: expected a top-level 'triggers:' list")
    out = []
    for i, entry in enumerate(entries):
        where = f"{path}: trigger #{i + 1}"
        if not isinstance(entry, dict):
            raise RoutingConfigError(f"{where}: must be a mapping with route, name, patterns")
        route, name = entry.get("route"), entry.get("name") or f"rule{i + 1}"
        if route not in ROUTES:
            raise RoutingConfigError(f"{where} ({name}): unknown route {route!r}; valid: {', '.join(ROUTES)}")
        compiled = _compile(entry.get("patterns"), f"{where} ({name})")
        if not compiled:
            raise RoutingConfigError(f"{where} ({name}): no patterns")
        out.append(Trigger(route, str(name), compiled, _compile(entry.get("unless"), f"{where} ({name})")))
    return out


def _compile(patterns, where: str) -> tuple[re.Pattern[str], ...]:
    if isinstance(patterns, str):
        patterns = [patterns]
    compiled = []
    for p in patterns or []:
        try:
            compiled.append(re.compile(str(p), re.IGNORECASE))
        except re.error as exc:
            raise RoutingConfigError(f"{where}: bad pattern {p!r}: {exc}") from None
    return tuple(compiled)


def match_triggers(triggers: list[Trigger], text: str) -> list[TriggerMatch]:
    """Every rule that fires, in file order (the file order is the priority order)."""
    hits = []
    for trig in triggers:
        if any(u.search(text) for u in trig.unless):
            continue
        for pattern in trig.patterns:
            if pattern.search(text):
                hits.append(TriggerMatch(trig.route, trig.name, pattern.pattern))
                break
    return hits
