"""What the onboarding and offboarding agents share: run summaries, "how is X's onboarding going?", cancelling.

Who may see or cancel a run is decided here in code: the person who started it, and HR staff.
"""

from __future__ import annotations

import asyncio
import re

from app.identity import User
from app.prompts import reply
from graphs.context import Context
from graphs.flows import NO_FLOW
from graphs.workflows.engine import RunView

BOOK = "workflows"
_STATE_WORDS = {
    "completed": "done", "skipped": "not needed", "waiting_approval": "waiting for approval",
    "enabled": "scheduled", "pending": "not started", "running": "in progress", "failed": "failed",
    "compensated": "undone", "compensating": "being undone",
}
_STATUS = re.compile(r"\b(how is|how'?s|status of|progress (of|on)|update on|where are we with|what'?s left)\b", re.I)
_CANCEL = re.compile(
    r"\b(cancel|abort|withdraw|withdrew|withdrawn|(isn'?t|is not|won'?t be|will not be|not) (joining|starting|"
    r"leaving) (after all|any ?more)|changed (his|her|their) mind|decided to stay|staying after all|"
    r"offer (was )?(withdrawn|declined|rejected)|declined the offer|(resignation|notice) (is |was )?"
    r"(withdrawn|retracted))\b",
    re.I,
)


# "Shall I start it?" — the answers that mean yes.
CONFIRM = re.compile(r"^\s*(y|yes|yep|yeah|correct|right|go ahead|start it|do it|ok(ay)?|sure|please do|confirm)\b",
                     re.I)


def claims_answer(text: str) -> bool:
    """While onboarding or offboarding waits for details, a short statement (not a new question) is the answer."""
    return len(text.split()) <= 25 and not text.rstrip().endswith("?")


def _lower_first(title: str) -> str:
    return title if title[:2].isupper() else title[:1].lower() + title[1:]


def wants_status(text: str) -> bool:
    return bool(_STATUS.search(text))


def wants_cancel(text: str) -> bool:
    return bool(_CANCEL.search(text))


def summary(view: RunView) -> str:
    """Task states in a sentence: what's done, what's waiting, what's next."""
    groups: dict[str, list[str]] = {}
    for t in view.tasks:
        groups.setdefault(_STATE_WORDS.get(t.state, t.state), []).append(_lower_first(t.title))
    order = ["done", "in progress", "waiting for approval", "scheduled", "not started", "failed", "undone",
             "being undone", "not needed"]
    parts = [f"{word.capitalize()}: {', '.join(groups[word])}." for word in order if groups.get(word)]
    return " ".join(parts)


def visible_runs(ctx: Context, workflow: str) -> list[RunView]:
    assert ctx.workflows is not None
    runs = ctx.workflows.runs(workflow=workflow, limit=200)
    if ctx.user.has_role("hr_staff"):
        return runs
    return [r for r in runs if r.started_by == ctx.user.id]


def match_runs(runs: list[RunView], text: str) -> list[RunView]:
    """Runs whose subject's first or last name appears in the text (newest first)."""
    words = set(re.findall(r"[a-z]+", text.lower().replace("'s", "")))
    out = []
    for run in runs:
        names = {n for n in re.findall(r"[a-z]+", run.subject.lower()) if len(n) > 1}
        if names & words:
            out.append(run)
    return out


async def status_or_cancel(ctx: Context, workflow: str, text: str, *, cancel: bool) -> tuple[str, list[dict]]:
    """The reply (and buttons) for "how is X's onboarding going?" or "X isn't joining after all"."""
    runs = await asyncio.to_thread(visible_runs, ctx, workflow)
    live = [r for r in runs if r.state not in ("rolled_back", "needs_attention")] if cancel else runs
    matches = match_runs(live, text)
    if not matches and not cancel and len(live) == 1:
        matches = live  # "how is it going?" with a single run: that one (a cancel always needs the name)
    label = workflow
    if not matches:
        hint = "Your runs: " + ", ".join(f"{r.subject} ({r.reference}, {r.state})" for r in live[:5]) + "." \
            if live else ""
        return reply(BOOK, "no_run", workflow=label, name=_name_in(text) or "them", hint=hint), []
    if len({r.subject for r in matches}) > 1:
        items = "; ".join(f"{r.subject} ({r.reference})" for r in matches[:5])
        return reply(BOOK, "which_run", items=items), []
    run = matches[0]
    if not cancel:
        ctx.services.audit.append(ctx.user.id, "workflow.status_viewed", thread_id=ctx.thread_id, run=run.reference)
        return reply(BOOK, "status", reference=run.reference, workflow=label, subject=run.subject,
                     state=run.state.replace("_", " "), summary=summary(run)), []
    done = await asyncio.to_thread(ctx.workflows.cancel, run.reference, ctx.user.id, f"requested in chat: {text[:200]}")
    if done.report.get("not_undone"):
        failed = ", ".join(x["title"] for x in done.report["not_undone"])
        team = "IT" if workflow == "offboarding" else "HR"
        return reply(BOOK, "cancel_incomplete", workflow=label, subject=run.subject, reference=run.reference,
                     failed=failed, team=team), []
    undone = ", ".join(_lower_first(x) for x in done.report.get("undone", [])) or "nothing had been done yet"
    return reply(BOOK, "cancelled", workflow=label, subject=run.subject, reference=run.reference, undone=undone), []


def _name_in(text: str) -> str | None:
    m = re.search(r"\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)'s\b", text)
    return m.group(1) if m else None


async def guide_instead(state, runtime, workflow: str, *, refused: bool, guide_question: str,
                        topic: str) -> dict:
    """For people who may not start a workflow: the knowledge base's guide, after a polite "no" if they asked
    to start it for someone. Their own questions get the words of the route added ("first day" → new starter)."""
    from langchain_core.messages import AIMessage

    from graphs.agents.knowledge import knowledge_node
    from graphs.state import turn_text
    from graphs.streaming import emit_token

    ctx = runtime.context
    text = turn_text(state)
    prefix = ""
    if refused:
        prefix = reply(BOOK, f"not_allowed_{'onboard' if workflow == 'onboarding' else 'offboard'}") + "\n\n"
        emit_token(runtime, prefix)
        ctx.services.audit.append(ctx.user.id, "workflow.start_refused", thread_id=ctx.thread_id, workflow=workflow)
    asked = guide_question if refused else f"{text} ({topic})"
    update = await knowledge_node({**state, "replay_text": asked}, runtime)
    if prefix:
        update["messages"] = [AIMessage(prefix + str(update["messages"][0].content))]
    return {**update, **NO_FLOW}


def may_start(user: User) -> bool:
    return user.has_role("hr_staff") or user.has_role("manager")
