"""The handoff desk in chat (HR and IT staff profiles): see the queue, claim, reply inside the employee's
conversation, resolve or hand back to the bot — and, on the employee's side, the bot's silence while a person
owns the conversation.

Staff commands: "queue" / "handoffs", "show HND0000012", "claim HND0000012", "reply HND0000012: text",
"resolve HND0000012 [note]", "hand back HND0000012". Staff see only the queues of their role (HR staff: HR,
including sensitive matters; IT agents: IT); anything else is refused politely and audited.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from app.errors import AccessDenied, ConciergeError
from app.services.handoffs import HandoffRecord
from graphs.context import Context
from graphs.nodes.replies import say
from graphs.state import State, last_user_text
from graphs.streaming import emit_token

_REF = r"(HND\d{7})"
COMMANDS = {
    "list": re.compile(r"^\s*(show |list )?(my |the )?((handoff|hr|it) )?(queue|handoffs)\s*[?.!]*\s*$", re.I),
    "show": re.compile(rf"^\s*(show|open|view)\s+{_REF}\s*$", re.I),
    "claim": re.compile(rf"^\s*(claim|take|pick up)\s+{_REF}\s*$", re.I),
    "reply": re.compile(rf"^\s*(reply|answer|message|tell)\s+{_REF}\s*[:,-]?\s+(.+)$", re.I | re.S),
    "resolve": re.compile(rf"^\s*(resolve|close)\s+{_REF}\s*[:,-]?\s*(.*)$", re.I | re.S),
    "return": re.compile(rf"^\s*(hand ?back|return)\s+{_REF}(\s+to the bot)?\s*$", re.I),
}


def staff_command(text: str) -> str | None:
    return next((name for name, pattern in COMMANDS.items() if pattern.match(text)), None)


def _age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def _line(h: HandoffRecord, now, sla: int) -> str:
    waited = h.waiting_for(now)
    flag = " ⚠ over SLA" if h.state == "waiting" and waited > timedelta(minutes=sla) else ""
    owner = f", claimed by {h.assigned_to}" if h.assigned_to else ""
    return (f"- {h.reference} [{h.queue.upper()}, {h.priority}] {h.state}{owner}, waiting {_age(waited)}{flag}: "
            f"{h.summary[:140]}")


async def staff_desk_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    ctx = runtime.context
    text = last_user_text(state)
    handoffs = ctx.services.handoffs
    command = staff_command(text) or "list"
    match = COMMANDS[command].match(text)
    audit = ctx.services.audit
    now, sla = ctx.services.clock(), ctx.settings.handoff_sla_minutes
    try:
        if command == "list":
            rows = await asyncio.to_thread(handoffs.for_staff, ctx.user)
            audit.append(ctx.user.id, "handoff.queue_viewed", thread_id=ctx.thread_id, count=len(rows))
            if not rows:
                return say(runtime, "Your queue is empty.")
            actions = [{"name": "choose", "label": f"Claim {h.reference}"} for h in rows if h.state == "waiting"][:3]
            return say(runtime, "Your queue:\n" + "\n".join(_line(h, now, sla) for h in rows), actions=actions)
        reference = match.group(2).upper()
        if command == "show":
            h = await asyncio.to_thread(handoffs.get, reference, ctx.user)
            employee = ctx.services.people.get(h.user_id)
            who = f"{employee.name} ({employee.department}, {employee.location}, {employee.email})" if employee \
                else h.user_id
            lines = [f"{h.reference} [{h.queue.upper()}, {h.priority}, {h.reason}] {h.state}", f"Employee: {who}",
                     f"Summary: {h.summary}", "Transcript:",
                     *[f"  {line['role']}: {line['text'][:300]}" for line in h.transcript[-8:]]]
            if h.messages:
                lines += ["Messages:", *[f"  {m['author']} ({m['direction']}): {m['text'][:300]}" for m in h.messages]]
            audit.append(ctx.user.id, "handoff.viewed", thread_id=ctx.thread_id, reference=h.reference)
            return say(runtime, "\n".join(lines))
        if command == "claim":
            h = await asyncio.to_thread(handoffs.claim, reference, ctx.user)
            audit.append(ctx.user.id, "handoff.claimed", thread_id=ctx.thread_id, reference=h.reference,
                         waited_s=int(h.waiting_for(now).total_seconds()))
            return say(runtime, f"You own {h.reference} now; the bot won't answer the employee until you resolve it or "
                                f"hand it back. Reply with \"reply {h.reference}: …\".")
        if command == "reply":
            body = match.group(3).strip()
            h, message_id = await asyncio.to_thread(handoffs.add_message, reference, ctx.user, body)
            author = f"{ctx.user.name} ({h.queue.upper()})"
            live = await ctx.deliver(h.thread_id, author, body) if ctx.deliver else False
            if live:
                await asyncio.to_thread(handoffs.mark_delivered, [message_id])
            audit.append(ctx.user.id, "handoff.replied", thread_id=ctx.thread_id, reference=h.reference, live=live)
            where = "they can see it now" if live else "they'll see it as soon as they open the chat or write"
            return say(runtime, f"Sent to the employee in their conversation ({where}).")
        to_bot = command == "return"
        note = "" if to_bot else match.group(3).strip()
        h = await asyncio.to_thread(lambda: handoffs.finish(reference, ctx.user, to_bot=to_bot, note=note))
        audit.append(ctx.user.id, "handoff.returned" if to_bot else "handoff.resolved", thread_id=ctx.thread_id,
                     reference=h.reference)
        return say(runtime, f"{h.reference} is {h.state}; the bot answers the employee again.")
    except AccessDenied as exc:
        audit.append(ctx.user.id, "access.denied", thread_id=ctx.thread_id, what="handoff", command=command)
        return say(runtime, exc.user_message)
    except ConciergeError as exc:
        return say(runtime, exc.user_message)


async def human_owned_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """A person owns this conversation: pass the message to them and let the bot say nothing.

    Staff messages the employee hasn't seen yet (sent while their chat was closed) are shown now instead.
    """
    ctx = runtime.context
    text = last_user_text(state)
    handoffs = ctx.services.handoffs
    owned = await asyncio.to_thread(handoffs.employee_wrote, ctx.thread_id, ctx.user, text)
    ctx.services.audit.append(ctx.user.id, "handoff.relayed", thread_id=ctx.thread_id,
                              reference=owned.reference if owned else None)
    pending = await asyncio.to_thread(handoffs.undelivered, ctx.thread_id)
    if pending:
        body = "\n\n".join(f"{m['author']}: {m['text']}" for m in pending)
        emit_token(runtime, body)
        await asyncio.to_thread(handoffs.mark_delivered, [m["id"] for m in pending])
        return {"messages": [AIMessage(body, name=pending[-1]["author"])], "silent": False}
    return {"silent": True}
