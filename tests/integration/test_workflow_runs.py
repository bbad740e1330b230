"""Onboarding and offboarding on the real services: fault injection at every side-effecting step, a
withdrawn resignation, and a process killed (SIGKILL) mid-run that resumes with every action done once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import func, select

from app.db.engine import Database
from app.db.schema import DirectoryAction, OutboxMessage, WorkflowRun, WorkflowTask
from app.services.registry import Services
from app.settings import load_settings
from graphs.workflows.actions import ActionError, default_actions
from graphs.workflows.definition import load_all
from graphs.workflows.runtime import build_engine
from tests.conftest import REPO

MARIA = {"employee": {
    "person_id": "maria.lopez", "full_name": "Maria Lopez", "first_name": "Maria", "department": "finance",
    "title": "Accountant", "manager_id": "frank", "type": "employee", "start_date": "2031-03-03",
    "location": "Manchester", "remote": False, "equipment_profile": "finance", "personal_email": "m@example.net",
}}
ONBOARDING = load_all(actions=default_actions().specs)["onboarding"]
SIDE_EFFECTING = [t.id for t in ONBOARDING.tasks.values() if t.compensation]


@pytest.fixture
def services(db, settings) -> Services:
    return Services.from_db(db, settings)


def leftovers(services: Services, person: str) -> dict:
    return {
        "hr": services.hr.live_records(person), "assets": services.assets.live_records(person),
        "facilities": services.facilities.live_records(person), "training": services.training.live_records(person),
        "mailboxes": services.mailboxes.live_records(person), "account": services.directory.account(person),
        "groups": services.directory.groups(person),
    }


@pytest.mark.parametrize("failing", SIDE_EFFECTING)
def test_fault_injection_rolls_back_everything(services, failing) -> None:
    def breaker(spec):
        def run(call):
            if call.task == failing and spec.name == ONBOARDING.tasks[failing].action:
                raise ActionError(f"injected failure in {call.task}")
            return spec.run(call)

        return replace(spec, run=run)

    engine = build_engine(services, actions=default_actions().wrapped(breaker))
    engine.sleep = lambda s: None
    # Each step must be on the joiner's path: department-specific steps get a joiner from that department.
    department = "engineering" if failing == "engineering_training" else "finance"
    ctx = {"employee": {**MARIA["employee"], "department": department}}
    run = engine.start("onboarding", ctx, started_by="hannah", subject="Maria Lopez", idempotency_key="f")
    assert run.state == "rolled_back", run.report
    assert run.task(failing).state == "failed" and run.report["not_undone"] == []
    assert all(t.state in ("compensated", "skipped", "failed") for t in run.tasks)
    done_before = [t for t in run.tasks if t.state == "compensated"]
    assert len(run.report["undone"]) == len(done_before)
    assert not any(leftovers(services, "maria.lopez").values()), leftovers(services, "maria.lopez")


def test_contractors_get_no_benefits_and_their_own_access(services) -> None:
    engine = build_engine(services)
    ctx = {"employee": {**MARIA["employee"], "type": "contractor", "department": "engineering",
                        "equipment_profile": "developer"}}
    run = engine.start("onboarding", ctx, started_by="hannah", subject="Maria Lopez", idempotency_key="c")
    assert run.state == "completed" and run.task("benefits").state == "skipped"
    groups = services.directory.groups("maria.lopez")
    assert {"source-control", "contractors"} <= set(groups) and "finance-system" not in groups
    assert not services.hr.benefits_of("maria.lopez")


def test_withdrawn_resignation_restores_the_leaver(services) -> None:
    engine = build_engine(services)
    before = leftovers(services, "peter")
    ctx = {"leaver": {"person_id": "peter", "full_name": "Peter Chen", "manager_id": "frank",
                      "last_day": date.today().isoformat(),
                      "access_end": date.today().isoformat(), "mode": "scheduled", "reason": "resigned"}}
    run = engine.start("offboarding", ctx, started_by="frank", subject="Peter Chen", idempotency_key="o")
    assert run.state == "completed", [(t.task_id, t.state, t.error) for t in run.tasks]
    assert services.directory.account("peter").status == "disabled" and not services.directory.groups("peter")
    assert services.mailboxes.mailbox_of("peter").delegated_to == "frank"
    run = engine.cancel(run.reference, "frank", "resignation withdrawn")
    assert run.state == "rolled_back" and run.report["not_undone"] == []
    after = leftovers(services, "peter")
    assert after["groups"] == before["groups"] and after["account"].status == before["account"].status
    assert services.mailboxes.mailbox_of("peter").delegated_to is None
    assert services.hr.get("peter").status == "active"


def test_termination_waits_for_hr_and_rejection_rolls_back(services) -> None:
    engine = build_engine(services)
    ctx = {"leaver": {"person_id": "anna", "full_name": "Anna Novak", "manager_id": "frank",
                      "last_day": date.today().isoformat(),
                      "access_end": date.today().isoformat(), "mode": "immediate", "reason": "gross misconduct"}}
    run = engine.start("offboarding", ctx, started_by="frank", subject="Anna Novak", idempotency_key="t")
    assert run.state == "waiting" and run.task("hr_approval").state == "waiting_approval"
    assert services.directory.account("anna").status == "active"  # nothing happens before HR says yes
    hannah = services.people.get("hannah")
    services.approvals.decide(engine.approval_for(run.reference, "hr_approval"), hannah, approve=True)
    run = engine.advance(run.reference)
    assert run.state == "completed" and services.directory.account("anna").status == "disabled"


def _count(db: Database, model, *where) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_killed_mid_run_resumes_and_does_each_action_once(tmp_path, _template_db) -> None:
    shutil.copyfile(_template_db, tmp_path / "concierge.db")
    env = {**os.environ, "CONCIERGE_DATA_DIR": str(tmp_path), "CONCIERGE_MODEL": "fake",
           "CONCIERGE_SMALL_MODEL": "fake", "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, str(REPO / "tests/integration/workflow_child.py"), str(tmp_path)],
                             env=env, cwd=tmp_path)
    settings = load_settings(data_dir=tmp_path, model="fake", small_model="fake", _env_file=None)
    db = Database.open(settings)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with db.session() as s:
                states = dict(s.execute(select(WorkflowTask.task_id, WorkflowTask.state)).all())
            if states.get("order_equipment") == "running" and states.get("create_account") == "completed":
                break
            assert child.poll() is None, "the child exited before it could be killed"
            time.sleep(0.1)
        else:
            pytest.fail(f"the run never reached the hung step: {states}")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL

        out = subprocess.run([sys.executable, "-m", "app.cli", "workflow", "tick"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        with db.session() as s:
            run = s.scalars(select(WorkflowRun)).one()
            assert run.state == "completed", run.report
        # Exactly once, although some steps ran in two processes.
        assert _count(db, DirectoryAction, DirectoryAction.action == "create_account") == 1
        assert _count(db, OutboxMessage, OutboxMessage.kind == "welcome") == 1
        assert _count(db, OutboxMessage, OutboxMessage.kind == "manager_checklist") == 1
        services = Services.from_db(db, settings)
        assert len(services.assets.orders_of("maria.lopez")) == 1
        assert len(services.training.enrolments_of("maria.lopez")) == 2  # orientation + finance, once each
        assert services.mailboxes.mailbox_of("maria.lopez") is not None
        completed = [e.details["task"] for e in services.audit.events(event_type="workflow.task.completed")]
        on_path = [t for t in ONBOARDING.tasks if t != "engineering_training"]  # Maria joins finance
        assert sorted(completed) == sorted(on_path)  # each task completed once
    finally:
        if child.poll() is None:
            child.kill()
        db.close()
