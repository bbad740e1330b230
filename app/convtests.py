"""Conversation scripts (YAML): each step is a user message plus assertions on route, reply, state and audit
events — and on what must not happen. Run by ``concierge test-conversations`` and the e2e tests."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.conversation import ConversationService

EXPECT_KEYS = {"route", "layer", "reply_matches", "reply_not_matches", "events", "no_events", "state", "error"}


class ScriptError(ValueError):
    """A script file is malformed (named with file and step)."""


@dataclass
class StepResult:
    index: int
    message: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    reply: str = ""
    route: str | None = None


@dataclass
class ScriptResult:
    name: str
    path: str
    steps: list[StepResult]

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.steps)


def load_script(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScriptError(f"{path}: cannot read script ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or not data["steps"]:
        raise ScriptError(f"{path}: a script needs 'name', 'user' and a non-empty 'steps' list")
    for i, step in enumerate(data["steps"], 1):
        if not isinstance(step, dict) or "user" not in step:
            raise ScriptError(f"{path}: step {i} needs a 'user' message")
        unknown = set(step.get("expect") or {}) - EXPECT_KEYS
        if unknown:
            raise ScriptError(f"{path}: step {i} has unknown expectations {sorted(unknown)}")
    return data


def script_paths(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        out.extend(sorted(p.rglob("*.y*ml")) if p.is_dir() else [p])
    return out


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(_subset(v, actual.get(k)) for k, v in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(_subset(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return expected == actual


def check_step(expect: dict[str, Any], out: dict[str, Any], events: list[str]) -> list[str]:
    failures = []
    reply = out.get("reply") or ""
    if "route" in expect and out.get("route") != expect["route"]:
        failures.append(f"route was {out.get('route')!r}, expected {expect['route']!r}")
    layer = (out.get("state") or {}).get("route_info", {}) or {}
    if "layer" in expect and layer.get("layer") != expect["layer"]:
        failures.append(f"layer was {layer.get('layer')!r}, expected {expect['layer']!r}")
    if "reply_matches" in expect and not re.search(expect["reply_matches"], reply):
        failures.append(f"reply does not match {expect['reply_matches']!r}: {reply[:200]!r}")
    if "reply_not_matches" in expect and re.search(expect["reply_not_matches"], reply):
        failures.append(f"reply matches forbidden {expect['reply_not_matches']!r}: {reply[:200]!r}")
    for event in expect.get("events") or []:
        if event not in events:
            failures.append(f"event {event!r} was not appended (got {events})")
    for event in expect.get("no_events") or []:
        if event in events:
            failures.append(f"event {event!r} must not be appended")
    if "state" in expect and not _subset(expect["state"], out.get("state") or {}):
        shown = {k: (out.get("state") or {}).get(k) for k in expect["state"]}
        failures.append(f"state {shown} does not match {expect['state']}")
    if "error" in expect and out.get("error") != expect["error"]:
        failures.append(f"error was {out.get('error')!r}, expected {expect['error']!r}")
    return failures


async def run_script(svc: ConversationService, path: Path) -> ScriptResult:
    data = load_script(path)
    user = svc.services.people.get(str(data.get("user", "alice")))
    if user is None:
        raise ScriptError(f"{path}: unknown user {data.get('user')!r} (seed the demo users)")
    thread = f"script-{uuid.uuid4().hex[:12]}"
    results = []
    for i, step in enumerate(data["steps"], 1):
        before = svc.services.audit.last_id()
        out = await svc.ask(user, thread, step["user"], channel="test")
        events = [e.event_type for e in svc.services.audit.events(thread_id=thread, after_id=before)]
        failures = check_step(step.get("expect") or {}, out, events)
        results.append(StepResult(i, step["user"], not failures, failures, out.get("reply") or "", out.get("route")))
        if failures:
            break  # later steps depend on this one
    return ScriptResult(str(data.get("name", path.stem)), str(path), results)
