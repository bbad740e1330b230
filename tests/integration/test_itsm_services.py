"""ITSM systems of record on real SQLite and PostgreSQL: tickets, directory actions, verification codes,
approvals — numbering, access rules, state changes, idempotency and audit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db.engine import Database
from app.db.schema import utcnow
from app.services.registry import Services
from app.services.seed import seed
from app.services.tickets import NewTicket, TicketNotFound, TicketStateError


@pytest.fixture
def services(backend_settings):
    db = Database.open(backend_settings)
    seed(db)
    yield Services.from_db(db, backend_settings)
    db.close()


def _new(caller: str = "alice", **kw) -> NewTicket:
    base = dict(caller_id=caller, short_description="Outlook crashes on start", description="Since today",
                category="software", subcategory="email", configuration_item="outlook", impact=3, urgency=2,
                assignment_group="applications")
    base.update(kw)
    return NewTicket(**base)


def test_ticket_numbering_priority_and_idempotency(services: Services) -> None:
    t1, created = services.tickets.create(_new(), actor="alice", idempotency_key="k1")
    again, created_again = services.tickets.create(_new(), actor="alice", idempotency_key="k1")
    assert created and not created_again and again.number == t1.number
    assert t1.number.startswith("INC") and len(t1.number) == 10 and t1.number[3:].isdigit()
    assert t1.priority == "P4" and t1.state == "new"
    p1, _ = services.tickets.create(_new(impact=1, urgency=1), actor="alice", idempotency_key="k2")
    assert p1.priority == "P1" and p1.number != t1.number
    # One ticket per key, however often the request was retried.
    assert sum(t.number == t1.number for t in services.tickets.mine(services.people.get("alice"))) == 1


def test_employees_see_only_their_own_tickets_staff_see_their_groups(services: Services) -> None:
    alice, dave, ivan = (services.people.get(u) for u in ("alice", "dave", "ivan"))
    t, _ = services.tickets.create(_new(), actor="alice", idempotency_key="own")
    assert services.tickets.get(t.number, alice).number == t.number
    with pytest.raises(TicketNotFound):
        services.tickets.get(t.number, dave)
    with pytest.raises(TicketNotFound):
        services.tickets.comment(t.number, dave, "let me in")
    assert services.tickets.get(t.number, ivan).number == t.number  # ivan is in the applications group
    assert t.number in {x.number for x in services.tickets.queue(ivan)}
    assert services.tickets.queue(dave) == []
    with pytest.raises(TicketNotFound):
        services.tickets.get("INC9999999", alice)


def test_life_cycle_comment_reopen_cancel_with_history(services: Services) -> None:
    alice, ivan = services.people.get("alice"), services.people.get("ivan")
    t, _ = services.tickets.create(_new(), actor="alice", idempotency_key="lc")
    services.tickets.comment(t.number, alice, "Also happens in safe mode")
    services.tickets.set_state(t.number, ivan, "in_progress", "Looking at it")
    resolved = services.tickets.set_state(t.number, ivan, "resolved", "Profile rebuilt", resolution_code="solved")
    assert resolved.state == "resolved" and resolved.resolution_code == "solved"
    reopened = services.tickets.reopen(t.number, alice, "It crashed again")
    assert reopened.state == "in_progress" and reopened.resolution_code is None
    cancelled = services.tickets.cancel(t.number, alice)
    assert cancelled.state == "cancelled"
    assert services.tickets.cancel(t.number, alice).state == "cancelled"  # idempotent
    with pytest.raises(TicketStateError):
        services.tickets.reopen(t.number, alice, "again")
    history = services.tickets.get(t.number, alice).history
    kinds = [(e.kind, e.to_state) for e in history]
    assert kinds == [
        ("created", "new"), ("comment", None), ("state", "in_progress"), ("state", "resolved"),
        ("state", "in_progress"), ("state", "cancelled"),
    ]


def test_self_solved_ticket_counts_as_deflection(services: Services) -> None:
    t, _ = services.tickets.create(_new(), actor="concierge", idempotency_key="self", resolve_as="self-service",
                                   resolution_notes="KB fix worked")
    assert t.state == "resolved" and t.resolution_code == "self-service"
    assert services.tickets.count(resolution_code="self-service") == 1


def test_vendor_escalation_is_recorded_once(services: Services) -> None:
    t, _ = services.tickets.create(_new(configuration_item="workday"), actor="alice", idempotency_key="v")
    e1 = services.tickets.escalate_to_vendor(t.number, "concierge", vendor_id="workday", sla_hours=8)
    e2 = services.tickets.escalate_to_vendor(t.number, "concierge", vendor_id="workday", sla_hours=8)
    assert e1.vendor_reference == e2.vendor_reference == f"WORKDAY-{t.number}"
    assert e1.state == "on_hold" and e1.vendor_due_at is not None
    assert timedelta(hours=7) < e1.vendor_due_at - e1.created_at < timedelta(hours=9)
    history = services.tickets.get(t.number, services.people.get("alice")).history
    assert sum(e.kind == "vendor" for e in history) == 1


def test_directory_actions_are_idempotent_and_audited(services: Services) -> None:
    d = services.directory
    assert d.account("peter").status == "locked"
    r1 = d.unlock("peter", actor="concierge", idempotency_key="u1")
    r2 = d.unlock("peter", actor="concierge", idempotency_key="u1")
    assert r1.outcome == "done" and r2.replayed and d.account("peter").status == "active"
    pw = d.reset_password("alice", actor="concierge", idempotency_key="p1")
    assert pw.outcome == "done" and pw.secret and len(pw.secret) >= 12
    assert d.reset_password("alice", actor="concierge", idempotency_key="p1").secret is None  # never twice
    assert d.account("alice").must_change_password
    assert d.reset_mfa("alice", actor="concierge", idempotency_key="m1").detail["removed_methods"] == [
        "authenticator_app"
    ]
    d.disable("dave", actor="ivan", idempotency_key="x1", reason="left the company")
    assert d.unlock("dave", actor="concierge", idempotency_key="u2").outcome == "refused"
    types = [e.event_type for e in services.audit.events() if e.event_type.startswith("directory.")]
    assert types == ["directory.unlock", "directory.reset_password", "directory.reset_mfa", "directory.disable",
                     "directory.unlock"]
    assert d.recent_actions("alice", since=utcnow() - timedelta(hours=1)) == 2
    assert "it_agent" not in d.groups("alice") and "service-desk" in d.groups("ivan")


def test_verification_code_single_use_expiry_and_lockout(services: Services) -> None:
    now = [utcnow()]
    services.clock = lambda: now[0]
    v = services.verifier
    sent = v.send("alice", purpose="password_reset", channel="sms", address="+44 7700 900002")
    assert sent.ok and sent.masked_address == "•••• 002"
    code = services.outbox.messages("alice")[0].body.split("code is ")[1][:6]
    assert v.check("alice", code).ok
    assert v.check("alice", code).status == "none"  # single use

    v.send("alice", purpose="password_reset", channel="sms", address="x")
    code = services.outbox.messages("alice")[0].body.split("code is ")[1][:6]
    now[0] += timedelta(minutes=5, seconds=1)
    assert v.check("alice", code).status == "expired"

    v.send("alice", purpose="password_reset", channel="sms", address="x")
    wrong = "000000" if code != "000000" else "111111"
    assert v.check("alice", wrong).attempts_left == 2
    assert v.check("alice", wrong).attempts_left == 1
    locked = v.check("alice", wrong)
    assert locked.status == "locked" and locked.locked_until == now[0] + timedelta(minutes=15)
    assert v.send("alice", purpose="password_reset", channel="sms", address="x").status == "locked"
    now[0] += timedelta(minutes=15, seconds=1)
    assert v.send("alice", purpose="password_reset", channel="sms", address="x").ok
    events = [e.event_type for e in services.audit.events() if e.event_type.startswith("verification.")]
    assert events.count("verification.failed") == 2 and "verification.locked" in events
    assert "verification.expired" in events and "verification.succeeded" in events
    # Codes are never stored in clear.
    from app.db.schema import Verification

    with services.db.session() as s:
        assert all("$" in row.code_hash and code not in row.code_hash for row in s.query(Verification))


def test_code_sends_are_rate_limited(services: Services) -> None:
    v = services.verifier
    results = [v.send("carol", purpose="password_reset", channel="sms", address="x").status for _ in range(6)]
    assert results == ["sent"] * 5 + ["rate_limited"]


def test_approvals_idempotent_and_only_authorised_deciders(services: Services) -> None:
    from app.errors import AccessDenied

    a = services.approvals
    rec, created = a.request(kind="directory.reset_password", requested_by="alice", subject_id="dave",
                             approver_role="it_agent", idempotency_key="ap1", reason="Dave is on holiday")
    again, created_again = a.request(kind="directory.reset_password", requested_by="alice", subject_id="dave",
                                     approver_role="it_agent", idempotency_key="ap1")
    assert created and not created_again and rec.reference == again.reference and rec.state == "pending"
    with pytest.raises(AccessDenied):
        a.decide(rec.reference, services.people.get("bob"), approve=True)
    assert [r.reference for r in a.pending_for(services.people.get("ivan"))] == [rec.reference]
    done = a.decide(rec.reference, services.people.get("ivan"), approve=False, note="call the service desk")
    assert done.state == "rejected" and done.decided_by == "ivan"
    assert a.decide(rec.reference, services.people.get("ivan"), approve=True).state == "rejected"


def test_failed_attempts_add_up_across_new_codes(services: Services) -> None:
    v = services.verifier
    seen = []
    for _ in range(3):  # asking for a new code after each wrong one does not reset the count
        v.send("erin", purpose="reset", channel="sms", address="x")
        code = services.outbox.messages("erin")[0].body.split("code is ")[1][:6]
        result = v.check("erin", "000000" if code != "000000" else "111111")
        seen.append((result.status, result.attempts_left))
    assert seen == [("wrong", 2), ("wrong", 1), ("locked", 0)]
    assert v.send("erin", purpose="reset", channel="sms", address="x").status == "locked"


def test_a_reset_and_its_delivery_are_one_transaction(services: Services) -> None:
    from app.services.accounts import Delivery

    deliver = Delivery("sms", "+44 7700 900004", "temporary_password", "Your temporary password is {secret} .")
    first = services.directory.reset_password("frank", actor="c", idempotency_key="r1", deliver=deliver)
    again = services.directory.reset_password("frank", actor="c", idempotency_key="r1", deliver=deliver)
    sent = [m for m in services.outbox.messages("frank") if m.kind == "temporary_password"]
    assert first.outcome == "done" and again.replayed and len(sent) == 1 and first.secret in sent[0].body
