"""Password-reset agent: a deterministic template flow — no model decides anything here.

Covers forgotten/expired passwords, locked accounts, MFA/authenticator resets and "how do I change my
password". The employee proves who they are with a one-time code sent out-of-band to a contact registered
in the directory; only then does the agent unlock, reset (a temporary password, delivered out-of-band, that
must be changed at next sign-in) or reset MFA (a re-registration link). Passwords never appear in chat.
Another person's account is never changed from this conversation: a staff approval is requested instead.

State (in the supervisor's ``slots``): ``kind`` (reset | unlock | mfa), ``channel`` (sms | email);
``flow_step`` is ``choose_kind``, ``choose_channel`` or ``await_code``.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

from langgraph.runtime import Runtime

from app.identity import User
from app.prompts import reply
from app.services.accounts import Delivery
from app.services.outbox import mask_address
from graphs.agents.knowledge import lookup, source_list
from graphs.context import Context
from graphs.flows import register_claim
from graphs.nodes.replies import end_flow, say
from graphs.state import State, flow_turn

FLOW = "password_reset"
MAX_ACTIONS_PER_TARGET_HOUR = 3

_DISABLED = re.compile(r"\b(disabled|deactivated|suspended|terminated)\b", re.I)
_MFA = re.compile(
    r"\b(mfa|2fa|two[- ]?factor|multi[- ]?factor|authenticator|otp|new (phone|mobile)|(lost|broke|broken|replaced"
    r"|changed) (my )?(phone|mobile)|sign[- ]?in (prompts?|requests?|approvals?)|verification (app|codes?))\b",
    re.I,
)
_UNLOCK = re.compile(r"\b(locked|lock(ed)?[- ]out|unlock|too many (attempts|tries))\b", re.I)
_RESET = re.compile(
    r"\b(forgot|forgotten|forget|can'?t remember|don'?t remember|expired|expiring|reset|new password|"
    r"wrong password|password (doesn'?t|does not|isn'?t|won'?t) work|password not working|can'?t (log|sign) ?in)\b",
    re.I,
)
_CHANGE = re.compile(r"\bchange (my |the |a )?password\b|\bpassword change\b", re.I)
_NEW_CODE = re.compile(
    r"\b((new|another|fresh|different) (code|one)|resend|re-send|send (it |one |a code )?again)\b", re.I
)
_CODE = re.compile(r"(?<!\d)(\d{3})[ -]?(\d{3})(?!\d)")
_SMS = re.compile(r"\b(sms|text|txt|phone|mobile|number)\b", re.I)
_EMAIL = re.compile(r"\b(e-?mail|mail|inbox)\b", re.I)
# In the first message only an explicit "by text"/"via e-mail" picks the channel ("my new phone" does not).
_CHANNEL_ASKED = re.compile(r"\b(by|via|over|to my|per) (sms|text|txt|e-?mail|mail)\b", re.I)
_OTHER = re.compile(
    r"\b(colleague|coworker|co-worker|team ?mate|someone else|somebody else|my (manager|boss|report))\b", re.I
)
KIND_LABELS = {"reset": "Reset my password", "unlock": "Unlock my account", "mfa": "Reset my MFA"}


def detect_kind(text: str) -> str | None:
    """reset | unlock | mfa | change | disabled, or None when the message doesn't say."""
    if _MFA.search(text):
        return "mfa"  # "my MFA is disabled" is about MFA, not a disabled account
    if _DISABLED.search(text):
        return "disabled"
    lowered = text.lower()
    for kind, label in KIND_LABELS.items():
        if label.lower() in lowered:
            return kind
    if re.search(r"\breset\b", text, re.I):
        return "reset"  # "reset my password, I'm locked out": the action asked for wins
    if _CHANGE.search(text) and not _RESET.search(text) and not _UNLOCK.search(text):
        return "change"
    if _UNLOCK.search(text):
        return "unlock"
    if _RESET.search(text):
        return "reset"
    return None


def parse_channel(text: str) -> str | None:
    sms, email = bool(_SMS.search(text)), bool(_EMAIL.search(text))
    return "sms" if sms and not email else "email" if email and not sms else None


def other_person(ctx: Context, text: str) -> User | None:
    """A person from the directory the message is *about* ("Dave's account", "for Alice", "Bob is locked out"),
    other than the speaker. A name merely mentioned ("Frank sent me the link") does not count."""
    lowered = text.lower().replace("’", "'")
    for person in ctx.services.people.all():
        if person.id == ctx.user.id:
            continue
        names = "|".join(re.escape(n) for n in {person.id, person.name.split()[0].lower(), person.name.lower()})
        about = (
            rf"\b({names})'s (work |company |ms |microsoft |email |e-mail )?(account|password|login|sign-?in|mfa|"
            rf"authenticator|laptop|phone|e-?mail|mailbox)\b|\b(for|reset|unlock|lock) ({names})\b|"
            rf"\b({names}) (is|was|has been|got|gets|keeps getting) (locked|hacked|compromised|phished)\b|"
            rf"\b({names}) (can't|cannot|can not) (log|sign)"
        )
        if re.search(about, lowered):
            return person
    return None


def _claims(text: str) -> bool:
    """While the flow waits, a code, "new code", a channel or one of the offered choices is its answer."""
    return bool(_CODE.search(text) or _NEW_CODE.search(text) or parse_channel(text) or detect_kind(text)) and len(
        text.split()
    ) <= 12


register_claim(FLOW, _claims)


def _where(channel: str, address: str) -> str:
    masked = mask_address(channel, address)
    return f"by text to {masked}" if channel == "sms" else f"by e-mail to {masked}"



def _ask(runtime: Runtime[Context], text: str, step: str, slots: dict, **extra: Any) -> dict[str, Any]:
    return say(runtime, text, active_flow=FLOW, slots=slots, pending_slot=step, flow_step=step, **extra)


HANDOFF_ACTION = {"name": "talk_to_person", "label": "Talk to a person"}


async def password_reset_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    ctx = runtime.context
    text, _, slots, step = flow_turn(state, FLOW)

    if step == "await_code":
        if state.get("resumed"):
            return _ask(runtime, reply(FLOW, "code_missing", where=slots.get("where", "")), "await_code", slots)
        return await _on_code(runtime, state, text, slots)
    if step == "choose_channel":
        channel = parse_channel(text)
        if channel is None:
            return await _ask_channel(runtime, slots)
        return await _send_code(runtime, slots, channel)
    if step == "choose_kind":
        kind = detect_kind(text)
        if kind is None:
            return _ask_kind(runtime, slots)
        return await _start(runtime, state, kind, text, slots)

    # A new request.
    named = other_person(ctx, text)
    if named is not None:
        return await _for_someone_else(runtime, state, named, text)
    if _OTHER.search(text) and not re.search(r"\b(my|i|me)\b.*\b(my|i|me)\b", text.lower()):
        return end_flow(runtime, reply(FLOW, "other_person_unnamed"))
    kind = detect_kind(text)
    if kind is None:
        return _ask_kind(runtime, {})
    return await _start(runtime, state, kind, text, {})


def _ask_kind(runtime: Runtime[Context], slots: dict) -> dict[str, Any]:
    actions = [{"name": "choose", "label": label, "payload": {"kind": k}} for k, label in KIND_LABELS.items()]
    return _ask(runtime, reply(FLOW, "ask_kind"), "choose_kind", slots, actions=actions)


async def _start(runtime: Runtime[Context], state: State, kind: str, text: str, slots: dict) -> dict[str, Any]:
    ctx = runtime.context
    audit = ctx.services.audit
    if kind == "change":
        found = await lookup(ctx, "how do I change my password before it expires")
        if found is None:
            return end_flow(runtime, reply(FLOW, "ask_kind"))
        return end_flow(runtime, reply(FLOW, "change_howto") + " " + found.quoted(), sources=source_list(found.sources))

    account = await asyncio.to_thread(ctx.services.directory.account, ctx.user.id)
    if account is None:
        return end_flow(runtime, reply(FLOW, "no_contact"), actions=[HANDOFF_ACTION])
    if kind == "disabled" or account.status == "disabled":
        audit.append(ctx.user.id, "password.refused", thread_id=ctx.thread_id, reason="disabled")
        why = f" ({account.status_reason})" if account.status == "disabled" and account.status_reason else ""
        if account.status != "disabled":
            # They think it is disabled; it isn't. Treat it as a sign-in problem.
            kind = "unlock" if account.status == "locked" else "reset"
        else:
            return end_flow(runtime, reply(FLOW, "disabled", reason=why), actions=[HANDOFF_ACTION])
    if kind == "unlock" and account.status != "locked":
        return end_flow(runtime, reply(FLOW, "not_locked"), actions=[
            {"name": "choose", "label": KIND_LABELS["reset"], "payload": {"kind": "reset"}}])

    since = ctx.services.clock() - timedelta(hours=1)
    if await asyncio.to_thread(ctx.services.directory.recent_actions, ctx.user.id, since=since) >= \
            MAX_ACTIONS_PER_TARGET_HOUR:
        audit.append(ctx.user.id, "password.rate_limited", thread_id=ctx.thread_id, scope="target")
        return end_flow(runtime, reply(FLOW, "rate_limited_target"), actions=[HANDOFF_ACTION])

    locked = await asyncio.to_thread(ctx.services.verifier.locked_until, ctx.user.id)
    if locked:
        return end_flow(runtime, reply(FLOW, "locked", until=locked.strftime("%H:%M")), actions=[HANDOFF_ACTION])

    slots = {**slots, "kind": kind}
    audit.append(ctx.user.id, "password.requested", thread_id=ctx.thread_id, kind=kind)
    contacts = account.contacts
    if not contacts:
        return end_flow(runtime, reply(FLOW, "no_contact"), actions=[HANDOFF_ACTION])
    channel = parse_channel(text) if _CHANNEL_ASKED.search(text) else None
    if channel in contacts:
        return await _send_code(runtime, slots, channel)
    if len(contacts) == 1:
        return await _send_code(runtime, slots, next(iter(contacts)))
    return await _ask_channel(runtime, slots)


async def _ask_channel(runtime: Runtime[Context], slots: dict) -> dict[str, Any]:
    ctx = runtime.context
    account = await asyncio.to_thread(ctx.services.directory.account, ctx.user.id)
    contacts = account.contacts if account else {}
    text = reply(FLOW, "ask_channel", sms=mask_address("sms", contacts.get("sms", "")),
                 email=mask_address("email", contacts.get("email", "")))
    actions = [
        {"name": "choose", "label": "Text message", "payload": {"channel": "sms"}},
        {"name": "choose", "label": "E-mail", "payload": {"channel": "email"}},
    ]
    return _ask(runtime, text, "choose_channel", slots, actions=actions)


async def _send_code(runtime: Runtime[Context], slots: dict, channel: str) -> dict[str, Any]:
    ctx = runtime.context
    account = await asyncio.to_thread(ctx.services.directory.account, ctx.user.id)
    address = (account.contacts if account else {}).get(channel)
    if not address:
        return await _ask_channel(runtime, slots)
    sent = await asyncio.to_thread(
        lambda: ctx.services.verifier.send(
            ctx.user.id, purpose=slots.get("kind", "reset"), channel=channel, address=address,
            thread_id=ctx.thread_id,
        )
    )
    if sent.status == "locked":
        return end_flow(runtime, reply(FLOW, "locked", until=sent.locked_until.strftime("%H:%M")),
                    actions=[HANDOFF_ACTION])
    if sent.status == "rate_limited":
        return end_flow(runtime, reply(FLOW, "rate_limited_codes"), actions=[HANDOFF_ACTION])
    where = _where(channel, address)
    slots = {**slots, "channel": channel, "where": where}
    return _ask(runtime, reply(FLOW, "code_sent", where=where), "await_code", slots,
                actions=[{"name": "choose", "label": "Send a new code", "payload": {}}])


async def _on_code(runtime: Runtime[Context], state: State, text: str, slots: dict) -> dict[str, Any]:
    ctx = runtime.context
    channel = parse_channel(text)
    if not _CODE.search(text) and (_NEW_CODE.search(text) or (channel and channel != slots.get("channel"))):
        return await _send_code(runtime, slots, channel or slots.get("channel", "sms"))
    match = _CODE.search(text)
    if match is None:
        return _ask(runtime, reply(FLOW, "code_missing", where=slots.get("where", "")), "await_code", slots)
    checked = await asyncio.to_thread(ctx.services.verifier.check, ctx.user.id, "".join(match.groups()),
                                      thread_id=ctx.thread_id)
    if checked.status == "wrong":
        left = checked.attempts_left
        return _ask(runtime, reply(FLOW, "code_wrong", left=left, attempts="attempt" if left == 1 else "attempts"),
                    "await_code", slots)
    if checked.status == "locked":
        return end_flow(runtime, reply(FLOW, "locked", until=checked.locked_until.strftime("%H:%M")),
                    actions=[HANDOFF_ACTION])
    if checked.status in ("expired", "none"):
        key = "code_expired" if checked.status == "expired" else "code_none"
        return _ask(runtime, reply(FLOW, key), "await_code", slots,
                    actions=[{"name": "choose", "label": "Send a new code", "payload": {}}])
    return await _perform(runtime, state, slots)


async def _perform(runtime: Runtime[Context], state: State, slots: dict) -> dict[str, Any]:
    """Identity verified: act on the employee's own account, deliver anything secret out-of-band."""
    ctx = runtime.context
    directory = ctx.services.directory
    kind, channel = slots.get("kind", "reset"), slots.get("channel", "sms")
    key = f"{ctx.thread_id}:{state.get('turn_count', 0)}:{kind}"
    account = await asyncio.to_thread(directory.account, ctx.user.id)
    address = (account.contacts if account else {}).get(channel, "")
    where = _where(channel, address)
    if kind == "unlock":
        result = await asyncio.to_thread(lambda: directory.unlock(ctx.user.id, actor="concierge",
                                                                  idempotency_key=key, reason="verified in chat"))
        text = reply(FLOW, "done_unlock" if result.outcome == "done" else "not_locked")
    elif kind == "mfa":
        # The link goes to the outbox in the same transaction as the reset: never one without the other.
        delivery = Delivery(channel, address, "mfa_registration", "Register your new MFA method within 24 hours: "
                            "{secret}")
        result = await asyncio.to_thread(lambda: directory.reset_mfa(ctx.user.id, actor="concierge",
                                                                     idempotency_key=key, deliver=delivery))
        text = reply(FLOW, "done_mfa", where=where)
    else:
        delivery = Delivery(channel, address, "temporary_password",
                            "Your temporary Northwind password is {secret} . You must change it when you sign in.")
        result = await asyncio.to_thread(lambda: directory.reset_password(ctx.user.id, actor="concierge",
                                                                          idempotency_key=key, deliver=delivery))
        text = reply(FLOW, "done_reset", where=where)
    if result.outcome == "refused":
        return end_flow(runtime, reply(FLOW, "disabled", reason=""), actions=[HANDOFF_ACTION])
    ctx.services.audit.append(ctx.user.id, f"password.{kind}_done", thread_id=ctx.thread_id, outcome=result.outcome,
                              channel=channel)
    return end_flow(runtime, text)


async def _for_someone_else(runtime: Runtime[Context], state: State, person: User, text: str) -> dict[str, Any]:
    """Never act on another person's account: record a pending approval for the IT service desk."""
    ctx = runtime.context
    kind = detect_kind(text)
    kind = kind if kind in ("reset", "unlock", "mfa") else "reset"
    record, created = await asyncio.to_thread(lambda: ctx.services.approvals.request(
        kind=f"directory.{kind}", requested_by=ctx.user.id, subject_id=person.id, approver_role="it_agent",
        idempotency_key=f"{ctx.thread_id}:{state.get('turn_count', 0)}:approval", payload={"action": kind},
        reason=text,
    ))
    if created:
        ctx.services.audit.append(ctx.user.id, "approval.requested", thread_id=ctx.thread_id,
                                  reference=record.reference, kind=record.kind, subject=person.id)
    return end_flow(runtime, reply(FLOW, "other_person", reference=record.reference, name=person.name.split()[0]))
