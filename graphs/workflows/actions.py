"""Workflow actions: the named steps a definition can use, each a call to a system of record (app/services).

Every action receives the run context and an idempotency key derived from the run and task, and passes the key
to the service, so running it again (a retry, a resume after a crash) never repeats the effect. Actions that
change something are marked ``side_effect``; a definition must give each of them a compensation.
Compensations receive the outputs of the task they undo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from app.services.registry import Services

ACCESS_GROUPS_FILE = Path(__file__).resolve().parent / "access_groups.yaml"


class ActionError(RuntimeError):
    """An action could not do its job (the engine retries, then rolls back)."""


@dataclass(frozen=True)
class ActionCall:
    services: Services
    context: dict[str, Any]  # the run context plus ``outputs`` of completed tasks
    inputs: dict[str, Any]
    key: str  # idempotency key for this task (compensations get their own)
    run: str
    task: str
    actor: str
    outputs: dict[str, Any] = field(default_factory=dict)  # for compensations: what the task produced

    def person(self, role: str) -> dict[str, Any]:
        value = self.context.get(role)
        if not isinstance(value, dict) or not value.get("person_id"):
            raise ActionError(f"the run context has no {role}.person_id")
        return value


@dataclass(frozen=True)
class ActionSpec:
    name: str
    run: Callable[[ActionCall], dict[str, Any]]
    side_effect: bool
    description: str = ""


class ActionRegistry:
    def __init__(self, specs: dict[str, ActionSpec]):
        self.specs = dict(specs)

    def get(self, name: str) -> ActionSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise ActionError(f"unknown action {name!r}") from None

    def wrapped(self, wrap: Callable[[ActionSpec], ActionSpec]) -> ActionRegistry:
        """A copy with every spec wrapped (fault injection, slow steps in tests)."""
        return ActionRegistry({name: wrap(spec) for name, spec in self.specs.items()})


def access_groups(employee: dict[str, Any], path: Path = ACCESS_GROUPS_FILE) -> list[str]:
    """Role-based groups from configuration: everyone's, the department's, the employment type's."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    groups = list(data.get("all") or [])
    groups += (data.get("departments") or {}).get(str(employee.get("department", "")).lower(), [])
    groups += (data.get("types") or {}).get(str(employee.get("type", "")).lower(), [])
    return list(dict.fromkeys(groups))


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _contacts(e: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in (("email", e.get("personal_email")), ("sms", e.get("mobile"))) if v}


# -- onboarding ----------------------------------------------------------------------------------------------
def hr_create_record(c: ActionCall) -> dict:
    e = c.person("employee")
    rec = c.services.hr.create_record(
        person_id=e["person_id"], full_name=e["full_name"], department=e["department"], title=e.get("title", ""),
        manager_id=e.get("manager_id"), employment_type=e.get("type", "employee"), start_date=_day(e["start_date"]),
        location=e.get("location", ""), idempotency_key=c.key)
    return {"status": "ok", "person_id": rec.person_id}


def hr_cancel_record(c: ActionCall) -> dict:
    return {"changed": c.services.hr.cancel_record(c.person("employee")["person_id"], idempotency_key=c.key)}


def directory_create_account(c: ActionCall) -> dict:
    e = c.person("employee")
    result = c.services.directory.create_account(e["person_id"], contacts=_contacts(e), actor="workflow",
                                                 idempotency_key=c.key)
    if result.outcome == "refused":
        raise ActionError(f"directory refused to create {e['person_id']}")
    return {"status": "created" if result.outcome == "done" else "existing", "user_id": e["person_id"]}


def directory_remove_account(c: ActionCall) -> dict:
    created = c.outputs.get("status") == "created"
    if not c.outputs:  # the task failed or was cut off: did its attempt create the account anyway?
        created = c.services.directory.action_outcome(c.key.removesuffix(":undo")) == "done"
    if not created:
        return {"changed": False}  # the account existed before this run: not ours to remove
    result = c.services.directory.remove_account(c.person("employee")["person_id"], actor="workflow",
                                                 idempotency_key=c.key)
    return {"changed": result.outcome == "done"}


def directory_grant_role_groups(c: ActionCall) -> dict:
    e = c.person("employee")
    result = c.services.directory.add_groups(e["person_id"], access_groups(e), actor="workflow", idempotency_key=c.key)
    return {"groups": result.detail.get("groups", [])}


def directory_revoke_role_groups(c: ActionCall) -> dict:
    groups = list(c.outputs.get("groups") or [])
    result = c.services.directory.remove_groups(c.person("employee")["person_id"], groups, actor="workflow",
                                                idempotency_key=c.key)
    return {"groups": result.detail.get("groups", [])}


def mail_create_mailbox(c: ActionCall) -> dict:
    e = c.person("employee")
    address = e.get("email") or f"{e['person_id']}@northwind.example"
    box = c.services.mailboxes.create_mailbox(e["person_id"], address, idempotency_key=c.key)
    return {"address": box.address}


def mail_delete_mailbox(c: ActionCall) -> dict:
    return {"changed": c.services.mailboxes.delete_mailbox(c.person("employee")["person_id"], idempotency_key=c.key)}


def assets_order(c: ActionCall) -> dict:
    e = c.person("employee")
    order = c.services.assets.order_equipment(e["person_id"], e.get("equipment_profile") or "standard",
                                              idempotency_key=c.key)
    return {"order": order.reference}


def assets_cancel_order(c: ActionCall) -> dict:
    target = c.outputs.get("order") or c.person("employee")["person_id"]
    return {"changed": c.services.assets.cancel_order(target, idempotency_key=c.key)}


def facilities_badge_and_desk(c: ActionCall) -> dict:
    e = c.person("employee")
    location = e.get("location") or "London"
    badge = c.services.facilities.issue_badge(e["person_id"], location, idempotency_key=f"{c.key}:badge")
    out = {"badge": badge.number}
    if not e.get("remote") and location.lower() != "remote":
        c.services.facilities.assign_desk(e["person_id"], location, idempotency_key=f"{c.key}:desk")
        out["desk"] = location
    return out


def facilities_undo_badge_and_desk(c: ActionCall) -> dict:
    pid = c.person("employee")["person_id"]
    desk = c.services.facilities.release_desk(pid, idempotency_key=f"{c.key}:desk") if c.outputs.get("desk") else False
    badge = c.services.facilities.deactivate_badge(pid, idempotency_key=f"{c.key}:badge")
    return {"changed": bool(desk or badge)}


def training_enrol(c: ActionCall) -> dict:
    e = c.person("employee")
    courses = ["orientation", "security-awareness", "data-protection"]
    if e.get("type") == "intern":
        courses.append("intern-programme")
    if e.get("manager_of_others"):
        courses.append("people-management")
    c.services.training.enrol(e["person_id"], courses, idempotency_key=c.key)
    return {"courses": courses}


def training_enrol_courses(c: ActionCall) -> dict:
    """Courses named by the task's ``inputs.courses`` (department-specific training)."""
    courses = [str(x) for x in c.inputs.get("courses") or []]
    if not courses:
        raise ActionError(f"task {c.task} has no inputs.courses")
    c.services.training.enrol(c.person("employee")["person_id"], courses, idempotency_key=c.key)
    return {"courses": courses}


def training_withdraw(c: ActionCall) -> dict:
    return {"changed": c.services.training.withdraw(c.person("employee")["person_id"], idempotency_key=c.key)}


def hr_enrol_benefits(c: ActionCall) -> dict:
    plans = ["health", "dental", "pension"]
    c.services.hr.enrol_benefits(c.person("employee")["person_id"], plans, idempotency_key=c.key)
    return {"plans": plans}


def hr_cancel_benefits(c: ActionCall) -> dict:
    return {"changed": c.services.hr.cancel_benefits(c.person("employee")["person_id"], idempotency_key=c.key)}


def _notify(c: ActionCall, role: str, to_user: str | None, kind: str, body: str) -> dict:
    """Notifications go through the outbox (e-mail) to a directory user; the key stops duplicates."""
    if not to_user:
        return {"sent": False}
    already = [m for m in c.services.outbox.messages(to_user, limit=200) if m.kind == kind and c.key in m.body]
    if not already:
        person = c.services.people.get(to_user)
        address = (person.email if person else None) or f"{to_user}@northwind.example"
        c.services.outbox.send(user_id=to_user, channel="email", address=address, kind=kind,
                               body=f"{body} [{c.key}]")
    return {"sent": True, "to": to_user, "kind": kind}


def notify_manager_checklist(c: ActionCall) -> dict:
    e = c.person("employee")
    return _notify(c, "employee", e.get("manager_id"), "manager_checklist",
                   f"{e['full_name']} starts on {e['start_date']}. Your checklist: plan the first week, book a "
                   "welcome lunch, name a buddy, and review their access on day one.")


def notify_welcome(c: ActionCall) -> dict:
    e = c.person("employee")
    mailbox = (c.context.get("outputs", {}).get("create_mailbox") or {}).get("address", "")
    return _notify(c, "employee", e["person_id"], "welcome",
                   f"Welcome to Northwind, {e.get('first_name') or e['full_name']}! You start on {e['start_date']} "
                   f"in {e.get('location') or 'your office'}. Your mailbox is {mailbox or 'being set up'}.")


def notify_retract(c: ActionCall) -> dict:
    """Undo a notification: messages can't be unsent, so the recipient is told it no longer applies."""
    to_user = c.outputs.get("to")
    if not c.outputs.get("sent") or not to_user:
        return {"changed": False}
    return _notify(c, "", to_user, f"{c.outputs.get('kind', 'notice')}_withdrawn",
                   "Please disregard our earlier message: that process has been cancelled.")


# -- offboarding ---------------------------------------------------------------------------------------------
def hr_set_leaving(c: ActionCall) -> dict:
    leaver = c.person("leaver")
    rec = c.services.hr.set_leaving(leaver["person_id"], last_day=_day(leaver["last_day"]),
                                    reason=leaver.get("reason", ""), idempotency_key=c.key)
    return {"status": rec.status}


def hr_undo_leaving(c: ActionCall) -> dict:
    return {"changed": c.services.hr.undo_leaving(c.person("leaver")["person_id"], idempotency_key=c.key)}


def payroll_final_notice(c: ActionCall) -> dict:
    c.services.hr.notify_payroll(c.person("leaver")["person_id"], kind="final_pay", idempotency_key=c.key)
    return {"notified": True}


def payroll_withdraw_notice(c: ActionCall) -> dict:
    pid = c.person("leaver")["person_id"]
    return {"changed": c.services.hr.withdraw_payroll_notice(pid, idempotency_key=c.key, kind="final_pay")}


def notify_exit_interview(c: ActionCall) -> dict:
    leaver = c.person("leaver")
    return _notify(c, "leaver", leaver["person_id"], "exit_interview",
                   f"HR would like to invite you to a 30-minute exit interview before {leaver['last_day']}.")


def assets_request_return(c: ActionCall) -> dict:
    items = c.services.assets.request_return(c.person("leaver")["person_id"], idempotency_key=c.key)
    return {"items": len(items)}


def assets_cancel_return(c: ActionCall) -> dict:
    return {"changed": c.services.assets.cancel_return(c.person("leaver")["person_id"], idempotency_key=c.key)}


def directory_disable(c: ActionCall) -> dict:
    leaver = c.person("leaver")
    result = c.services.directory.disable(leaver["person_id"], actor="workflow", idempotency_key=c.key,
                                          reason=f"left the company ({leaver.get('mode', 'scheduled')})")
    if result.outcome == "refused":
        raise ActionError(f"no directory account for {leaver['person_id']}")
    return {"disabled": result.outcome == "done", "previous": result.detail.get("previous", "active"),
            "previous_reason": result.detail.get("previous_reason")}


def directory_enable(c: ActionCall) -> dict:
    if not c.outputs.get("disabled"):
        return {"changed": False}
    result = c.services.directory.enable(c.person("leaver")["person_id"], actor="workflow", idempotency_key=c.key,
                                         status=c.outputs.get("previous", "active"),
                                         status_reason=c.outputs.get("previous_reason"))
    return {"changed": result.outcome == "done"}


def directory_revoke_groups(c: ActionCall) -> dict:
    pid = c.person("leaver")["person_id"]
    current = c.services.directory.groups(pid)
    result = c.services.directory.remove_groups(pid, current, actor="workflow", idempotency_key=c.key)
    return {"groups": result.detail.get("groups", [])}


def directory_restore_groups(c: ActionCall) -> dict:
    result = c.services.directory.add_groups(c.person("leaver")["person_id"], list(c.outputs.get("groups") or []),
                                             actor="workflow", idempotency_key=c.key)
    return {"groups": result.detail.get("groups", [])}


def mail_transfer(c: ActionCall) -> dict:
    leaver = c.person("leaver")
    manager = leaver.get("manager_id")
    if not manager:
        raise ActionError(f"{leaver['person_id']} has no manager to transfer the mailbox to")
    c.services.mailboxes.transfer(leaver["person_id"], manager, idempotency_key=c.key)
    return {"to": manager}


def mail_undo_transfer(c: ActionCall) -> dict:
    return {"changed": c.services.mailboxes.undo_transfer(c.person("leaver")["person_id"], idempotency_key=c.key)}


def facilities_deactivate_badge(c: ActionCall) -> dict:
    return {"changed": c.services.facilities.deactivate_badge(c.person("leaver")["person_id"],
                                                              idempotency_key=c.key)}


def facilities_reactivate_badge(c: ActionCall) -> dict:
    # Not guarded by the task's "changed" output: after a crash the replayed deactivation reports False
    # although the first attempt did deactivate. Reactivating is idempotent (an active badge stays as it is).
    return {"changed": c.services.facilities.reactivate_badge(c.person("leaver")["person_id"],
                                                              idempotency_key=c.key)}


def default_actions() -> ActionRegistry:
    specs = [
        ("hr.create_record", hr_create_record, True), ("hr.cancel_record", hr_cancel_record, True),
        ("directory.create_account", directory_create_account, True),
        ("directory.remove_account", directory_remove_account, True),
        ("directory.grant_role_groups", directory_grant_role_groups, True),
        ("directory.revoke_role_groups", directory_revoke_role_groups, True),
        ("mail.create_mailbox", mail_create_mailbox, True), ("mail.delete_mailbox", mail_delete_mailbox, True),
        ("assets.order", assets_order, True), ("assets.cancel_order", assets_cancel_order, True),
        ("facilities.badge_and_desk", facilities_badge_and_desk, True),
        ("facilities.undo_badge_and_desk", facilities_undo_badge_and_desk, True),
        ("training.enrol", training_enrol, True), ("training.withdraw", training_withdraw, True),
        ("training.enrol_courses", training_enrol_courses, True),
        ("hr.enrol_benefits", hr_enrol_benefits, True), ("hr.cancel_benefits", hr_cancel_benefits, True),
        ("notify.manager_checklist", notify_manager_checklist, True), ("notify.welcome", notify_welcome, True),
        ("notify.exit_interview", notify_exit_interview, True), ("notify.retract", notify_retract, True),
        ("hr.set_leaving", hr_set_leaving, True), ("hr.undo_leaving", hr_undo_leaving, True),
        ("payroll.final_notice", payroll_final_notice, True),
        ("payroll.withdraw_notice", payroll_withdraw_notice, True),
        ("assets.request_return", assets_request_return, True), ("assets.cancel_return", assets_cancel_return, True),
        ("directory.disable", directory_disable, True), ("directory.enable", directory_enable, True),
        ("directory.revoke_groups", directory_revoke_groups, True),
        ("directory.restore_groups", directory_restore_groups, True),
        ("mail.transfer", mail_transfer, True), ("mail.undo_transfer", mail_undo_transfer, True),
        ("facilities.deactivate_badge", facilities_deactivate_badge, True),
        ("facilities.reactivate_badge", facilities_reactivate_badge, True),
    ]
    return ActionRegistry({name: ActionSpec(name, fn, side, (fn.__doc__ or "").strip()) for name, fn, side in specs})
