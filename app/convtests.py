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

EXPECT_KEYS = {
    "route", "layer", "reply_matches", "reply_not_matches", "events", "no_events", "state", "error",
    # side effects in the systems of record (subset match on the newest record of this script)
    "ticket", "tickets_created", "account", "handoff", "approval", "outbox", "no_secret_in_reply", "workflow",
}
STEP_KEYS = {"user", "expect", "advance_minutes", "as"}
SETUP_KEYS = {"account"}


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
        if set(step) - STEP_KEYS:
            raise ScriptError(f"{path}: step {i} has unknown keys {sorted(set(step) - STEP_KEYS)}")
    if set(data.get("setup") or {}) - SETUP_KEYS:
        raise ScriptError(f"{path}: unknown setup keys {sorted(set(data['setup']) - SETUP_KEYS)}")
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


def _latest_code(svc: ConversationService, user_id: str) -> str:
    for msg in svc.services.outbox.messages(user_id):
        if msg.kind == "verification_code" and (m := re.search(r"\b(\d{6})\b", msg.body)):
            return m.group(1)
    return ""


def _fill(text: str, svc: ConversationService, user_id: str, *, actor=None, thread: str = "") -> str:
    """``{code}``: the newest one-time code in the user's outbox; ``{wrong_code}``: a code that is not it;
    ``{approval}``: the newest approval waiting for the acting user; ``{handoff}``: the script thread's handoff."""
    if "{approval}" in text and actor is not None:
        pending = svc.services.approvals.pending_for(actor)
        text = text.replace("{approval}", pending[-1].reference if pending else "APR0000000")
    if "{handoff}" in text:
        from sqlalchemy import select

        from app.db.schema import Handoff

        with svc.services.db.session() as s:
            row = s.scalars(select(Handoff).where(Handoff.thread_id == thread).order_by(Handoff.id.desc())).first()
        text = text.replace("{handoff}", row.reference if row else "HND0000000")
    if "{code}" in text or "{wrong_code}" in text:
        code = _latest_code(svc, user_id)
        wrong = f"{(int(code or '0') + 1) % 1_000_000:06d}"
        text = text.replace("{code}", code).replace("{wrong_code}", wrong)
    return text


def _side_effects(svc: ConversationService, user_id: str, thread: str) -> dict[str, Any]:
    """The newest records this script's conversation produced, as plain dicts for subset matching."""
    from dataclasses import asdict

    from sqlalchemy import select

    from app.db.schema import Approval, Handoff, Ticket, WorkflowRun, WorkflowTask

    services = svc.services
    with services.db.session() as s:
        tickets = list(s.scalars(select(Ticket).where(Ticket.thread_id == thread).order_by(Ticket.id)))
        handoff = s.scalars(select(Handoff).where(Handoff.thread_id == thread).order_by(Handoff.id.desc())).first()
        approval = s.scalars(
            select(Approval).where(Approval.requested_by == user_id).order_by(Approval.id.desc())
        ).first()
        run = s.scalars(select(WorkflowRun).where(WorkflowRun.thread_id == thread).order_by(WorkflowRun.id.desc())
                        ).first()
        workflow = None
        if run is not None:
            tasks = {t.task_id: t.state for t in s.scalars(select(WorkflowTask).where(WorkflowTask.run_id == run.id))}
            workflow = {"workflow": run.workflow, "state": run.state, "subject": run.subject, "tasks": tasks}
        account = services.directory.account(user_id)
        outbox = services.outbox.messages(user_id, limit=50)
        return {
            "ticket": {c.name: getattr(tickets[-1], c.name) for c in Ticket.__table__.columns} if tickets else None,
            "tickets_created": len(tickets),
            "handoff": {c.name: getattr(handoff, c.name) for c in Handoff.__table__.columns} if handoff else None,
            "approval": {c.name: getattr(approval, c.name) for c in Approval.__table__.columns} if approval else None,
            "account": {**asdict(account), "mfa_methods": list(account.mfa_methods)} if account else None,
            "outbox": asdict(outbox[0]) if outbox else None,
            "workflow": workflow,
            "secrets": [m.group(1) for o in outbox for m in re.finditer(r"(?:code|password) is (\S+)", o.body)],
        }


def _check_side_effects(expect: dict[str, Any], seen: dict[str, Any], reply: str) -> list[str]:
    failures = []
    for key in ("ticket", "handoff", "approval", "account", "outbox", "workflow"):
        if key in expect:
            if expect[key] is None:
                if seen[key] is not None:
                    failures.append(f"no {key} expected, found one")
            elif seen[key] is None or not _subset(expect[key], seen[key]):
                shown = {k: (seen[key] or {}).get(k) for k in expect[key]} if seen[key] else None
                failures.append(f"{key} {shown} does not match {expect[key]}")
    if "tickets_created" in expect and seen["tickets_created"] != expect["tickets_created"]:
        failures.append(f"{seen['tickets_created']} tickets created, expected {expect['tickets_created']}")
    if expect.get("no_secret_in_reply"):
        leaked = [x for x in seen["secrets"] if x and x.strip(".") in reply]
        if leaked:
            failures.append("a code or password from the out-of-band outbox appeared in the reply")
    return failures


def _apply_setup(svc: ConversationService, user_id: str, setup: dict[str, Any]) -> None:
    from app.db.schema import Account

    if "account" in setup:
        with svc.services.db.session() as s:
            row = s.get(Account, user_id)
            if row is None:
                raise ScriptError(f"setup: {user_id} has no directory account")
            for key, value in setup["account"].items():
                setattr(row, key, value)
            s.commit()


async def run_script(svc: ConversationService, path: Path) -> ScriptResult:
    from datetime import timedelta

    from app.db.schema import utcnow

    data = load_script(path)
    user = svc.services.people.get(str(data.get("user", "alice")))
    if user is None:
        raise ScriptError(f"{path}: unknown user {data.get('user')!r} (seed the demo users)")
    thread = f"script-{uuid.uuid4().hex[:12]}"
    _apply_setup(svc, user.id, data.get("setup") or {})
    offset = timedelta()
    clock = svc.services.clock
    svc.services.clock = lambda: utcnow() + offset
    results = []
    try:
        for i, step in enumerate(data["steps"], 1):
            offset += timedelta(minutes=float(step.get("advance_minutes") or 0))
            # ``as``: another person (a manager, HR or IT staff) speaks in their own conversation.
            actor = svc.services.people.get(step["as"]) if step.get("as") else user
            if actor is None:
                raise ScriptError(f"{path}: step {i}: unknown user {step['as']!r}")
            actor_thread = thread if actor is user else f"{thread}-{actor.id}"
            message = _fill(step["user"], svc, user.id, actor=actor, thread=thread)
            before = svc.services.audit.last_id()
            out = await svc.ask(actor, actor_thread, message, channel="test")
            events = [e.event_type for e in svc.services.audit.events(after_id=before)
                      if e.thread_id in (thread, actor_thread, None)]
            expect = step.get("expect") or {}
            failures = check_step(expect, out, events)
            if set(expect) & {"ticket", "tickets_created", "account", "handoff", "approval", "outbox",
                              "no_secret_in_reply", "workflow"}:
                failures += _check_side_effects(expect, _side_effects(svc, user.id, thread), out.get("reply") or "")
            results.append(StepResult(i, message, not failures, failures, out.get("reply") or "", out.get("route")))
            if failures:
                break  # later steps depend on this one
    finally:
        svc.services.clock = clock
    return ScriptResult(str(data.get("name", path.stem)), str(path), results)
