"""Offboarding agent: a leaver's manager or HR staff starts it in chat; the workflow engine does the work.

"Peter Chen resigned, last day Friday" → the scheduled path (access goes on the last day);
"terminate access for Anna Novak immediately" → the immediate path, which waits for HR's approval first.
"How is Peter's offboarding going?" shows the task states; "Peter withdrew his resignation" cancels it and
undoes what was done. Employees asking about their own resignation get the knowledge-base answer.

State (``slots``): person_id, full_name, last_day, mode, reason; ``flow_step`` is ``collect`` or ``confirm``.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta
from typing import Any

from langgraph.runtime import Runtime

from app.identity import User
from app.prompts import reply
from graphs.agents.dates import find_date
from graphs.agents.workflow_chat import (
    BOOK,
    CONFIRM,
    claims_answer,
    guide_instead,
    may_start,
    status_or_cancel,
    summary,
    wants_cancel,
    wants_status,
)
from graphs.context import Context
from graphs.flows import register_claim
from graphs.nodes.replies import end_flow, say
from graphs.state import State, flow_turn

FLOW = "offboarding"
_IMMEDIATE = re.compile(r"\b(terminat\w*|dismiss\w*|fired|sacked|let go|immediately|right away|straight away|"
                        r"with immediate effect|effective (now|immediately)|gross misconduct|escorted out)\b", re.I)
_REASONS = (
    (re.compile(r"\b(resign\w*|handed in (his|her|their) notice|quit|quitting)\b", re.I), "resigned"),
    (re.compile(r"\b(contract (ends|ended|is ending|finishes)|end of (his|her|their) contract|fixed[- ]term)\b",
                re.I), "contract ended"),
    (re.compile(r"\b(retir\w*)\b", re.I), "retiring"),
    (re.compile(r"\b(terminat\w*|dismiss\w*|fired|sacked|let go|misconduct)\b", re.I), "terminated"),
    (re.compile(r"\b(redundan\w*|laid off|layoff)\b", re.I), "redundancy"),
)
_SELF = re.compile(r"\b(i|i'm|i've|i am|i have|my)\b.{0,30}\b(resign\w*|notice|leaving|last day|quit)\b", re.I)


register_claim(FLOW, claims_answer)


def find_leaver(ctx: Context, text: str) -> User | None:
    """A directory person named in the message (full name, first name or id), not the speaker."""
    lowered = text.lower().replace("’", "'")
    best = None
    for person in ctx.services.people.all():
        if person.id == ctx.user.id:
            continue
        first = person.name.split()[0].lower()
        if person.name.lower() in lowered:
            return person
        if re.search(rf"\b({re.escape(first)}|{re.escape(person.id)})('s)?\b", lowered):
            best = best or person
    return best



async def offboarding_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    ctx = runtime.context
    text, active, slots, step = flow_turn(state, FLOW)

    if not may_start(ctx.user) or (not active and _SELF.search(text) and not find_leaver(ctx, text)):
        # Their own leaving, or someone else's they may not start: the leaver's guide from the knowledge base.
        return await guide_instead(state, runtime, FLOW, refused=not may_start(ctx.user) and bool(
            find_leaver(ctx, text)), guide_question="what happens when I resign and leave the company",
            topic="leaving the company")

    if not step and (wants_status(text) or wants_cancel(text)):
        answer, actions = await status_or_cancel(ctx, FLOW, text, cancel=wants_cancel(text))
        return end_flow(runtime, answer, actions=actions)

    if step == "confirm" and not state.get("resumed"):
        if CONFIRM.search(text):
            return await _start(runtime, state, slots)
        before = dict(slots)
        _read(ctx, text, slots, [])
        if slots == before:
            return say(runtime, reply(BOOK, "what_change"), active_flow=FLOW, slots=slots, flow_step="confirm",
                       pending_slot="confirm")
    elif not state.get("resumed"):
        pending = [p for p in (state.get("pending_slot") or "").split(",") if p] if step == "collect" else []
        _read(ctx, text, slots, pending)

    if slots.get("person_id"):
        leaver = ctx.services.people.get(slots["person_id"])
        if leaver and not ctx.user.has_role("hr_staff") and leaver.manager_id != ctx.user.id:
            return end_flow(runtime, reply(BOOK, "not_your_report", name=leaver.name))
    missing = [s for s, q in (("person_id", 1), ("last_day", 2), ("reason", 3)) if not slots.get(s)]
    if missing:
        questions = {"person_id": "Who is leaving (their full name)?",
                     "last_day": "What's their last working day (or should access end immediately)?",
                     "reason": "What's the reason: resignation, end of contract, retirement, redundancy or "
                               "termination?"}
        if slots.get("unknown_name") and "person_id" in missing:
            text_out = reply(BOOK, "unknown_person", name=slots.pop("unknown_name"))
        else:
            text_out = reply(BOOK, "ask", intro="", questions=" ".join(questions[m] for m in missing[:2]))
        return say(runtime, text_out, active_flow=FLOW, slots=slots, flow_step="collect",
                   pending_slot=",".join(missing[:2]))
    immediate = slots.get("mode") == "immediate"
    when = "access ends **immediately**" if immediate else f"last day **{slots['last_day']}**"
    approval = " once HR approves (an immediate termination needs HR's approval)" if immediate and not \
        ctx.user.has_role("hr_staff") else (" once another HR colleague approves" if immediate else "")
    confirm = reply(BOOK, "confirm_offboarding", full_name=slots["full_name"],
                    department=slots.get("department", ""), when=when, reason=slots["reason"], approval=approval)
    return say(runtime, confirm, active_flow=FLOW, slots=slots, flow_step="confirm", pending_slot="confirm",
               actions=[{"name": "choose", "label": "Yes, start offboarding"}, {"name": "choose", "label": "Change"}])


def _read(ctx: Context, text: str, slots: dict, pending: list[str]) -> None:
    leaver = find_leaver(ctx, text)
    if leaver is not None:
        slots.update(person_id=leaver.id, full_name=leaver.name, department=leaver.department or "",
                     manager_id=leaver.manager_id)
    elif "person_id" in pending and text.strip():
        slots["unknown_name"] = text.strip()[:60]
    if _IMMEDIATE.search(text):
        slots.update(mode="immediate", last_day=ctx.today.isoformat())
    elif day := find_date(text, ctx.today):
        slots.update(mode="immediate" if day[0] <= ctx.today else "scheduled", last_day=max(day[0], ctx.today)
                     .isoformat())
    for pattern, reason in _REASONS:
        if pattern.search(text):
            slots["reason"] = reason
            if reason == "terminated" and not slots.get("last_day"):
                slots.update(mode="immediate", last_day=ctx.today.isoformat())
            break
    else:
        if "reason" in pending and len(pending) == 1 and text.strip():
            slots["reason"] = text.strip()[:100]


async def _start(runtime: Runtime[Context], state: State, slots: dict) -> dict[str, Any]:
    ctx = runtime.context
    leaver = {
        "person_id": slots["person_id"], "full_name": slots["full_name"], "manager_id": slots.get("manager_id"),
        "department": slots.get("department", ""), "last_day": slots["last_day"],
        # Scheduled: access ends once the last working day is over; immediate: now.
        "access_end": (date.fromisoformat(slots["last_day"]) + timedelta(days=1)).isoformat()
        if slots.get("mode", "scheduled") == "scheduled" else ctx.today.isoformat(),
        "mode": slots.get("mode", "scheduled"), "reason": slots["reason"],
    }
    key = f"{ctx.thread_id}:{state.get('turn_count', 0)}:offboarding"
    view = await asyncio.to_thread(lambda: ctx.workflows.start(
        FLOW, {"leaver": leaver}, started_by=ctx.user.id, subject=slots["full_name"], thread_id=ctx.thread_id,
        idempotency_key=key))
    ctx.services.audit.append(ctx.user.id, "workflow.started", thread_id=ctx.thread_id, run=view.reference,
                              workflow=FLOW)
    return end_flow(runtime, reply(BOOK, "started", workflow=FLOW, subject=slots["full_name"], reference=view.reference,
                               summary=summary(view), first=slots["full_name"].split()[0]))
