"""Onboarding agent: HR staff or a manager starts onboarding in chat; the workflow engine does the work.

"please onboard Maria Lopez, she joins finance on the 3rd" → the details the message gives are read by rules
(name, start date by dateparser, department, title, type, location, manager); the agent asks for the rest,
two at a time, confirms everything, then starts the ``onboarding`` workflow. "How is Maria's onboarding
going?" shows the task states; "Maria isn't joining after all" cancels it (everything done is undone).
Employees can't start it: a new joiner asking "what do I do on day one?" gets the knowledge-base answer.

State (``slots``): the collected details; ``flow_step`` is ``collect`` or ``confirm``.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from typing import Any

from langgraph.runtime import Runtime

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

FLOW = "onboarding"
REQUIRED = ("full_name", "start_date", "department", "title", "type", "location", "manager_id")
QUESTIONS = {
    "full_name": "What's the new joiner's full name?",
    "start_date": "When do they start?",
    "department": "Which department are they joining (engineering, finance, sales, operations, HR or IT)?",
    "title": "What's their job title?",
    "type": "Are they an employee, a contractor or an intern?",
    "location": "Where will they work: London, Manchester, Berlin or remote?",
    "manager_id": "Who will be their manager?",
}
DEPARTMENTS = {
    "engineering": ("engineering", "engineer", "eng", "development", "dev team", "software"),
    "finance": ("finance", "accounts", "accounting"),
    "sales": ("sales",),
    "operations": ("operations", "ops"),
    "hr": ("hr", "human resources", "people team"),
    "it": ("it", "it team", "service desk"),
}
LOCATIONS = ("london", "manchester", "berlin", "remote")
PROFILES = {"engineering": "developer", "finance": "finance"}
_NAME_AFTER = re.compile(
    r"\b(?:onboard(?:ing)?(?: for)?|set up|new (?:hire|joiner|starter|employee|colleague)(?: called| named|:)?|"
    r"hired|hiring|welcome|start(?:ing)? onboarding for)\s+([A-Za-z][A-Za-z'’-]+(?:\s+[A-Za-z][A-Za-z'’-]+){0,2})",
    re.I,
)
_NOT_NAME = {"she", "he", "they", "who", "our", "the", "a", "an", "my", "new", "someone", "in", "on", "for", "as",
             "joins", "starts", "starting", "joining", "from", "next", "to", "at", "and", "please"}
_DATE_WORDS = {"today", "tomorrow", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
               "next", "this", "january", "february", "march", "april", "may", "june", "july", "august",
               "september", "october", "november", "december", "starting", "start", "joins", "joining"}
_TITLE = re.compile(r"\bas (?:an? |our |the )?([A-Za-z][A-Za-z /&-]{2,40}?)(?=[,.;!?]|$| (?:in|on|at|from|starting|"
                    r"reporting|who|and|she|he|they)\b)", re.I)
_MANAGER = re.compile(r"\b(?:reporting to|reports to|manager is|managed by|under|line manager)\s+([A-Za-z]+)", re.I)


register_claim(FLOW, claims_answer)


def person_id(full_name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", full_name).encode("ascii", "ignore").decode().lower()
    return ".".join(re.findall(r"[a-z]+", ascii_name))


def extract(text: str, ctx: Context, pending: list[str]) -> dict[str, Any]:
    """Details a message states (and a plain answer to the one question asked)."""
    found: dict[str, Any] = {}
    lowered = f" {text.lower()} "
    if m := _NAME_AFTER.search(text):
        words = m.group(1).split()
        stop = _NOT_NAME | set(LOCATIONS) | set(DEPARTMENTS) | _DATE_WORDS
        words = words[: next((i for i, w in enumerate(words) if w.lower().strip(",.") in stop), len(words))]
        if words and not any(w.lower() in LOCATIONS or w.lower() in DEPARTMENTS for w in words):
            found["full_name"] = " ".join(w.capitalize() for w in words[:3])
    if day := find_date(text, ctx.today):
        found["start_date"] = day[0].isoformat()
    for dept, words in DEPARTMENTS.items():
        if any(re.search(rf"\b{re.escape(w)}\b", lowered) for w in words):
            found["department"] = dept
            break
    if re.search(r"\b(contractor|freelancer|freelance|contract role|consultant)\b", lowered):
        found["type"] = "contractor"
    elif re.search(r"\b(intern|internship|placement student|work experience)\b", lowered):
        found["type"] = "intern"
    elif re.search(r"\b(employee|permanent|full[- ]time|part[- ]time|staff member)\b", lowered):
        found["type"] = "employee"
    for place in LOCATIONS:
        if re.search(rf"\b{place}\b", lowered) or (place == "remote" and re.search(r"\b(remotely|from home|wfh)\b",
                                                                                    lowered)):
            found["location"] = place.capitalize()
            break
    if m := _TITLE.search(text):
        title = m.group(1).strip()
        if title.lower() not in ("employee", "contractor", "intern", "a contractor", "an intern"):
            found["title"] = title[:1].upper() + title[1:]
    if m := _MANAGER.search(text):
        manager = _directory_person(ctx, m.group(1))
        if manager:
            found["manager_id"] = manager.id
    if re.search(r"\b(developer|dev) (laptop|kit|setup|profile)\b", lowered):
        found["equipment_profile"] = "developer"
    # A plain answer to the single question asked.
    if len(pending) == 1 and pending[0] not in found and text.strip():
        slot, answer = pending[0], text.strip().strip(".")
        if slot == "full_name" and 1 <= len(answer.split()) <= 4:
            found["full_name"] = " ".join(w.capitalize() for w in answer.split())
        elif slot == "title" and len(answer.split()) <= 6:
            found["title"] = answer[:1].upper() + answer[1:]
        elif slot == "manager_id":
            manager = _directory_person(ctx, answer.split()[0])
            if manager:
                found["manager_id"] = manager.id
    return found


def _directory_person(ctx: Context, name: str):
    name = name.lower().strip()
    if name in ("me", "myself", "i"):
        return ctx.user
    for person in ctx.services.people.all():
        if name in (person.id, person.name.split()[0].lower(), person.name.lower()):
            return person
    return None



async def onboarding_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    ctx = runtime.context
    text, active, slots, step = flow_turn(state, FLOW)

    if not may_start(ctx.user):
        # Employees: a new joiner's own questions go to the knowledge base; nobody else's onboarding is theirs.
        return await guide_instead(state, runtime, FLOW, refused=bool(_NAME_AFTER.search(text)),
                                   guide_question="what should a new starter do on their first day",
                                   topic="new starter")

    if not step and (wants_status(text) or wants_cancel(text)):
        answer, actions = await status_or_cancel(ctx, FLOW, text, cancel=wants_cancel(text))
        return end_flow(runtime, answer, actions=actions)

    if step == "confirm" and not state.get("resumed"):
        if CONFIRM.search(text):
            return await _start(runtime, state, slots)
        changes = extract(text, ctx, [])
        if not changes:
            return say(runtime, reply(BOOK, "what_change"), active_flow=FLOW, slots=slots, flow_step="confirm",
                       pending_slot="confirm")
        slots.update(changes)
    elif not state.get("resumed"):
        pending = [p for p in (state.get("pending_slot") or "").split(",") if p] if step == "collect" else []
        slots.update({k: v for k, v in extract(text, ctx, pending).items() if k not in slots or k in pending})
    if "manager_id" not in slots and ctx.user.has_role("manager") and not ctx.user.has_role("hr_staff"):
        slots["manager_id"] = ctx.user.id  # a manager onboarding someone is, by default, their manager
    if slots.get("start_date") and slots["start_date"] <= ctx.today.isoformat():
        bad = slots.pop("start_date")
        return say(runtime, reply(BOOK, "past_date", day=bad, name=slots.get("full_name", "they")),
                   active_flow=FLOW, slots=slots, flow_step="collect", pending_slot="start_date")
    missing = [s for s in REQUIRED if not slots.get(s)]
    if missing:
        asked = missing[:2]
        intro = "Happy to set that up. " if not active else ""
        text_out = reply(BOOK, "ask", intro=intro, questions=" ".join(QUESTIONS[s] for s in asked))
        return say(runtime, text_out, active_flow=FLOW, slots=slots, flow_step="collect", pending_slot=",".join(asked))
    slots.setdefault("equipment_profile", "remote" if slots["location"] == "Remote" else
                     PROFILES.get(slots["department"], "standard"))
    manager = ctx.services.people.get(slots["manager_id"])
    confirm = reply(BOOK, "confirm_onboarding", full_name=slots["full_name"], title=slots["title"],
                    department=slots["department"].capitalize() if slots["department"] not in ("hr", "it")
                    else slots["department"].upper(), type=slots["type"], start=slots["start_date"],
                    location=slots["location"], manager=manager.name if manager else slots["manager_id"],
                    profile=slots["equipment_profile"])
    return say(runtime, confirm, active_flow=FLOW, slots=slots, flow_step="confirm", pending_slot="confirm",
               actions=[{"name": "choose", "label": "Yes, start onboarding"}, {"name": "choose", "label": "Change"}])


async def _start(runtime: Runtime[Context], state: State, slots: dict) -> dict[str, Any]:
    ctx = runtime.context
    first = slots["full_name"].split()[0]
    employee = {
        "person_id": person_id(slots["full_name"]), "full_name": slots["full_name"], "first_name": first,
        "department": slots["department"], "title": slots["title"], "manager_id": slots["manager_id"],
        "type": slots["type"], "start_date": slots["start_date"], "location": slots["location"],
        "remote": slots["location"] == "Remote", "equipment_profile": slots.get("equipment_profile", "standard"),
    }
    key = f"{ctx.thread_id}:{state.get('turn_count', 0)}:onboarding"
    view = await asyncio.to_thread(lambda: ctx.workflows.start(
        FLOW, {"employee": employee}, started_by=ctx.user.id, subject=slots["full_name"], thread_id=ctx.thread_id,
        idempotency_key=key))
    ctx.services.audit.append(ctx.user.id, "workflow.started", thread_id=ctx.thread_id, run=view.reference,
                              workflow=FLOW)
    return end_flow(runtime, reply(BOOK, "started", workflow=FLOW, subject=slots["full_name"], reference=view.reference,
                               summary=summary(view), first=first))
