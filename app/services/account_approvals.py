"""Deciding an approval for an action on someone's account — and carrying it out once approved.

The agents never act on another person's account: they record a pending approval (``directory.reset``,
``directory.unlock``, ``directory.mfa``, ``directory.lock``). An authorised member of staff decides it here
(from the CLI or the staff desk); approval performs the action as that person, audited, and delivers any
temporary password or link out-of-band to the account owner's registered contact — never to the requester.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.identity import User
from app.services.accounts import Delivery
from app.services.approvals import ApprovalRecord
from app.services.registry import Services


@dataclass(frozen=True)
class Decision:
    approval: ApprovalRecord
    outcome: str | None = None  # the directory action's outcome when approved


def decide(services: Services, reference: str, decider: User, *, approve: bool, note: str = "") -> Decision:
    record = services.approvals.decide(reference, decider, approve=approve, note=note)
    services.audit.append(decider.id, "approval.decided", reference=record.reference, kind=record.kind,
                          state=record.state, subject=record.subject_id)
    if record.state != "approved" or not record.kind.startswith("directory.") or not record.subject_id:
        return Decision(record)
    action = record.kind.removeprefix("directory.")
    if action not in ("unlock", "lock", "mfa", "reset"):
        raise ValueError(f"{record.reference}: no account action for kind {record.kind!r}")
    key = f"approval:{record.reference}"
    directory, target = services.directory, record.subject_id
    if action == "unlock":
        result = directory.unlock(target, actor=decider.id, idempotency_key=key, reason=f"approved {reference}")
    elif action == "lock":
        result = directory.lock(target, actor=decider.id, idempotency_key=key, reason=f"approved {reference}")
    elif _delivery(services, target, "", "") is None:
        # Nowhere to send a temporary password or link: resetting would lock the owner out. Staff act by hand.
        services.audit.append(decider.id, "approval.not_carried_out", reference=record.reference, why="no contact")
        return Decision(record, "no_contact")
    elif action == "mfa":
        result = directory.reset_mfa(target, actor=decider.id, idempotency_key=key,
                                     deliver=_delivery(services, target, "mfa_registration",
                                                       "Register your new MFA method within 24 hours: {secret}"))
    else:
        result = directory.reset_password(target, actor=decider.id, idempotency_key=key, deliver=_delivery(
            services, target, "temporary_password",
            "Your temporary Northwind password is {secret} . You must change it when you sign in."))
    return Decision(record, result.outcome)


def _delivery(services: Services, user_id: str, kind: str, body: str) -> Delivery | None:
    """The account owner's registered contact (text first); None if they have none (then nothing is reset)."""
    account = services.directory.account(user_id)
    contacts = account.contacts if account else {}
    channel = "sms" if "sms" in contacts else "email"
    return Delivery(channel, contacts[channel], kind, body) if contacts.get(channel) else None
