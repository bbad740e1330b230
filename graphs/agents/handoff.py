"""Human handoff: queue the conversation for HR or IT staff, with a reason, the last messages and a summary.

A bare "talk to a human" first asks what it is about (one short question, so the right team gets it);
sensitive matters (harassment, bullying, grievances) go straight to HR, confidentially, at high priority.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime

from app.prompts import load_prompt, render_prompt
from graphs.context import Context
from graphs.nodes.replies import say
from graphs.state import State, turn_text

log = logging.getLogger(__name__)

SENSITIVE_RULES = {"harassment_or_discrimination"}
_SENSITIVE = re.compile(
    r"\b(harass\w*|bull(y|ied|ying)|discriminat\w*|grievance|whistle-?blow\w*|assault\w*|mental health|"
    r"medical condition|diagnos\w*|disabilit\w*|pregnan\w*|health (issue|condition|problem)s?|burn-?out)\b",
    re.I,
)
# A request that says nothing but "I want a person" (in any wording) is bare: ask what it is about.
_REQUEST_WORDS = frozenset(
    "i i'd id want need would like to talk speak chat with a an the real live human person people agent someone "
    "somebody operator representative staff member get give connect put me through can could let please pls "
    "now right away just actually instead hi hello hey ok okay".split()
)
_PERSON_WORDS = frozenset("human person people agent someone somebody operator representative staff".split())
_HR_ROUTES = {"leave", "onboarding", "offboarding"}
_HR_WORDS = re.compile(
    r"\b(hr|pay|payroll|salary|payslip|pension|benefit\w*|contract|leave|holiday|sick|manager|maternity|"
    r"paternity|resign\w*|grievance|disciplinary|visa|relocation|promotion)\b",
    re.I,
)
WAIT = {"urgent": "30 minutes", "high": "1 working hour", "normal": "4 working hours", "low": "1 working day"}


def is_bare_request(text: str) -> bool:
    words = re.findall(r"[a-z']+", text.lower())
    return bool(words) and set(words) <= _REQUEST_WORDS and bool(_PERSON_WORDS & set(words))


def choose_queue(ctx: Context, reason: str, sensitive: bool) -> str:
    if sensitive or _HR_WORDS.search(reason):
        return "hr"
    try:
        label = ctx.router.classifier.predict_one(reason).label
    except Exception:  # the queue choice must never block a handoff
        log.warning("queue classification failed", exc_info=True)
        return "it"
    return "hr" if label in _HR_ROUTES else "it"


def transcript(state: State, limit: int = 8) -> list[dict[str, str]]:
    """The last messages (already redacted when they entered the state)."""
    out = []
    for m in list(state.get("messages") or [])[-limit:]:
        out.append({"role": "employee" if m.type == "human" else "concierge", "text": str(m.content)[:1000]})
    return out


def extractive_summary(lines: list[dict[str, str]]) -> str:
    said = [line["text"] for line in lines if line["role"] == "employee"]
    text = " / ".join(said[-3:])
    return ("Employee wrote: " + text)[:400]


async def summarise(ctx: Context, lines: list[dict[str, str]]) -> tuple[str, str]:
    """(summary, method): the small LM's two sentences, or an extractive summary if it fails."""
    rendered = "\n".join(f"{line['role']}: {line['text'][:300]}" for line in lines)
    try:
        model = await asyncio.to_thread(ctx.models.small)
        out = await model.ainvoke([HumanMessage(render_prompt("handoff_summary", transcript=rendered))])
        summary = " ".join(str(out.content).split())
        if 10 <= len(summary) <= 600:
            return summary, "model"
    except Exception:
        log.warning("handoff summary by model failed; using the extractive summary", exc_info=True)
    return extractive_summary(lines), "extractive"


async def handoff_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    ctx = runtime.context
    handoffs = ctx.services.handoffs
    text = turn_text(state)
    info = state.get("route_info") or {}

    existing = await asyncio.to_thread(handoffs.open_for_thread, ctx.thread_id)
    if existing is not None:
        return say(
            runtime,
            f"You're already in the {existing.queue.upper()} queue (reference {existing.reference}); "
            "a person will reply here as soon as they can.",
            active_flow=None,
            pending_slot=None,
        )

    sensitive = info.get("rule") in SENSITIVE_RULES or bool(_SENSITIVE.search(text))
    waiting_for_reason = state.get("active_flow") == "human_handoff" and state.get("pending_slot") == "reason"
    # A resumed flow asks its pending question again: the "yes" that resumed it is not the answer.
    # The "Talk to a person" button after an unanswered question already says why: the question before it.
    button = text.strip().lower() == "talk to a person"
    if state.get("resumed") or (not sensitive and not waiting_for_reason and not button and is_bare_request(text)):
        return say(
            runtime,
            load_prompt("handoff_ask_reason"),
            active_flow="human_handoff",
            pending_slot="reason",
            flow_step="ask_reason",
        )

    # Why a person is needed: staff see it in the queue.
    if sensitive:
        reason_kind = "sensitive"
    elif info.get("rule") == "not_helping":
        reason_kind = "not_helping"
    elif button:
        reason_kind = "dead_end"  # the "Talk to a person" button after an unanswered question
    else:
        reason_kind = "requested"
    queue = choose_queue(ctx, text, sensitive)
    priority = "high" if sensitive else "normal"
    lines = transcript(state)
    summary, method = await summarise(ctx, lines)
    record, created = await asyncio.to_thread(
        lambda: handoffs.queue(
            thread_id=ctx.thread_id,
            user_id=ctx.user.id,
            queue=queue,
            reason=reason_kind,
            summary=summary,
            transcript=lines,
            priority=priority,
            idempotency_key=f"{ctx.thread_id}:{state.get('turn_count', 0)}:handoff",
        )
    )
    if created:
        ctx.services.audit.append(
            ctx.user.id,
            "handoff.queued",
            thread_id=ctx.thread_id,
            reference=record.reference,
            queue=queue,
            reason=reason_kind,
            priority=priority,
            summary_method=method,
        )
    template = "handoff_sensitive" if sensitive else "handoff_queued"
    reply = render_prompt(template, team=queue.upper(), reference=record.reference, wait=WAIT[priority])
    return say(runtime, reply, active_flow=None, pending_slot=None, flow_step=None)
