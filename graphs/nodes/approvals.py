"""Staff approvals in chat (the staff and manager profiles): "pending approvals", "approve APR0000012",
"reject APR0000012 because …". A decision on a workflow task moves the run on at once; an approved action on
someone's account is carried out. Only people the approval names (by role or by id) can decide it."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from langgraph.runtime import Runtime

from app.errors import AccessDenied
from app.services.account_approvals import decide as decide_account
from graphs.context import Context
from graphs.nodes.replies import say
from graphs.state import State, last_user_text

LIST = re.compile(
    r"^\s*(show |list |any )?(my |the )?(pending |open )?approvals( waiting)?( for me)?\s*[?.!]*\s*$", re.I
)
DECIDE = re.compile(r"^\s*(approve|reject|decline)\s+(APR\d{7})\b[\s:,-]*(?:because\s+)?(.*)$", re.I)


def is_approval_command(text: str) -> bool:
    return bool(LIST.match(text) or DECIDE.match(text))


async def approvals_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    ctx = runtime.context
    text = last_user_text(state)
    approvals = ctx.services.approvals
    m = DECIDE.match(text)
    if m is None:
        pending = await asyncio.to_thread(approvals.pending_for, ctx.user)
        if not pending:
            return say(runtime, "Nothing is waiting for your approval.")
        lines = [f"- {a.reference}: {a.reason or a.kind} (requested by {a.requested_by})" for a in pending[:10]]
        actions = [{"name": "choose", "label": f"{verb} {a.reference}"} for a in pending[:3]
                   for verb in ("Approve", "Reject")]
        return say(runtime, "Waiting for your decision:\n" + "\n".join(lines), actions=actions)
    approve = m.group(1).lower() == "approve"
    reference, note = m.group(2).upper(), m.group(3).strip()
    try:
        record = await asyncio.to_thread(approvals.get, reference)
        if record is None or not approvals.may_decide(record, ctx.user):
            raise AccessDenied(reference)
        if record.kind.startswith("directory."):
            done = await asyncio.to_thread(decide_account, ctx.services, reference, ctx.user, approve=approve,
                                           note=note)
            decided, extra = done.approval, f" The account action was carried out ({done.outcome})." \
                if done.outcome else ""
        else:
            decided = await asyncio.to_thread(approvals.decide, reference, ctx.user, approve=approve, note=note)
            ctx.services.audit.append(ctx.user.id, "approval.decided", thread_id=ctx.thread_id,
                                      reference=reference, kind=decided.kind, state=decided.state)
            extra = ""
            if decided.kind == "leave.request" and decided.payload.get("leave"):
                request = await asyncio.to_thread(ctx.services.leave.decide, decided.payload["leave"], ctx.user,
                                                  approve=approve, note=note)
                extra = f" {request.reference} ({request.start:%-d %b} – {request.end:%-d %b}) is {request.state}; " \
                        "the employee will see it next time they write."
            run = decided.payload.get("run")
            if decided.kind == "workflow.task" and run and ctx.workflows is not None:
                view = await asyncio.to_thread(ctx.workflows.advance, run)
                extra = f" {run} ({view.workflow} for {view.subject}) is now {view.state.replace('_', ' ')}."
    except AccessDenied:
        return say(runtime, f"I can't find an approval {reference} waiting for you.")
    return say(runtime, f"{decided.reference} is {decided.state}.{extra}")
