"""Leave agent: balances, requests with manager approval, cancellations, sick days, and policy questions.

Dates come from what the employee types (``leave_dates.py``, dateparser underneath); working days exclude
weekends and the public holidays of the employee's location; overlaps, insufficient balance and short
notice are explained with the policy quoted and cited from the knowledge base. The agent confirms the
interpreted dates and day count before submitting. Approval is a row the manager decides (in chat:
"pending approvals" / "approve APR…", or the CLI); the employee hears the outcome the next time they write.

State (``slots``): leave_type, start, end, start_half, end_half, days; ``flow_step``: ``dates`` or ``confirm``.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta
from typing import Any

from langgraph.runtime import Runtime

from app.prompts import reply
from app.services.leave import leave_types, notice_problem, region, working_days
from graphs.agents.knowledge import knowledge_node, lookup, source_list
from graphs.agents.leave_dates import parse_dates, vague_period
from graphs.context import Context
from graphs.flows import NO_FLOW, register_claim
from graphs.nodes.replies import end_flow, say
from graphs.state import State, flow_turn

FLOW = "leave"
BOOK = "leave"
_BALANCE = re.compile(r"\b(how many|balance|left|remaining|allowance|entitlement|days do i have|have i got)\b", re.I)
_STATUS = re.compile(r"\b(approved yet|been approved|status|pending|my (leave )?requests?|(leave|holiday) requests?|"
                     r"what leave|upcoming leave|booked)\b|'s (leave|holiday)\b", re.I)
_CANCEL = re.compile(r"\b(cancel|withdraw|don'?t need|no longer need)\b", re.I)
_SICK = re.compile(r"\b(sick|ill|unwell|poorly|flu|migraine|stomach bug|covid|fever|doctor said)\b", re.I)
_POLICY = re.compile(r"\b(policy|rules?|carry (it |them |days )?over|carry-over|carried over|how much notice|notice "
                     r"period|entitled|entitlement|what happens|paid|public holidays?|accru\w*|pro-?rata)\b", re.I)
_YES = re.compile(r"^\s*(y|yes|yep|yeah|correct|right|go ahead|submit|send it|ok(ay)?|sure|please do|confirm)\b",
                  re.I)
_TYPES = (
    ("unpaid", re.compile(r"\bunpaid\b", re.I)),
    ("bereavement", re.compile(r"\b(bereavement|funeral|passed away|died)\b", re.I)),
    ("parental", re.compile(r"\b(parental|maternity|paternity|adoption)\b", re.I)),
)
_REF = re.compile(r"\bLV\d{7}\b", re.I)
_QUESTION = re.compile(r"^\s*(what|how|can i|could i|may i|do i|does|is it|am i|should i|when|why)\b", re.I)
_DEPENDANT = re.compile(r"\bmy (son|daughter|child|kid|kids|children|partner|wife|husband|mum|mom|dad|mother|"
                        r"father|baby)\b", re.I)


def _claims(text: str) -> bool:
    """While the leave flow waits (dates, a yes/no), short answers are its own; longer messages go to the router,
    which keeps the flow unless they clearly start another topic ("a new hire starts on Monday")."""
    if text.rstrip().endswith("?"):
        return False
    return bool(_YES.search(text) or _REF.search(text) or len(text.split()) <= 8)


register_claim(FLOW, _claims)


def _fmt(d: date) -> str:
    return d.strftime("%a %-d %b %Y")


def _num(x: float) -> str:
    return f"{x:g}"



async def _quote(ctx: Context, question: str) -> tuple[str, list[dict]]:
    found = await lookup(ctx, question)
    return (found.quoted(), source_list(found.sources)) if found else ("see the leave policy in the HR handbook.", [])


async def leave_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    ctx = runtime.context
    text, _, slots, step = flow_turn(state, FLOW)

    dropped = False
    if step == "confirm" and not state.get("resumed"):
        if _YES.search(text):
            return await _submit(runtime, state, slots)
        if parse_dates(text, ctx.today) is None:
            # Not a yes and no new dates: nothing is submitted; the message may still ask for something else.
            step, slots, dropped = None, {}, True
    question = text.rstrip().endswith("?") or bool(_QUESTION.search(text))
    if not step and not question and _CANCEL.search(text) and (_REF.search(text) or re.search(
            r"\b(leave|holiday|request|time off|vacation|day off)\b", text, re.I)):
        return await _cancel(runtime, text)
    if (not step and not question and _SICK.search(text) and not _DEPENDANT.search(text)
            and re.search(r"\b(today|yesterday|this morning|since)\b", text, re.I)):
        return await _sick(runtime, state, text)
    if not step and _BALANCE.search(text) and not parse_dates(text, ctx.today):
        return end_flow(runtime, await asyncio.to_thread(_balance_text, ctx))
    if not step and (_STATUS.search(text) or _BALANCE.search(text)) and (person := _someone_else(ctx, text)):
        return end_flow(runtime, await asyncio.to_thread(_their_leave_text, ctx, person))
    if not step and _STATUS.search(text) and not parse_dates(text, ctx.today):
        return end_flow(runtime, await asyncio.to_thread(_status_text, ctx))

    if dropped and not _POLICY.search(text):
        return end_flow(runtime, "OK, I haven't submitted anything. Tell me other dates whenever you like.")
    if not step and _POLICY.search(text) and text.rstrip().endswith("?") and not re.search(r"\d", text):
        update = await knowledge_node(state, runtime)  # a policy question: cited answer from the handbook
        return {**update, **NO_FLOW}
    if period := vague_period(text):
        return say(runtime, reply(BOOK, "vague", period=period), active_flow=FLOW, slots=slots, flow_step="dates",
                   pending_slot="dates")
    dates = parse_dates(text, ctx.today)
    if dates is None:
        if not step and (_POLICY.search(text) or text.rstrip().endswith("?")):
            update = await knowledge_node(state, runtime)  # a policy question: cited answer from the handbook
            return {**update, **NO_FLOW}
        return say(runtime, reply(BOOK, "ask_dates"), active_flow=FLOW, slots=slots, flow_step="dates",
                   pending_slot="dates")
    leave_type = slots.get("leave_type") or next((t for t, p in _TYPES if p.search(text)), "annual")
    if leave_type == "parental":
        update = await knowledge_node(state, runtime)  # arranged with HR, not booked in chat
        return {**update, **NO_FLOW}
    return await _check_and_confirm(runtime, leave_type, dates)


async def _check_and_confirm(runtime: Runtime[Context], leave_type: str, dates) -> dict[str, Any]:
    ctx = runtime.context
    leave = ctx.services.leave
    lt = leave_types()[leave_type]
    if dates.start < ctx.today:
        return end_flow(runtime, reply(BOOK, "past", start=_fmt(dates.start)))
    if not lt.half_days and (dates.start_half != "full" or dates.end_half != "full"):
        dates = _Dates(dates.start, dates.end)  # this leave type is taken in whole days
    days, skipped = working_days(dates.start, dates.end, region(ctx.user.location), dates.start_half, dates.end_half)
    if days <= 0:
        return end_flow(runtime, reply(BOOK, "no_working_days", start=_fmt(dates.start), end=_fmt(dates.end)))
    clash = await asyncio.to_thread(leave.overlapping, ctx.user.id, dates.start, dates.end)
    if clash:
        c = clash[0]
        ctx.services.audit.append(ctx.user.id, "leave.overlap", thread_id=ctx.thread_id, existing=c.reference)
        return end_flow(runtime, reply(BOOK, "overlap", existing=f"{c.reference} ({leave_types()[c.leave_type].name})",
                                   start=_fmt(c.start), end=_fmt(c.end), state=c.state, ref=c.reference))
    balance = await asyncio.to_thread(leave.balance, ctx.user.id, leave_type, dates.start.year)
    if lt.entitlement is not None and days > balance.remaining:
        quote, sources = await _quote(ctx, "how many days annual leave entitlement and carry over limit")
        ctx.services.audit.append(ctx.user.id, "leave.insufficient_balance", thread_id=ctx.thread_id,
                                  days=days, remaining=balance.remaining)
        return end_flow(runtime, reply(BOOK, "insufficient", days=_num(days), remaining=_num(balance.remaining),
                                   year=dates.start.year, quote=quote), sources=sources)
    notice_text, sources = "", []
    if problem := notice_problem(lt, dates.start, days, ctx.today):
        quote, sources = await _quote(ctx, f"how much notice do I need to give for {lt.name.lower()}")
        notice_text = " " + reply(BOOK, "notice", needed=problem["needed"], given=problem["given"], quote=quote)
    holidays = reply(BOOK, "holidays", names=", ".join(f"{n} ({d:%-d %b})" for d, n in skipped)) if skipped else ""
    manager = ctx.services.people.get(ctx.user.manager_id) if ctx.user.manager_id else None
    slots = {"leave_type": leave_type, "start": dates.start.isoformat(), "end": dates.end.isoformat(),
             "start_half": dates.start_half, "end_half": dates.end_half, "days": days}
    if dates.end == dates.start:
        period = f"on **{_fmt(dates.start)}{_half_word(dates.start_half)}**"
    else:
        period = f"from **{_fmt(dates.start)}{_half_word(dates.start_half)}** to **{_fmt(dates.end)}" \
                 f"{_half_word(dates.end_half)}**"
    text = reply(BOOK, "confirm", type=lt.name, period=period,
                 days=_num(days), unit="day" if days == 1 else "days", holidays=holidays,
                 after=_num(balance.remaining - days) if lt.entitlement is not None else "—", year=dates.start.year,
                 notice=notice_text, approver=manager.name if manager else "HR")
    return say(runtime, text, active_flow=FLOW, slots=slots, flow_step="confirm", pending_slot="confirm",
               sources=sources, actions=[{"name": "choose", "label": "Yes, submit it"},
                                         {"name": "choose", "label": "No"}])


def _half_word(half: str) -> str:
    return {"am": " (morning)", "pm": " (afternoon)"}.get(half, "")


async def _submit(runtime: Runtime[Context], state: State, slots: dict) -> dict[str, Any]:
    ctx = runtime.context
    leave = ctx.services.leave
    lt = leave_types()[slots["leave_type"]]
    start, end = date.fromisoformat(slots["start"]), date.fromisoformat(slots["end"])
    approver = ctx.user.manager_id
    key = f"{ctx.thread_id}:{state.get('turn_count', 0)}:leave"
    # Re-check at submission: another request may have been made in between.
    if await asyncio.to_thread(leave.overlapping, ctx.user.id, start, end):
        return await _check_and_confirm(runtime, slots["leave_type"], _Dates(start, end, slots["start_half"],
                                                                             slots["end_half"]))
    request, created = await asyncio.to_thread(lambda: leave.create(
        person_id=ctx.user.id, leave_type=lt.code, start=start, end=end, days=float(slots["days"]),
        start_half=slots["start_half"], end_half=slots["end_half"], approver_id=approver, idempotency_key=key))
    # Always (idempotent by key): a crash between the request and its approval must not leave it unseen.
    if request.state == "pending":
        record, _ = await asyncio.to_thread(lambda: ctx.services.approvals.request(
            kind="leave.request", requested_by=ctx.user.id, subject_id=ctx.user.id, approver_id=approver,
            approver_role=None if approver else "hr_staff", idempotency_key=f"{key}:approval",
            payload={"leave": request.reference}, reason=f"{lt.name} {start:%-d %b} – {end:%-d %b %Y} "
            f"({_num(request.days)} days) for {ctx.user.name}"))
        await asyncio.to_thread(leave.attach_approval, request.reference, record.reference)
        manager = ctx.services.people.get(approver) if approver else None
        if manager is not None and created:
            await asyncio.to_thread(lambda: ctx.services.outbox.send(
                user_id=manager.id, channel="email", address=manager.email or f"{manager.id}@example.com",
                kind="leave_approval_request", body=f"{ctx.user.name} asks for {lt.name.lower()} "
                f"{start:%-d %b} – {end:%-d %b %Y}. Reply in Concierge: approve {record.reference}"))
        if created:
            ctx.services.audit.append(ctx.user.id, "leave.requested", thread_id=ctx.thread_id,
                                      reference=request.reference, days=request.days, approval=record.reference)
    manager = ctx.services.people.get(approver) if approver else None
    return end_flow(runtime, reply(BOOK, "submitted", approver=manager.name if manager else "HR", ref=request.reference,
                               type=lt.name, start=_fmt(start), end=_fmt(end), days=_num(request.days),
                               unit="day" if request.days == 1 else "days"))


class _Dates:
    def __init__(self, start, end, start_half="full", end_half="full"):
        self.start, self.end, self.start_half, self.end_half = start, end, start_half, end_half


def _balance_text(ctx: Context) -> str:
    b = ctx.services.leave.balance(ctx.user.id, "annual")
    carried = f" + {_num(b.carried_over)} carried over" if b.carried_over else ""
    details = f"Taken so far: {_num(b.taken)}; booked ahead: {_num(b.booked)}; waiting for approval: {_num(b.pending)}."
    ctx.services.audit.append(ctx.user.id, "leave.balance_viewed", thread_id=ctx.thread_id)
    return reply(BOOK, "balance", remaining=_num(b.remaining), year=b.year, entitlement=_num(b.entitlement),
                 carried=carried, details=details)


def _someone_else(ctx: Context, text: str):
    """A directory person the message asks about ("Alice's leave", "leave for Dave"), not the speaker."""
    lowered = text.lower().replace("’", "'")
    for person in ctx.services.people.all():
        name = rf"({re.escape(person.name.split()[0].lower())}|{re.escape(person.id)})"
        about = rf"\b{name}'s\b|\b(for|does|has|is|of) {name}\b"  # not "approved by Bob"
        if person.id != ctx.user.id and re.search(about, lowered):
            return person
    return None


def _their_leave_text(ctx: Context, person) -> str:
    """A manager sees their direct reports' requests; HR sees everyone's; anyone else gets a polite no."""
    leave = ctx.services.leave
    if not leave.visible_to(ctx.user, person.id, ctx.services.people):
        ctx.services.audit.append(ctx.user.id, "access.denied", thread_id=ctx.thread_id, what="leave",
                                  subject=person.id)
        return reply(BOOK, "not_allowed")
    items = [r for r in leave.mine(person.id) if r.end >= ctx.today or r.state == "pending"]
    ctx.services.audit.append(ctx.user.id, "leave.status_viewed", thread_id=ctx.thread_id, subject=person.id)
    if not items:
        return f"{person.name} has no pending or upcoming leave."
    text = "; ".join(f"{r.reference} {leave_types()[r.leave_type].name.lower()} {r.start:%-d %b} – {r.end:%-d %b %Y} "
                     f"({_num(r.days)} days): {r.state}" for r in items)
    return f"{person.name}'s leave: {text}."


def _status_text(ctx: Context) -> str:
    today = ctx.today
    items = [r for r in ctx.services.leave.mine(ctx.user.id) if r.end >= today or r.state == "pending"]
    ctx.services.audit.append(ctx.user.id, "leave.status_viewed", thread_id=ctx.thread_id)
    if not items:
        return reply(BOOK, "status_none")
    text = "; ".join(f"{r.reference} {leave_types()[r.leave_type].name.lower()} {r.start:%-d %b} – {r.end:%-d %b %Y} "
                     f"({_num(r.days)} days): {_state(r, today)}" for r in items)
    return reply(BOOK, "status", items=text)


def _state(r, today: date) -> str:
    """Approved leave that has started is "taken"."""
    return "taken" if r.state == "approved" and r.start <= today else r.state


async def _cancel(runtime: Runtime[Context], text: str) -> dict[str, Any]:
    ctx = runtime.context
    leave = ctx.services.leave
    mine = [r for r in await asyncio.to_thread(leave.mine, ctx.user.id)
            if r.state == "pending" or (r.state == "approved" and r.start > ctx.today)]
    target = None
    if m := _REF.search(text):
        target = next((r for r in mine if r.reference == m.group(0).upper()), None)
    elif dates := parse_dates(text, ctx.today):
        target = next((r for r in mine if r.start <= dates.end and r.end >= dates.start), None)
    elif len(mine) == 1:
        target = mine[0]
    if target is None:
        if not mine:
            return end_flow(runtime, reply(BOOK, "status_none"))
        items = "; ".join(f"{r.reference} ({r.start:%-d %b} – {r.end:%-d %b}, {r.state})" for r in mine)
        return end_flow(runtime, reply(BOOK, "which_cancel", items=items),
                    actions=[{"name": "choose", "label": f"Cancel {r.reference}"} for r in mine[:4]])
    done = await asyncio.to_thread(leave.cancel, target.reference, ctx.user)
    if target.approval_ref:
        await asyncio.to_thread(ctx.services.approvals.cancel, target.approval_ref)
    ctx.services.audit.append(ctx.user.id, "leave.cancelled", thread_id=ctx.thread_id, reference=done.reference)
    return end_flow(runtime, reply(BOOK, "cancelled", ref=done.reference, start=_fmt(done.start), end=_fmt(done.end),
                               days=_num(done.days)))


async def _sick(runtime: Runtime[Context], state: State, text: str) -> dict[str, Any]:
    ctx = runtime.context
    day = ctx.today - timedelta(days=1) if re.search(r"\byesterday\b", text, re.I) else ctx.today
    start = ctx.today - timedelta(days=1) if re.search(r"\b(since yesterday|yesterday and today)\b", text, re.I) \
        else day
    days, _ = working_days(start, ctx.today if start != day else day, region(ctx.user.location))
    request, created = await asyncio.to_thread(lambda: ctx.services.leave.create(
        person_id=ctx.user.id, leave_type="sick", start=start, end=max(day, start), days=max(days, 1.0),
        approver_id=None, reason="reported in chat", state="approved",
        idempotency_key=f"{ctx.thread_id}:{state.get('turn_count', 0)}:sick"))
    manager = ctx.services.people.get(ctx.user.manager_id) if ctx.user.manager_id else None
    if created and manager is not None:
        await asyncio.to_thread(lambda: ctx.services.outbox.send(
            user_id=manager.id, channel="email", address=manager.email or f"{manager.id}@example.com",
            kind="sick_notice", body=f"{ctx.user.name} reported sick for {start:%-d %b}"
            + (f" – {day:%-d %b}" if day != start else "") + " in Concierge."))
    if created:
        ctx.services.audit.append(ctx.user.id, "leave.sick_reported", thread_id=ctx.thread_id,
                                  reference=request.reference)
    area = region(ctx.user.location)
    question = "when do I need a doctor's certificate for sick leave in Berlin" if area == "berlin" else \
        "do I need a fit note for sick leave, self-certify up to 7 days"
    quote, sources = await _quote(ctx, question)
    when = "today" if start == day == ctx.today else f"{start:%-d %b}" + (f" – {day:%-d %b}" if day != start else "")
    return end_flow(runtime, reply(BOOK, "sick", when=when, ref=request.reference,
                               manager=manager.name if manager else "HR", quote=quote), sources=sources)


def decision_updates(ctx: Context) -> str:
    """"Your leave was approved" for decisions the employee hasn't heard yet (marked as told)."""
    pending = ctx.services.leave.unnotified(ctx.user.id)
    if not pending:
        return ""
    lines = []
    for r in pending:
        decider = ctx.services.people.get(r.decided_by) if r.decided_by else None
        note = f' ("{r.decision_note}")' if r.decision_note else ""
        lines.append(reply(BOOK, "decided", ref=r.reference, start=_fmt(r.start), end=_fmt(r.end), state=r.state,
                           decider=decider.name if decider else "your manager", note=note))
    ctx.services.leave.mark_notified([r.reference for r in pending])
    ctx.services.audit.append(ctx.user.id, "leave.outcome_told", thread_id=ctx.thread_id,
                              references=[r.reference for r in pending])
    return "\n".join(lines)
