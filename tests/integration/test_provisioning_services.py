"""Provisioning systems of record on real SQLite and PostgreSQL: HR records, benefits and payroll, equipment,
badges and desks, training, mailboxes — idempotent writes, idempotent compensations, and no leftovers after a
rollback."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

import pytest

from app.db.engine import Database
from app.db.schema import ProvisioningAction, utcnow
from app.services.assets import PROFILES, SqlAssets
from app.services.facilities import SqlFacilities
from app.services.hr_records import (
    IdempotencyKeyReused,
    ProvisioningNotFound,
    ProvisioningStateError,
    SqlHrRecords,
)
from app.services.mailboxes import SqlMailboxes
from app.services.training import SqlTraining


@dataclass
class Provisioning:
    db: Database
    hr: SqlHrRecords
    assets: SqlAssets
    facilities: SqlFacilities
    training: SqlTraining
    mailboxes: SqlMailboxes
    now: list[datetime]

    @property
    def all(self):
        return (self.hr, self.assets, self.facilities, self.training, self.mailboxes)


@pytest.fixture
def services(backend_settings):
    db = Database.open(backend_settings)
    now = [utcnow()]
    yield Provisioning(db, SqlHrRecords(db, clock=lambda: now[0]), SqlAssets(db), SqlFacilities(db), SqlTraining(db),
                       SqlMailboxes(db), now)
    db.close()


TODAY = utcnow().date()


def _without_times(records: list) -> list[dict]:
    """Records as plain values, minus timestamps (an undo legitimately moves ``updated_at``)."""
    return [{"type": type(r).__name__} | {k: v for k, v in asdict(r).items() if not isinstance(v, datetime)}
            for r in records]


def _joiner(p: Provisioning, person_id: str = "nina", *, key: str = "hr-1", start: date | None = None, **kw):
    base = dict(person_id=person_id, full_name="Nina Österberg", department="Engineering", title="Developer",
                manager_id="bob", employment_type="employee", start_date=start or TODAY + timedelta(days=14),
                location="London", idempotency_key=key)
    base.update(kw)
    return p.hr.create_record(**base)


def test_hr_record_create_is_idempotent_and_cancel_compensates_once(services: Provisioning) -> None:
    hr = services.hr
    first = _joiner(services)
    again = _joiner(services, full_name="Someone Else")  # a retry: the first record, nothing changed
    assert first == again and first.status == "pending_start" and first.manager_id == "bob"
    assert len(hr.live_records("nina")) == 1
    with pytest.raises(ProvisioningStateError):  # a second live record for the same person
        _joiner(services, key="hr-2")
    with pytest.raises(IdempotencyKeyReused):  # same key, other person: a caller bug, not a retry
        _joiner(services, "otto")

    assert hr.cancel_record("nina", idempotency_key="undo-1") is True
    assert hr.cancel_record("nina", idempotency_key="undo-1") is False  # retried compensation
    assert hr.cancel_record("nina", idempotency_key="undo-2") is False  # nothing left to undo
    assert hr.get("nina").status == "cancelled"
    assert hr.live_records("nina") == []
    # A retried create after the rollback still changes nothing; a new run (new key) may create again.
    assert _joiner(services).status == "cancelled" and hr.live_records("nina") == []
    assert _joiner(services, key="hr-3").status == "pending_start"
    assert [r.status for r in hr.live_records("nina")] == ["pending_start"]


def test_hr_status_follows_start_date_and_last_day(services: Provisioning) -> None:
    hr, now = services.hr, services.now
    start = TODAY + timedelta(days=3)
    assert _joiner(services, start=start).status == "pending_start"
    with pytest.raises(ProvisioningStateError):  # not started: cancel, don't offboard
        hr.set_leaving("nina", last_day=start + timedelta(days=30), reason="x", idempotency_key="leave-0")
    now[0] += timedelta(days=3)
    assert hr.get("nina").status == "active"
    last = start + timedelta(days=30)
    leaving = hr.set_leaving("nina", last_day=last, reason="Resigned, call me on 07700 900123",
                             idempotency_key="leave-1")
    assert leaving.status == "leaving" and leaving.last_day == last
    assert "07700" not in leaving.leaving_reason and "[PHONE]" in leaving.leaving_reason  # free text redacted
    now[0] += timedelta(days=31)
    assert hr.get("nina").status == "left"
    with pytest.raises(ProvisioningStateError):
        hr.cancel_record("nina", idempotency_key="cancel-left")
    # A former employee may be re-hired under a new record.
    assert _joiner(services, key="rehire", start=now[0].date() + timedelta(days=7)).status == "pending_start"


def test_leaving_is_idempotent_and_undo_is_not_redone_by_a_late_retry(services: Provisioning) -> None:
    hr = services.hr
    with pytest.raises(ProvisioningNotFound):
        hr.set_leaving("nobody", last_day=TODAY, reason="", idempotency_key="l0")
    _joiner(services, start=TODAY - timedelta(days=365))
    last = TODAY + timedelta(days=20)
    r1 = hr.set_leaving("nina", last_day=last, reason="Moving abroad", idempotency_key="leave")
    r2 = hr.set_leaving("nina", last_day=last + timedelta(days=5), reason="changed", idempotency_key="leave")
    assert r1 == r2 and r1.status == "leaving" and r1.last_day == last  # the retry changed nothing

    assert hr.undo_leaving("nina", idempotency_key="undo-leave") is True
    assert hr.undo_leaving("nina", idempotency_key="undo-leave") is False
    restored = hr.get("nina")
    assert restored.status == "active" and restored.last_day is None and restored.leaving_reason is None
    # The forward call's retry arrives late (after the rollback): it must not set the leaving date again.
    assert hr.set_leaving("nina", last_day=last, reason="Moving abroad", idempotency_key="leave").status == "active"
    assert hr.get("nina").status == "active"
    with pytest.raises(IdempotencyKeyReused):  # a key belongs to one action
        hr.cancel_record("nina", idempotency_key="leave")


def test_find_by_name_is_case_insensitive_and_skips_cancelled(services: Provisioning) -> None:
    hr = services.hr
    _joiner(services, "nina", key="a", full_name="Nina  Österberg")
    _joiner(services, "nils", key="b", full_name="Nils Berg")
    _joiner(services, "olga", key="c", full_name="Olga Bergström")
    assert [r.person_id for r in hr.find("BERG")] == ["nils", "nina", "olga"]  # ordered by full name
    assert [r.full_name for r in hr.find("österberg")] == ["Nina Österberg"]  # whitespace normalised
    assert [r.person_id for r in hr.find("ÖSTERBERG")] == ["nina"]
    assert [r.person_id for r in hr.find("berg nils")] == ["nils"]  # every word, any order
    assert hr.find("zed") == [] and hr.find("   ") == []
    assert hr.find("50%") == []  # LIKE wildcards are literal
    hr.cancel_record("olga", idempotency_key="x")
    assert [r.person_id for r in hr.find("berg")] == ["nils", "nina"]


def test_benefits_and_payroll_notices_with_compensation(services: Provisioning) -> None:
    hr = services.hr
    with pytest.raises(ProvisioningNotFound):
        hr.enrol_benefits("nina", ["pension"], idempotency_key="b0")
    start = TODAY + timedelta(days=10)
    _joiner(services, start=start)
    b1 = hr.enrol_benefits("nina", ["pension", " health ", "pension"], idempotency_key="ben")
    assert b1.plans == ("pension", "health") and b1.status == "enrolled" and b1.reference.startswith("BEN")
    assert hr.enrol_benefits("nina", ["dental"], idempotency_key="ben") == b1
    with pytest.raises(ProvisioningStateError):
        hr.enrol_benefits("nina", ["dental"], idempotency_key="ben-2")
    n1 = hr.notify_payroll("nina", kind="new_starter", idempotency_key="pay")
    assert hr.notify_payroll("nina", kind="new_starter", idempotency_key="pay") == n1
    assert n1.effective_date == start and n1.status == "sent"
    with pytest.raises(ProvisioningStateError):  # no last day yet
        hr.notify_payroll("nina", kind="final_pay", idempotency_key="final")
    assert len(hr.payroll_notices_of("nina")) == 1

    assert hr.cancel_benefits("nina", idempotency_key="ub") is True
    assert hr.cancel_benefits("nina", idempotency_key="ub") is False
    assert hr.withdraw_payroll_notice("nina", kind="new_starter", idempotency_key="up") is True
    assert hr.withdraw_payroll_notice("nina", kind="new_starter", idempotency_key="up") is False
    assert [b.status for b in hr.benefits_of("nina")] == ["cancelled"]
    assert [n.status for n in hr.payroll_notices_of("nina")] == ["withdrawn"]
    assert [type(r).__name__ for r in hr.live_records("nina")] == ["HrRecord"]


def test_equipment_profiles_orders_and_cancellation(services: Provisioning) -> None:
    a = services.assets
    assert set(PROFILES) == {"standard", "developer", "finance", "remote"}
    assert sorted(PROFILES["developer"]) == sorted(["laptop-16in", "monitor", "monitor", "dock", "headset"])
    with pytest.raises(ValueError):
        a.order_equipment("nina", "gaming", idempotency_key="bad")
    order = a.order_equipment("nina", "developer", idempotency_key="eq")
    assert a.order_equipment("nina", "finance", idempotency_key="eq") == order  # retry: same order, no new kit
    assert order.reference.startswith("ORD") and order.items == PROFILES["developer"]
    kit = a.assets_of("nina")
    assert sorted(x.item for x in kit) == sorted(PROFILES["developer"]) and len(kit) == 5
    assert {x.status for x in kit} == {"assigned"} and {x.order_reference for x in kit} == {order.reference}

    # Cancel by order reference …
    assert a.cancel_order(order.reference, idempotency_key="c1") is True
    assert a.cancel_order(order.reference, idempotency_key="c1") is False
    assert a.assets_of("nina") == [] and a.live_records("nina") == []
    assert [o.status for o in a.orders_of("nina")] == ["cancelled"]
    # … or by person.
    a.order_equipment("nina", "remote", idempotency_key="eq-2")
    assert len(a.assets_of("nina")) == len(PROFILES["remote"])
    assert a.cancel_order("nina", idempotency_key="c2") is True
    assert a.cancel_order("nina", idempotency_key="c2") is False
    assert a.cancel_order("nina", idempotency_key="c3") is False
    assert a.live_records("nina") == []


def test_return_request_and_its_undo(services: Provisioning) -> None:
    a = services.assets
    a.order_equipment("lars", "standard", idempotency_key="eq")
    asked = a.request_return("lars", idempotency_key="ret")
    assert len(asked) == 4 and {x.status for x in asked} == {"return_requested"}
    assert a.request_return("lars", idempotency_key="ret") == asked  # a retry returns the same assets
    assert a.cancel_return("lars", idempotency_key="unret") is True
    assert a.cancel_return("lars", idempotency_key="unret") is False
    assert {x.status for x in a.assets_of("lars")} == {"assigned"}
    # The late retry of the forward call does not ask for the kit again.
    assert {x.status for x in a.request_return("lars", idempotency_key="ret")} == {"assigned"}
    assert {x.status for x in a.assets_of("lars")} == {"assigned"}
    assert a.request_return("nobody", idempotency_key="ret-none") == []


def test_badges_and_desks(services: Provisioning) -> None:
    f = services.facilities
    assert f.badge_of("nina") is None
    badge = f.issue_badge("nina", " London  HQ ", idempotency_key="bdg")
    assert f.issue_badge("nina", "Paris", idempotency_key="bdg") == badge
    assert badge.status == "active" and badge.location == "London HQ" and badge.number.startswith("BDG")
    with pytest.raises(ProvisioningStateError):
        f.issue_badge("nina", "Paris", idempotency_key="bdg-2")
    desk = f.assign_desk("nina", "London HQ", idempotency_key="desk")
    assert f.assign_desk("nina", "London HQ", idempotency_key="desk") == desk and desk.status == "assigned"
    assert f.desk_of("nina") == desk
    assert len(f.live_records("nina")) == 2

    assert f.deactivate_badge("nina", idempotency_key="off") is True
    assert f.deactivate_badge("nina", idempotency_key="off") is False
    assert f.badge_of("nina").status == "deactivated"
    assert f.reactivate_badge("nina", idempotency_key="on") is True
    assert f.reactivate_badge("nina", idempotency_key="on") is False
    assert f.reactivate_badge("nina", idempotency_key="on-2") is False  # already active
    assert f.badge_of("nina").status == "active"
    assert f.release_desk("nina", idempotency_key="rel") is True
    assert f.release_desk("nina", idempotency_key="rel") is False
    assert f.desk_of("nina") is None
    assert [type(r).__name__ for r in f.live_records("nina")] == ["Badge"]


def test_training_enrolment_and_withdrawal(services: Provisioning) -> None:
    t = services.training
    e1 = t.enrol("nina", ["induction", "security-awareness"], idempotency_key="trn")
    assert t.enrol("nina", ["other"], idempotency_key="trn") == e1
    assert e1.courses == ("induction", "security-awareness") and e1.reference.startswith("TRN")
    t.enrol("nina", ["git-basics"], idempotency_key="trn-2")
    with pytest.raises(ValueError):
        t.enrol("nina", [], idempotency_key="trn-3")
    assert len(t.live_records("nina")) == 2
    assert t.withdraw("nina", idempotency_key="w") is True
    assert t.withdraw("nina", idempotency_key="w") is False
    assert t.live_records("nina") == []
    assert [e.status for e in t.enrolments_of("nina")] == ["withdrawn", "withdrawn"]


def test_mailbox_create_delete_transfer_and_undo(services: Provisioning) -> None:
    m = services.mailboxes
    mb = m.create_mailbox("nina", "Nina.Osterberg@Example.com", idempotency_key="mb")
    assert m.create_mailbox("nina", "other@example.com", idempotency_key="mb") == mb
    assert mb.address == "nina.osterberg@example.com" and mb.status == "active"
    with pytest.raises(ProvisioningStateError):
        m.create_mailbox("nils", "nina.osterberg@example.com", idempotency_key="mb-nils")
    with pytest.raises(ValueError):
        m.create_mailbox("nils", "not-an-address", idempotency_key="mb-bad")

    tr = m.transfer("nina", "bob", idempotency_key="tr")
    assert m.transfer("nina", "carol", idempotency_key="tr") == tr
    assert tr.to_user_id == "bob" and tr.scope == ("mailbox", "files") and tr.status == "active"
    assert m.mailbox_of("nina").delegated_to == "bob"
    with pytest.raises(ProvisioningStateError):
        m.transfer("nina", "carol", idempotency_key="tr-2")
    assert m.undo_transfer("nina", idempotency_key="untr") is True
    assert m.undo_transfer("nina", idempotency_key="untr") is False
    assert m.mailbox_of("nina").delegated_to is None
    assert [type(r).__name__ for r in m.live_records("nina")] == ["Mailbox"]

    assert m.delete_mailbox("nina", idempotency_key="del") is True
    assert m.delete_mailbox("nina", idempotency_key="del") is False
    assert m.mailbox_of("nina").status == "deleted" and m.live_records("nina") == []
    # The address is free again once the mailbox is deleted.
    assert m.create_mailbox("nils", "nina.osterberg@example.com", idempotency_key="mb-nils").person_id == "nils"


def test_onboarding_rollback_leaves_nothing_behind(services: Provisioning) -> None:
    p = services
    _joiner(p, key="run1:hr")
    p.hr.enrol_benefits("nina", ["pension"], idempotency_key="run1:benefits")
    p.hr.notify_payroll("nina", kind="new_starter", idempotency_key="run1:payroll")
    p.assets.order_equipment("nina", "developer", idempotency_key="run1:assets")
    p.facilities.issue_badge("nina", "London", idempotency_key="run1:badge")
    p.facilities.assign_desk("nina", "London", idempotency_key="run1:desk")
    p.training.enrol("nina", ["induction"], idempotency_key="run1:training")
    p.mailboxes.create_mailbox("nina", "nina@example.com", idempotency_key="run1:mailbox")
    assert all(svc.live_records("nina") for svc in p.all)

    def rollback() -> list[bool]:  # in reverse order, each compensation keyed by the run
        return [
            p.mailboxes.delete_mailbox("nina", idempotency_key="run1:undo:mailbox"),
            p.training.withdraw("nina", idempotency_key="run1:undo:training"),
            p.facilities.release_desk("nina", idempotency_key="run1:undo:desk"),
            p.facilities.deactivate_badge("nina", idempotency_key="run1:undo:badge"),
            p.assets.cancel_order("nina", idempotency_key="run1:undo:assets"),
            p.hr.withdraw_payroll_notice("nina", idempotency_key="run1:undo:payroll"),
            p.hr.cancel_benefits("nina", idempotency_key="run1:undo:benefits"),
            p.hr.cancel_record("nina", idempotency_key="run1:undo:hr"),
        ]

    assert rollback() == [True] * 8
    assert rollback() == [False] * 8  # the whole rollback retried: nothing changes
    for svc in p.all:
        assert svc.live_records("nina") == [], type(svc).__name__
    # Every compensation left exactly one ledger entry.
    with p.db.session() as s:
        undo_keys = [a.idempotency_key for a in s.query(ProvisioningAction) if ":undo:" in a.idempotency_key]
    assert len(undo_keys) == len(set(undo_keys)) == 8


def test_offboarding_rollback_restores_the_employee(services: Provisioning) -> None:
    p = services
    _joiner(p, start=TODAY - timedelta(days=400))
    p.assets.order_equipment("nina", "standard", idempotency_key="eq")
    p.facilities.issue_badge("nina", "London", idempotency_key="badge")
    p.mailboxes.create_mailbox("nina", "nina@example.com", idempotency_key="mb")
    before = {type(svc).__name__: _without_times(svc.live_records("nina")) for svc in p.all}

    last = TODAY + timedelta(days=14)
    p.hr.set_leaving("nina", last_day=last, reason="Resigned", idempotency_key="off:hr")
    final = p.hr.notify_payroll("nina", kind="final_pay", idempotency_key="off:payroll")
    assert final.effective_date == last
    p.assets.request_return("nina", idempotency_key="off:assets")
    p.facilities.deactivate_badge("nina", idempotency_key="off:badge")
    p.mailboxes.transfer("nina", "bob", idempotency_key="off:mailbox")

    undo = [
        p.mailboxes.undo_transfer("nina", idempotency_key="off:undo:mailbox"),
        p.facilities.reactivate_badge("nina", idempotency_key="off:undo:badge"),
        p.assets.cancel_return("nina", idempotency_key="off:undo:assets"),
        p.hr.withdraw_payroll_notice("nina", idempotency_key="off:undo:payroll"),
        p.hr.undo_leaving("nina", idempotency_key="off:undo:hr"),
    ]
    assert undo == [True] * 5
    after = {type(svc).__name__: _without_times(svc.live_records("nina")) for svc in p.all}
    assert after == before  # exactly what was in force before the offboarding
    assert p.hr.get("nina").status == "active" and p.facilities.badge_of("nina").status == "active"
