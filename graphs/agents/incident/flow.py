"""Incident agent: the founding paper's decision tree (§4.1), every branch.

1. Enough detail? Ask only for what's missing (device/app, error, since when, who is affected, business
   impact), at most two questions at a time; answers are accepted in any order.
2. Known fix? Propose the knowledge base's fix (cited) and ask whether it worked: yes → a self-solved ticket
   (resolution "self-service", so deflection is countable); no → a ticket noting what was tried.
3. Templates by trigger words: password problems go to the password-reset flow; phishing follows the
   security template; a lost or stolen device becomes a security incident plus a remote-lock request.
4. Supervisory security check: the employee's own compromised account is locked at once; anything on
   another person's account becomes a pending staff approval.
5. Critical incidents (outage, many affected, production down, breach) are never auto-resolved: P1/P2,
   queued straight to the major-incident team with a summary.
6. Vendor escalation for third-party systems (the vendor catalog), with status on request.
7. Status, comments, reopen and cancel on the caller's own tickets only.

State (the supervisor's ``slots``): ``report`` (what the employee first said), the five details, ``fix``
(the article proposed); ``flow_step`` is ``collect``, ``propose_fix``, ``phishing_check``, ``lost_device`` or
``comment``.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any

from langgraph.runtime import Runtime

from app.prompts import reply
from app.services.tickets import NewTicket, TicketError, TicketRecord
from graphs.agents.handoff import summarise, transcript
from graphs.agents.incident import kinds
from graphs.agents.incident.details import (
    QUESTIONS,
    Details,
    extract,
    is_critical,
    read_answer,
    severity,
    states_a_detail,
)
from graphs.agents.knowledge import lookup, source_list
from graphs.agents.password_reset import other_person
from graphs.context import Context
from graphs.flows import register_claim
from graphs.nodes.replies import end_flow, say
from graphs.state import State, flow_turn

FLOW = "incident"
FIRST_RESPONSE = {"P1": "30 minutes", "P2": "2 hours", "P3": "1 working day", "P4": "2 working days"}
HANDOFF_WAIT = {"P1": "30 minutes", "P2": "2 hours"}
_YES = re.compile(r"^\s*(y|yes|yeah|yep|yup|it did|it worked|worked|that worked|fixed|sorted|all good|perfect|"
                  r"great|thanks?,? (it )?(works|worked))\b", re.I)
_NO = re.compile(r"^\s*(n|no|nope|nah|not really|it didn'?t|didn'?t (work|help)|still (broken|not|the same|happening)|"
                 r"same (problem|issue|error)|that didn'?t)\b|\b(didn'?t|did not|doesn'?t|does not) (work|help|fix)\b",
                 re.I)


def _claims(text: str) -> bool:
    """While the incident flow waits, its answer is a yes/no, a very short reply, or a message that states one of
    the details asked for ("since Monday", "only me", an error text). Anything else goes to the router, which
    keeps the flow unless the message clearly starts another topic."""
    if text.rstrip().endswith("?"):
        return False
    return bool(_YES.search(text) or _NO.search(text) or len(text.split()) <= 2 or states_a_detail(text))


register_claim(FLOW, _claims)



def _wait(runtime: Runtime[Context], text: str, step: str, slots: dict, pending: str | None = None,
          **extra: Any) -> dict[str, Any]:
    return say(runtime, text, active_flow=FLOW, slots=slots, flow_step=step, pending_slot=pending or step, **extra)


def _details(slots: dict) -> Details:
    return Details(**{k: slots.get(k) for k in ("ci", "error", "since", "affected", "business_impact")})


def _full_text(slots: dict) -> str:
    return " ".join(str(v) for v in [slots.get("report", ""), *slots.get("answers", [])])


async def incident_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    ctx = runtime.context
    text, _, slots, step = flow_turn(state, FLOW)

    if state.get("resumed") and step:
        return _reask(runtime, step, slots)
    if step == "propose_fix":
        return await _on_fix_answer(runtime, state, text, slots)
    if step == "phishing_check":
        if kinds.compromised(text):
            return await _compromised(runtime, state, {**slots, "answers": [*slots.get("answers", []), text]})
        acted = re.search(r"\b(clicked|opened|entered|typed|approved|downloaded|scanned)\b", text, re.I)
        denied = re.search(r"\b(didn'?t|did not|never|haven'?t|have not|not) (click|open|enter|type|approve)", text,
                           re.I)
        clicked = bool(acted and not denied) or bool(_YES.search(text) and not denied)
        return await _phishing(runtime, state, slots, clicked=clicked)
    if step == "lost_device":
        return await _lost_device(runtime, state, {**slots, "device": text.strip()[:60]})
    if step == "comment":
        return await _comment(runtime, slots.get("number", ""), text)
    if step == "collect" and kinds.template(text) == "password":
        return _to_password_flow(ctx)
    if step == "collect":
        asked = [s for s in (state.get("pending_slot") or "").split(",") if s]
        found = read_answer(text, asked, ctx.services.catalog)
        slots = {**slots, **{k: v for k, v in found.items() if not slots.get(k)},
                 "answers": [*slots.get("answers", []), text]}
        return await _continue(runtime, state, slots)

    # A new message for the incident agent.
    follow = kinds.follow_up(text)
    if follow:
        return await _follow_up(runtime, follow, text)
    template = kinds.template(text)
    if template == "password":
        return _to_password_flow(ctx)
    if template not in ("phishing", "lost_device") and kinds.about_an_account(text):
        named = other_person(ctx, text)
        if named is not None:
            return await _other_account(runtime, state, named, text)
    slots = {"report": text[:1000], "answers": []}
    if template == "compromised":
        return await _compromised(runtime, state, slots)
    if template == "phishing":
        return _wait(runtime, reply(FLOW, "phishing_check"), "phishing_check", slots,
                     actions=[{"name": "choose", "label": "Yes"}, {"name": "choose", "label": "No"}])
    if template == "lost_device":
        item = ctx.services.catalog.find(text)
        if item is None:
            return _wait(runtime, reply(FLOW, "lost_device_ask"), "lost_device", slots)
        return await _lost_device(runtime, state, {**slots, "device": item.name})
    slots.update(extract(text, ctx.services.catalog))
    return await _continue(runtime, state, slots)


def _to_password_flow(ctx: Context) -> dict[str, Any]:
    """Template 3a: password problems belong to the password-reset flow; it takes over this same turn."""
    ctx.services.audit.append(ctx.user.id, "incident.handed_over", thread_id=ctx.thread_id, to="password_reset")
    return {"handler": "password_reset", "route": "password_reset", "active_flow": None, "slots": {},
            "flow_step": None, "pending_slot": None}


def _reask(runtime: Runtime[Context], step: str, slots: dict) -> dict[str, Any]:
    """A resumed flow asks its pending question again (the "yes" that resumed it is not the answer)."""
    if step == "collect":
        missing = _details(slots).missing()[:2]
        return _wait(runtime, reply(FLOW, "ask_more", questions=" ".join(QUESTIONS[m] for m in missing)), "collect",
                     slots, ",".join(missing))
    if step == "propose_fix":
        return _wait(runtime, reply(FLOW, "ask_fixed"), step, slots, actions=_YES_NO)
    if step == "phishing_check":
        return _wait(runtime, reply(FLOW, "phishing_check"), step, slots, actions=_YES_NO)
    if step == "lost_device":
        return _wait(runtime, reply(FLOW, "lost_device_ask"), step, slots)
    return _wait(runtime, reply(FLOW, "ask_comment", number=slots.get("number", "")), step, slots)


_YES_NO = [{"name": "choose", "label": "Yes"}, {"name": "choose", "label": "No"}]


async def _continue(runtime: Runtime[Context], state: State, slots: dict) -> dict[str, Any]:
    """Decision tree steps 1, 5 and 2: critical → escalate now; missing details → ask; known fix → propose."""
    ctx = runtime.context
    details = _details(slots)
    if is_critical(_full_text(slots), details):
        return await _create(runtime, state, slots, critical=True)
    missing = details.missing()
    if missing:
        asked = missing[:2]
        key = "ask_more" if slots.get("answers") else "ask_details"
        questions = " ".join(QUESTIONS[m] for m in asked)
        return _wait(runtime, reply(FLOW, key, questions=questions), "collect", slots, ",".join(asked))
    item = ctx.services.catalog.get(details.ci)
    query = " ".join(x for x in (item.name if item else "", details.error or "", _full_text(slots)) if x)
    found = await lookup(ctx, query[:500])
    if found is None:
        return await _create(runtime, state, slots)
    slots = {**slots, "fix": [s.doc_id for s in found.sources][:1], "fix_title": found.sources[0].title}
    ctx.services.audit.append(ctx.user.id, "incident.fix_proposed", thread_id=ctx.thread_id, article=slots["fix"][0])
    return _wait(runtime, reply(FLOW, "propose_fix", fix=found.quoted()), "propose_fix", slots,
                 sources=source_list(found.sources), actions=_YES_NO)


_WORKED = re.compile(r"\b(it worked|that worked|worked|works now|working now|fixed it|it'?s fixed|that fixed|"
                     r"sorted it|all good now|problem solved|solved it)\b", re.I)
_STILL = re.compile(r"\b(still|same (error|problem|issue|thing)|no change|not (working|fixed)|didn'?t (work|help|fix)|"
                    r"did not (work|help|fix)|doesn'?t (work|help)|does not (work|help))\b", re.I)


async def _on_fix_answer(runtime: Runtime[Context], state: State, text: str, slots: dict) -> dict[str, Any]:
    if _WORKED.search(text) and not re.search(r"\b(not|n't|never)\b[^.!?]{0,12}\bwork", text, re.I):
        return await _create(runtime, state, slots, resolve_as="self-service")
    if _STILL.search(text) or _NO.search(text):
        return await _create(runtime, state, {**slots, "tried": True})
    if _YES.search(text):
        return await _create(runtime, state, slots, resolve_as="self-service")
    return _wait(runtime, reply(FLOW, "ask_fixed"), "propose_fix", slots, actions=_YES_NO)


def _describe(slots: dict, item_name: str | None) -> str:
    lines = [f"Reported in chat: {slots.get('report', '')}"]
    labels = {"ci": "Device/app", "error": "Error/symptom", "since": "Since", "affected": "Affected",
              "business_impact": "Business impact"}
    for key, label in labels.items():
        value = item_name if key == "ci" and item_name else slots.get(key)
        if value:
            lines.append(f"{label}: {str(value).removeprefix('other:')}")
    for answer in slots.get("answers", []):
        lines.append(f"Employee added: {answer}")
    if slots.get("fix"):
        outcome = "did not fix it" if slots.get("tried") else "fixed it"
        lines.append(f"Already tried: knowledge-base article '{slots.get('fix_title', slots['fix'][0])}' — {outcome}.")
    return "\n".join(lines)


def _short(slots: dict, item_name: str | None) -> str:
    if slots.get("short"):
        return str(slots["short"])[:120]
    error = str(slots.get("error") or "").removeprefix("other:")
    head = item_name or str(slots.get("ci") or "").removeprefix("other:") or ""
    text = f"{head}: {error}" if head and error else head or error or slots.get("report", "")
    text = " ".join(text.split())
    return text[:1].upper() + text[1:120]


async def _create(runtime: Runtime[Context], state: State, slots: dict, *, critical: bool = False,
                  resolve_as: str | None = None, category: tuple[str, str, str] | None = None,
                  severity_override: tuple[int, int] | None = None) -> tuple[TicketRecord, dict[str, Any]] | dict:
    """Open (or record as self-solved) the ticket, then escalate as the tree says, and tell the employee."""
    ctx = runtime.context
    catalog = ctx.services.catalog
    details = _details(slots)
    item = catalog.get(details.ci)
    impact, urgency = severity_override or severity(_full_text(slots), details)
    if category:
        cat, sub, group = category
    elif item:
        cat, sub, group = item.category, item.subcategory, item.group
    else:
        cat, sub, group = "other", "", "service-desk"
    if critical:
        group = "major-incident"
    new = NewTicket(
        caller_id=ctx.user.id, short_description=_short(slots, item.name if item else None),
        description=_describe(slots, item.name if item else None), category=cat, subcategory=sub,
        configuration_item=item.id if item else None, impact=impact, urgency=urgency, assignment_group=group,
        thread_id=ctx.thread_id,
    )
    key = f"{ctx.thread_id}:{state.get('turn_count', 0)}:incident"
    ticket, created = await asyncio.to_thread(lambda: ctx.services.tickets.create(
        new, actor="concierge", idempotency_key=key, resolve_as=resolve_as,
        resolution_notes=f"Fixed by the caller with '{slots.get('fix_title', '')}'" if resolve_as else None))
    event = "incident.self_solved" if resolve_as else "incident.ticket_created"
    if created:
        ctx.services.audit.append(ctx.user.id, event, thread_id=ctx.thread_id, number=ticket.number,
                                  priority=ticket.priority, group=ticket.assignment_group, critical=critical)
    if category:  # a template (phishing, lost device, compromise) words its own reply
        return ticket, {}
    if resolve_as:
        return end_flow(runtime, reply(FLOW, "self_solved", number=ticket.number))
    if critical:
        handoff = await _queue_critical(runtime, state, ticket)
        return end_flow(runtime, reply(FLOW, "critical", number=ticket.number, priority=ticket.priority,
                                   handoff=handoff, wait=HANDOFF_WAIT.get(ticket.priority, "2 hours")))
    text = reply(FLOW, "ticket_created", number=ticket.number, short=ticket.short_description,
                 priority=ticket.priority, group=ticket.assignment_group.replace("-", " "),
                 next=reply(FLOW, "next_normal", target=FIRST_RESPONSE[ticket.priority], number=ticket.number))
    if slots.get("tried"):
        text = text.replace(f"{ticket.assignment_group.replace('-', ' ')} team.",
                            f"{ticket.assignment_group.replace('-', ' ')} team." + reply(FLOW, "ticket_tried"), 1)
    vendor = catalog.vendor_for(item, widespread=details.affected in ("team", "many"))
    if vendor is not None:
        escalated = await asyncio.to_thread(lambda: ctx.services.tickets.escalate_to_vendor(
            ticket.number, "concierge", vendor_id=vendor.id, sla_hours=vendor.sla_hours))
        ctx.services.audit.append(ctx.user.id, "incident.vendor_escalated", thread_id=ctx.thread_id,
                                  number=ticket.number, vendor=vendor.id, reference=escalated.vendor_reference)
        text += "\n\n" + reply(FLOW, "vendor", system=item.name, vendor=vendor.name,
                               reference=escalated.vendor_reference, sla=vendor.sla_hours,
                               due=_fmt(escalated.vendor_due_at))
    return end_flow(runtime, text)


async def _queue_critical(runtime: Runtime[Context], state: State, ticket: TicketRecord) -> str:
    """Step 5: a person on the major-incident team gets it now, with a summary."""
    ctx = runtime.context
    lines = transcript(state)
    summary, method = await summarise(ctx, lines)
    record, created = await asyncio.to_thread(lambda: ctx.services.handoffs.queue(
        thread_id=ctx.thread_id, user_id=ctx.user.id, queue="it", reason="critical_incident",
        summary=f"{ticket.number} ({ticket.priority}): {summary}", transcript=lines,
        priority="urgent" if ticket.priority == "P1" else "high",
        idempotency_key=f"{ctx.thread_id}:{state.get('turn_count', 0)}:critical"))
    if created:
        ctx.services.audit.append(ctx.user.id, "handoff.queued", thread_id=ctx.thread_id, reference=record.reference,
                                  queue="it", reason="critical_incident", priority=record.priority,
                                  summary_method=method, number=ticket.number)
        ctx.services.audit.append(ctx.user.id, "incident.critical", thread_id=ctx.thread_id, number=ticket.number,
                                  priority=ticket.priority, handoff=record.reference)
    return record.reference


async def _phishing(runtime: Runtime[Context], state: State, slots: dict, *, clicked: bool) -> dict[str, Any]:
    ctx = runtime.context
    question = "I already clicked the link" if clicked else "how do I report a phishing email in Outlook"
    found = await lookup(ctx, question)
    how = found.quoted() if found else ""
    sev = (2, 1) if clicked else (3, 2)
    error = "Suspected phishing" + (" (employee clicked / opened it)" if clicked else "")
    slots = {**slots, "error": error, "short": error}
    ticket, _ = await _create(runtime, state, slots, category=("security", "phishing", "security-operations"),
                              severity_override=sev)
    key = "phishing_clicked" if clicked else "phishing"
    return end_flow(runtime, reply(FLOW, key, how=how, number=ticket.number, priority=ticket.priority),
                sources=source_list(found.sources) if found else [])


async def _compromised(runtime: Runtime[Context], state: State, slots: dict) -> dict[str, Any]:
    """Step 4: the employee's own account looks compromised — lock it now, without asking, and escalate."""
    ctx = runtime.context
    result = await asyncio.to_thread(lambda: ctx.services.directory.lock(
        ctx.user.id, actor="concierge", idempotency_key=f"{ctx.thread_id}:{state.get('turn_count', 0)}:lock",
        reason="suspected compromise reported in chat"))
    event = "incident.account_locked" if result.outcome != "refused" else "incident.account_lock_failed"
    ctx.services.audit.append(ctx.user.id, event, thread_id=ctx.thread_id, outcome=result.outcome)
    slots = {**slots, "error": "Account possibly compromised", "affected": "me",
             "short": "Account possibly compromised (reported by the owner)"}
    ticket, _ = await _create(runtime, state, slots, category=("security", "account_compromise",
                                                               "security-operations"), severity_override=(1, 1))
    await _queue_critical(runtime, state, ticket)
    if result.outcome == "done":
        lock = "locked now"
    elif result.outcome == "unchanged":
        lock = f"it was already {result.detail.get('status', 'locked')}"
    else:  # the directory refused: a person must do it, and the P1 handoff below makes sure one does
        lock = "I couldn't lock it automatically, so the Security team will do it now"
    return end_flow(runtime, reply(FLOW, "compromised", number=ticket.number, priority=ticket.priority, lock=lock))


async def _lost_device(runtime: Runtime[Context], state: State, slots: dict) -> dict[str, Any]:
    ctx = runtime.context
    device = slots.get("device") or "device"
    stolen = bool(re.search(r"\b(stolen|stole|theft|robbed|nicked|mugged|taken)\b", _full_text(slots), re.I))
    found = await lookup(ctx, "my laptop was stolen, report to the police crime reference" if stolen
                         else "what does IT do when a device is lost")
    slots = {**slots, "error": f"{'Stolen' if stolen else 'Lost'} device: {device}",
             "short": f"{'Stolen' if stolen else 'Lost'} {device.lower()}"}
    item = ctx.services.catalog.find(device)
    if item is not None:
        slots["ci"] = item.id
        device = item.name.lower() if item.category == "hardware" else item.name
    ticket, _ = await _create(runtime, state, slots, category=("security", "lost_device", "security-operations"),
                              severity_override=(2, 1))
    result = await asyncio.to_thread(lambda: ctx.services.directory.request_device_lock(
        ctx.user.id, device=device, actor="concierge", idempotency_key=f"{ticket.number}:device-lock",
        ticket=ticket.number))
    ctx.services.audit.append(ctx.user.id, "incident.device_lock_requested", thread_id=ctx.thread_id,
                              number=ticket.number, device=device, outcome=result.outcome)
    how = found.quoted() if found else ""
    return end_flow(runtime, reply(FLOW, "lost_device", number=ticket.number, priority=ticket.priority, device=device,
                               lock=f"request {result.detail.get('request', ticket.number)}", how=how),
                sources=source_list(found.sources) if found else [])


async def _other_account(runtime: Runtime[Context], state: State, person, text: str) -> dict[str, Any]:
    """Step 4, the other half: never act on someone else's account; a staff member must approve."""
    ctx = runtime.context
    record, created = await asyncio.to_thread(lambda: ctx.services.approvals.request(
        kind="directory.lock", requested_by=ctx.user.id, subject_id=person.id, approver_role="it_agent",
        idempotency_key=f"{ctx.thread_id}:{state.get('turn_count', 0)}:approval",
        payload={"action": "lock", "report": text[:500]}, reason=text))
    if created:
        ctx.services.audit.append(ctx.user.id, "approval.requested", thread_id=ctx.thread_id,
                                  reference=record.reference, kind=record.kind, subject=person.id)
    return end_flow(runtime, reply(FLOW, "other_account", reference=record.reference, name=person.name.split()[0]))


# -- step 7: the caller's own tickets ------------------------------------------------------------------------
def _fmt(ts: datetime | None) -> str:
    return ts.strftime("%d %b %H:%M") if ts else "unknown"


_NOT_ABOUT = frozenset(
    "ticket tickets incident case the any update updates status news progress what with about cancel close reopen "
    "open again please can you could add comment note let them know works working now fixed sorted thanks and for "
    "that this its it's whats what's there yet still".split()
)


def _match_ticket(text: str, tickets: list[TicketRecord]) -> TicketRecord | None:
    """The caller's ticket a message refers to by number or by what it is about ("my docking station ticket")."""
    if m := kinds.TICKET_NUMBER.search(text):
        number = m.group(0).upper()
        return next((t for t in tickets if t.number == number), None)
    words = {w for w in re.findall(r"[a-z]{3,}", text.lower())} - _NOT_ABOUT
    scored = []
    for t in tickets:
        about = f"{t.short_description} {t.configuration_item or ''} {t.subcategory}".lower().replace("_", " ")
        score = sum(1 for w in words if w in about)
        scored.append((score, t))
    scored.sort(key=lambda x: -x[0])
    if scored and scored[0][0] > 0 and (len(scored) == 1 or scored[0][0] > scored[1][0]):
        return scored[0][1]
    if len(tickets) == 1 and not words:
        return tickets[0]
    return None


async def _follow_up(runtime: Runtime[Context], kind: str, text: str) -> dict[str, Any]:
    ctx = runtime.context
    mine = await asyncio.to_thread(ctx.services.tickets.mine, ctx.user)
    if kind == "list":
        open_ones = [t for t in mine if t.is_open]
        if not open_ones:
            return end_flow(runtime, reply(FLOW, "no_tickets"))
        items = "; ".join(f"{t.number} ({t.short_description}, {t.priority}, {t.state.replace('_', ' ')})"
                          for t in open_ones[:8])
        ctx.services.audit.append(ctx.user.id, "ticket.listed", thread_id=ctx.thread_id, count=len(open_ones))
        return end_flow(runtime, reply(FLOW, "ticket_list", items=items),
                    actions=[{"name": "choose", "label": f"Status of {t.number}"} for t in open_ones[:4]])
    # Numbers match any of the caller's tickets (the service explains why a cancelled one can't be reopened);
    # descriptions match only tickets the action makes sense for.
    actionable = {"status": None, "comment": ("new", "in_progress", "on_hold", "resolved"),
                  "reopen": ("resolved",), "cancel": ("new", "in_progress", "on_hold")}[kind]
    pool = mine if actionable is None or kinds.TICKET_NUMBER.search(text) else [
        t for t in mine if t.state in actionable]
    ticket = _match_ticket(text, pool)
    if ticket is None:
        if kinds.TICKET_NUMBER.search(text):
            number = kinds.TICKET_NUMBER.search(text).group(0).upper()
            ctx.services.audit.append(ctx.user.id, "ticket.not_found", thread_id=ctx.thread_id, number=number)
            if await asyncio.to_thread(_someone_elses, ctx, number):
                ctx.services.audit.append(ctx.user.id, "access.denied", thread_id=ctx.thread_id, what="ticket",
                                          number=number)
            items = ", ".join(f"{t.number} ({t.short_description})" for t in mine[:5])
            return end_flow(runtime, reply(FLOW, "not_found", items=items) if mine else reply(FLOW, "not_found_none"))
        open_ones = [t for t in mine if t.is_open]
        if not open_ones:
            return end_flow(runtime, reply(FLOW, "no_tickets"))
        items = "; ".join(f"{t.number} ({t.short_description}, {t.state.replace('_', ' ')})" for t in open_ones[:5])
        return end_flow(runtime, reply(FLOW, "status_list", items=items),
                    actions=[{"name": "choose", "label": f"Status of {t.number}"} for t in open_ones[:4]])
    try:
        if kind == "status":
            return end_flow(runtime, await _status(ctx, ticket.number))
        if kind == "comment":
            note = _comment_text(text)
            if not note:
                return _wait(runtime, reply(FLOW, "ask_comment", number=ticket.number), "comment",
                             {"number": ticket.number})
            return await _comment(runtime, ticket.number, note)
        if kind == "reopen":
            done = await asyncio.to_thread(ctx.services.tickets.reopen, ticket.number, ctx.user, text[:500])
            ctx.services.audit.append(ctx.user.id, "ticket.reopened", thread_id=ctx.thread_id, number=done.number)
            return end_flow(runtime, reply(FLOW, "reopened", number=done.number,
                                       group=done.assignment_group.replace("-", " ")))
        done = await asyncio.to_thread(ctx.services.tickets.cancel, ticket.number, ctx.user, text[:500])
        ctx.services.audit.append(ctx.user.id, "ticket.cancelled", thread_id=ctx.thread_id, number=done.number)
        return end_flow(runtime, reply(FLOW, "cancelled", number=done.number))
    except TicketError as exc:
        return end_flow(runtime, exc.user_message)


_COMMENT_LEAD = re.compile(
    r"^\s*(please\s+|can you\s+|could you\s+)?(add (a )?(comment|note|update)|comment|update (my|the) ticket( with)?|"
    r"tell (them|the team)|let them know)( (to|on) (my |the )?(ticket|incident)?)?\s*(that\s+)?[:,-]?\s*",
    re.I,
)


def _someone_elses(ctx: Context, number: str) -> bool:
    """For the audit trail: does the ticket exist for another caller? (Never told to the employee.)"""
    from app.services.tickets import TicketNotFound

    try:
        ctx.services.tickets.get(number, ctx.user)
    except TicketNotFound as exc:
        return exc.denied
    return False


def _comment_text(text: str) -> str:
    """What follows "add a comment to INC…:" (empty when the message is only the request to comment)."""
    rest = kinds.TICKET_NUMBER.sub("", text, count=1)
    rest = _COMMENT_LEAD.sub("", rest, count=1).strip(" :,-.")
    return rest if len(rest.split()) >= 2 else ""


async def _comment(runtime: Runtime[Context], number: str, note: str) -> dict[str, Any]:
    ctx = runtime.context
    try:
        done = await asyncio.to_thread(ctx.services.tickets.comment, number, ctx.user, note)
    except TicketError as exc:
        return end_flow(runtime, exc.user_message)
    ctx.services.audit.append(ctx.user.id, "ticket.commented", thread_id=ctx.thread_id, number=done.number)
    group = done.assignment_group.replace("-", " ")
    return end_flow(runtime, reply(FLOW, "commented", number=done.number, group=group))


async def _status(ctx: Context, number: str) -> str:
    ticket = await asyncio.to_thread(ctx.services.tickets.get, number, ctx.user)
    ctx.services.audit.append(ctx.user.id, "ticket.status_viewed", thread_id=ctx.thread_id, number=ticket.number)
    public = [e for e in ticket.history if e.kind in ("state", "comment", "vendor", "created")]
    last = public[-1] if public else None
    if last is None or last.kind == "created":
        last_text = "opened, not picked up yet"
    elif last.kind == "state":
        last_text = f"moved to {last.to_state.replace('_', ' ')}" + (f" ({last.text})" if last.text else "")
    else:
        last_text = last.text
    vendor_text = ""
    if ticket.vendor_id:
        vendor = ctx.services.catalog.vendors.get(ticket.vendor_id)
        overdue = ""
        if ticket.vendor_due_at and ticket.vendor_due_at < ctx.services.clock() and ticket.is_open:
            overdue = " (overdue: the service desk is chasing them)"
        vendor_text = reply(FLOW, "status_vendor", vendor=vendor.name if vendor else ticket.vendor_id,
                            reference=ticket.vendor_reference, due=_fmt(ticket.vendor_due_at), overdue=overdue)
    return reply(FLOW, "status", number=ticket.number, short=ticket.short_description,
                 state=ticket.state.replace("_", " "), priority=ticket.priority,
                 group=ticket.assignment_group.replace("-", " "), updated=_fmt(ticket.updated_at), last=last_text,
                 vendor=vendor_text)
