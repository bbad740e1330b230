"""IT service desk commands: tickets (own or a support group's queue), approvals, and the out-of-band outbox.

``--as`` names the directory user the command acts as; what they may see and do is decided by the same
services and rules as in chat (employees: their own tickets; IT staff: their groups' queues).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table

from app.cli_common import JsonOpt, console, fail, settings_or_exit
from app.errors import ConciergeError

AsOpt = Annotated[str, typer.Option("--as", help="Directory user id to act as (e.g. ivan for IT staff).")]

tickets_app = typer.Typer(help="Incident tickets: list, show, update (as a user).", no_args_is_help=True)
approvals_app = typer.Typer(help="Pending approvals: list and decide.", no_args_is_help=True)


@contextmanager
def _services() -> Iterator:
    from app.db.engine import Database
    from app.services.registry import Services

    settings = settings_or_exit()
    db = Database.open(settings)
    try:
        yield Services.from_db(db, settings)
    finally:
        db.close()


def _user(services, user_id: str):
    user = services.people.get(user_id)
    if user is None:
        fail(f"No active user {user_id!r} (see `concierge users`).", 2)
    return user


@tickets_app.command("list")
def tickets_list(
    as_user: AsOpt = "alice",
    queue: Annotated[bool, typer.Option("--queue", help="IT staff: your groups' open tickets.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Your own tickets, or (with --queue) the open tickets of your support groups."""
    with _services() as services:
        user = _user(services, as_user)
        rows = services.tickets.queue(user) if queue else services.tickets.mine(user)
    if as_json:
        print(json.dumps([_ticket_dict(t) for t in rows], indent=2, default=str))
        return
    table = Table("number", "priority", "state", "group", "caller", "short description")
    for t in rows:
        table.add_row(t.number, t.priority, t.state, t.assignment_group, t.caller_id, t.short_description[:60])
    console.print(table if rows else "No tickets.")


@tickets_app.command("show")
def tickets_show(number: str, as_user: AsOpt = "alice", as_json: JsonOpt = False) -> None:
    """One ticket with its full history (only if you may see it)."""
    with _services() as services:
        user = _user(services, as_user)
        try:
            t = services.tickets.get(number, user)
        except ConciergeError as exc:
            fail(exc.user_message)
    if as_json:
        print(json.dumps(_ticket_dict(t, history=True), indent=2, default=str))
        return
    for key, value in _ticket_dict(t).items():
        console.print(f"[bold]{key}[/bold]: {value}")
    table = Table("when", "who", "what", "from → to", "text")
    for e in t.history:
        table.add_row(e.ts.strftime("%Y-%m-%d %H:%M"), e.actor, e.kind, f"{e.from_state or ''} → {e.to_state or ''}",
                      e.text[:80])
    console.print(table)


@tickets_app.command("update")
def tickets_update(
    number: str,
    as_user: AsOpt,
    state: Annotated[str | None, typer.Option(help="in_progress | on_hold | resolved | closed | cancelled")] = None,
    note: Annotated[str, typer.Option(help="Work note (staff) or comment (caller).")] = "",
    resolution_code: Annotated[str | None, typer.Option(help="With --state resolved.")] = None,
    vendor_update: Annotated[str | None, typer.Option(help="Record what the vendor said.")] = None,
    vendor_reference: Annotated[str | None, typer.Option(help="The vendor's own case number.")] = None,
) -> None:
    """Staff move a ticket on, add work notes or vendor updates; callers add comments."""
    with _services() as services:
        user = _user(services, as_user)
        try:
            if vendor_update or vendor_reference:
                services.tickets.get(number, user)  # visibility check first
                services.tickets.vendor_update(number, user.id, vendor_update or "Vendor reference recorded",
                                               vendor_reference=vendor_reference)
            if state:
                services.tickets.set_state(number, user, state, note, resolution_code=resolution_code)
            elif note:
                services.tickets.comment(number, user, note)
            t = services.tickets.get(number, user)
        except ConciergeError as exc:
            fail(exc.user_message)
        services.audit.append(user.id, "ticket.updated", number=number, state=t.state)
    console.print(f"{t.number}: {t.state} ({t.priority}, {t.assignment_group})")


@approvals_app.command("list")
def approvals_list(as_user: AsOpt = "ivan", as_json: JsonOpt = False) -> None:
    """Approvals waiting for you to decide."""
    with _services() as services:
        rows = services.approvals.pending_for(_user(services, as_user))
    if as_json:
        print(json.dumps([r.__dict__ for r in rows], indent=2, default=str))
        return
    table = Table("reference", "kind", "for", "requested by", "reason")
    for r in rows:
        table.add_row(r.reference, r.kind, r.subject_id or "", r.requested_by, r.reason[:60])
    console.print(table if rows else "Nothing waiting for you.")


@approvals_app.command("decide")
def approvals_decide(
    reference: str,
    as_user: AsOpt,
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve.")] = False,
    note: Annotated[str, typer.Option(help="Why (shown to the requester).")] = "",
) -> None:
    """Approve (default) or reject; an approved account action is carried out at once."""
    from app.services.account_approvals import decide

    with _services() as services:
        try:
            done = decide(services, reference, _user(services, as_user), approve=not reject, note=note)
        except ConciergeError as exc:
            fail(exc.user_message)
    extra = f"; account action: {done.outcome}" if done.outcome else ""
    console.print(f"{done.approval.reference}: {done.approval.state}{extra}")


def outbox(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's messages.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Out-of-band messages (verification codes, temporary passwords) as a gateway would send them.

    In this build nothing leaves the machine: this is how the demo receives its "text messages".
    """
    with _services() as services:
        rows = services.outbox.messages(user, limit=limit)
    if as_json:
        print(json.dumps([r.__dict__ for r in rows], indent=2, default=str))
        return
    table = Table("when", "to user", "channel", "address", "kind", "message")
    for r in rows:
        table.add_row(r.created_at.strftime("%H:%M:%S"), r.user_id, r.channel, r.address, r.kind, r.body)
    console.print(table if rows else "The outbox is empty.")


def _ticket_dict(t, *, history: bool = False) -> dict:
    out = {k: getattr(t, k) for k in (
        "number", "caller_id", "short_description", "category", "subcategory", "configuration_item", "impact",
        "urgency", "priority", "assignment_group", "state", "resolution_code", "resolution_notes", "vendor_id",
        "vendor_reference", "vendor_due_at", "created_at", "updated_at", "resolved_at", "description")}
    if history:
        out["history"] = [e.__dict__ for e in t.history]
    return out


handoffs_app = typer.Typer(help="The handoff desk from a terminal: list, show, claim, reply, resolve.",
                           no_args_is_help=True)


def _handoff_line(h, now, sla: int) -> list[str]:
    from datetime import timedelta

    waited = h.waiting_for(now)
    flag = "⚠ over SLA" if h.state == "waiting" and waited > timedelta(minutes=sla) else ""
    claim = h.time_to_claim()
    return [h.reference, h.queue, h.priority, h.reason, h.state, h.assigned_to or "",
            f"{int(waited.total_seconds() // 60)} min", f"{int(claim.total_seconds() // 60)} min" if claim else "",
            flag, h.summary[:50]]


@handoffs_app.command("list")
def handoffs_list(as_user: AsOpt = "hannah", closed: Annotated[bool, typer.Option(help="Include closed.")] = False,
                  as_json: JsonOpt = False) -> None:
    """The queues you work (HR staff: HR; IT agents: IT), with waiting time and SLA flags."""
    from app.db.schema import utcnow

    with _services() as services:
        user = _user(services, as_user)
        rows = services.handoffs.for_staff(user, include_closed=closed)
        sla = services.settings.handoff_sla_minutes if services.settings else 30
        if not rows and not (user.has_role("hr_staff") or user.has_role("it_agent")):
            services.audit.append(user.id, "access.denied", what="handoff_queue")
            fail("Only HR staff and IT agents have a handoff queue.")
    now = utcnow()
    if as_json:
        print(json.dumps([dict(zip(("reference", "queue", "priority", "reason", "state", "assigned_to", "waiting",
                                     "time_to_claim", "flag", "summary"), _handoff_line(h, now, sla), strict=True))
                          for h in rows], indent=2))
        return
    table = Table("ref", "queue", "priority", "reason", "state", "owner", "waiting", "to claim", "SLA", "summary")
    for h in rows:
        table.add_row(*_handoff_line(h, now, sla))
    console.print(table if rows else "The queue is empty.")


@handoffs_app.command("show")
def handoffs_show(reference: str, as_user: AsOpt = "hannah", as_json: JsonOpt = False) -> None:
    """One handoff: employee details, summary, transcript and messages (staff of its queue only)."""
    with _services() as services:
        user = _user(services, as_user)
        try:
            h = services.handoffs.get(reference, user)
        except ConciergeError as exc:
            services.audit.append(user.id, "access.denied", what="handoff", reference=reference)
            fail(exc.user_message)
        employee = services.people.get(h.user_id)
        services.audit.append(user.id, "handoff.viewed", reference=h.reference)
    data = {"reference": h.reference, "queue": h.queue, "priority": h.priority, "reason": h.reason, "state": h.state,
            "assigned_to": h.assigned_to, "employee": employee.to_dict() | {"email": employee.email} if employee
            else {"id": h.user_id}, "summary": h.summary, "transcript": h.transcript, "messages": list(h.messages)}
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    for key in ("reference", "queue", "priority", "reason", "state", "assigned_to", "employee", "summary"):
        console.print(f"[bold]{key}[/bold]: {data[key]}")
    for line in h.transcript:
        console.print(f"  {line['role']}: {line['text']}")
    for m in h.messages:
        console.print(f"  {m['author']} ({m['direction']}): {m['text']}")


@handoffs_app.command("claim")
def handoffs_claim(reference: str, as_user: AsOpt) -> None:
    """Take ownership: the bot stops answering the employee."""
    with _services() as services:
        user = _user(services, as_user)
        try:
            h = services.handoffs.claim(reference, user)
        except ConciergeError as exc:
            services.audit.append(user.id, "access.denied", what="handoff", reference=reference)
            fail(exc.user_message)
        services.audit.append(user.id, "handoff.claimed", reference=h.reference, thread_id=h.thread_id)
    console.print(f"{h.reference}: claimed by {h.assigned_to}")


@handoffs_app.command("reply")
def handoffs_reply(reference: str, text: str, as_user: AsOpt) -> None:
    """A message for the employee; they see it (with your name) when they next open the chat or write."""
    with _services() as services:
        user = _user(services, as_user)
        try:
            h, _ = services.handoffs.add_message(reference, user, text)
        except ConciergeError as exc:
            fail(exc.user_message)
        services.audit.append(user.id, "handoff.replied", reference=h.reference, thread_id=h.thread_id, live=False)
    console.print(f"{h.reference}: message queued for the employee")


@handoffs_app.command("resolve")
def handoffs_resolve(
    reference: str,
    as_user: AsOpt,
    note: Annotated[str, typer.Option(help="Resolution note.")] = "",
    to_bot: Annotated[bool, typer.Option("--to-bot", help="Hand the conversation back to the bot instead.")] = False,
) -> None:
    """Resolve (or hand back to the bot); the bot answers the employee again."""
    with _services() as services:
        user = _user(services, as_user)
        try:
            h = services.handoffs.finish(reference, user, to_bot=to_bot, note=note)
        except ConciergeError as exc:
            fail(exc.user_message)
        services.audit.append(user.id, "handoff.returned" if to_bot else "handoff.resolved", reference=h.reference,
                              thread_id=h.thread_id)
    console.print(f"{h.reference}: {h.state}")
