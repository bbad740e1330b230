"""Workflow engine logic on a real SQLite store with recording actions: enablement, joins, concurrency,
retries, timeouts, approvals, compensation order, escalation, and definition validation."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from app.services.registry import Services
from graphs.workflows.actions import ActionCall, ActionError, ActionRegistry, ActionSpec
from graphs.workflows.definition import DefinitionError, load_definition
from graphs.workflows.engine import Engine


class Recorder:
    """Actions that record what ran, can fail a number of times, wait on a barrier or sleep."""

    def __init__(self):
        self.calls: list[str] = []
        self.fail: dict[str, int] = {}  # action -> failures left (-1: always)
        self.barrier: threading.Barrier | None = None
        self.slow: dict[str, float] = {}
        self.lock = threading.Lock()

    def action(self, name: str):
        def run(call: ActionCall) -> dict:
            with self.lock:
                self.calls.append(f"{name}:{call.task}")
                left = self.fail.get(name, 0)
                if left:
                    self.fail[name] = left - 1 if left > 0 else -1
            if name in self.slow:
                time.sleep(self.slow[name])
            if name == "sync" and self.barrier is not None:
                self.barrier.wait(timeout=5)  # only passes if both tasks run at the same time
            if left:
                raise ActionError(f"{name} failed on purpose")
            return {"ok": True, "by": name}

        return run

    def registry(self) -> ActionRegistry:
        names = ["do", "undo", "sync", "flaky", "boom", "slow", "badundo"]
        return ActionRegistry({n: ActionSpec(n, self.action(n), side_effect=n != "noop") for n in names})


def write(tmp_path: Path, body: str, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def engine(services: Services, rec: Recorder, path: Path) -> Engine:
    reg = rec.registry()
    wf = load_definition(path, actions=reg.specs)
    return Engine(services, reg, {wf.name: wf}, sleep=lambda s: None)


@pytest.fixture
def services(db, settings) -> Services:
    return Services.from_db(db, settings)


LINEAR = """
name: t
version: 1
tasks:
  - {id: a, action: do, compensation: undo}
  - {id: b, action: do, compensation: undo}
  - {id: c, action: do, compensation: undo}
  - {id: d, action: do, compensation: undo}
edges:
  - {from: a, to: b, when: "kind == 'x'"}
  - {from: a, to: c, when: "kind != 'x'"}
  - {from: b, to: d}
  - {from: c, to: d}
"""


def test_predicates_choose_branches_and_join_any(services, tmp_path) -> None:
    rec = Recorder()
    eng = engine(services, rec, write(tmp_path, LINEAR))
    run = eng.start("t", {"kind": "x"}, started_by="hannah", idempotency_key="k1")
    assert run.state == "completed"
    assert {t.task_id: t.state for t in run.tasks} == {"a": "completed", "b": "completed", "c": "skipped",
                                                       "d": "completed"}
    assert rec.calls == ["do:a", "do:b", "do:d"]
    # Starting again with the same key is the same run: nothing runs twice.
    assert eng.start("t", {"kind": "x"}, started_by="hannah", idempotency_key="k1").reference == run.reference
    assert rec.calls == ["do:a", "do:b", "do:d"]


def test_join_all_waits_for_every_branch_and_skips_when_all_dead(services, tmp_path) -> None:
    body = """
name: t
version: 1
tasks:
  - {id: a, action: do, compensation: undo}
  - {id: b, action: do, compensation: undo}
  - {id: c, action: do, compensation: undo}
  - {id: j, action: do, compensation: undo, join: all}
  - {id: after, action: do, compensation: undo}
edges:
  - {from: a, to: b}
  - {from: a, to: c, when: "optional == true"}
  - {from: b, to: j}
  - {from: c, to: j}
  - {from: j, to: after, when: "outputs.j.ok == false"}
"""
    rec = Recorder()
    run = engine(services, rec, write(tmp_path, body)).start("t", {"optional": False}, started_by="h",
                                                             idempotency_key="k")
    states = {t.task_id: t.state for t in run.tasks}
    assert states == {"a": "completed", "b": "completed", "c": "skipped", "j": "completed", "after": "skipped"}
    assert run.state == "completed" and rec.calls.index("do:j") > rec.calls.index("do:b")


def test_independent_tasks_run_concurrently(services, tmp_path) -> None:
    body = """
name: t
version: 1
tasks:
  - {id: a, action: do, compensation: undo}
  - {id: x, action: sync, compensation: undo}
  - {id: y, action: sync, compensation: undo}
edges: [{from: a, to: x}, {from: a, to: y}]
"""
    rec = Recorder()
    rec.barrier = threading.Barrier(2)
    run = engine(services, rec, write(tmp_path, body)).start("t", {}, started_by="h", idempotency_key="k")
    assert run.state == "completed"  # a sequential engine would break the barrier (5 s timeout) and fail


def test_retries_then_success(services, tmp_path) -> None:
    body = "name: t\nversion: 1\ntasks:\n  - {id: a, action: flaky, compensation: undo, retries: 2}\n"
    rec = Recorder()
    rec.fail["flaky"] = 2
    run = engine(services, rec, write(tmp_path, body)).start("t", {}, started_by="h", idempotency_key="k")
    assert run.state == "completed" and run.task("a").attempts == 3
    events = [e.event_type for e in services.audit.events()]
    assert events.count("workflow.task.attempt_failed") == 2


def test_permanent_failure_compensates_in_reverse_completion_order(services, tmp_path) -> None:
    body = """
name: t
version: 1
tasks:
  - {id: a, action: do, compensation: undo}
  - {id: b, action: do, compensation: undo}
  - {id: c, action: boom, compensation: undo, retries: 1}
edges: [{from: a, to: b}, {from: b, to: c}]
"""
    rec = Recorder()
    rec.fail["boom"] = -1
    run = engine(services, rec, write(tmp_path, body)).start("t", {}, started_by="h", idempotency_key="k")
    assert run.state == "rolled_back"
    # The failed task is undone first (it may have done part of its work), then the completed ones, newest first.
    assert rec.calls == ["do:a", "do:b", "boom:c", "boom:c", "undo:c", "undo:b", "undo:a"]
    assert {t.task_id: t.state for t in run.tasks} == {"a": "compensated", "b": "compensated", "c": "failed"}
    assert run.report["undone"] == ["b", "a"] and "failed" in run.report["reason"]


def test_timeout_counts_as_failure(services, tmp_path) -> None:
    body = "name: t\nversion: 1\ntasks:\n  - {id: a, action: slow, compensation: undo, timeout_s: 0.2, retries: 0}\n"
    rec = Recorder()
    rec.slow["slow"] = 1.0
    run = engine(services, rec, write(tmp_path, body)).start("t", {}, started_by="h", idempotency_key="k")
    assert run.state == "rolled_back" and "timed out" in run.task("a").error


def test_failing_compensation_is_escalated_not_dropped(services, tmp_path) -> None:
    body = """
name: t
version: 1
tasks:
  - {id: a, action: do, compensation: badundo, retries: 1}
  - {id: b, action: boom, compensation: undo, retries: 0}
edges: [{from: a, to: b}]
"""
    rec = Recorder()
    rec.fail["boom"] = -1
    rec.fail["badundo"] = -1
    run = engine(services, rec, write(tmp_path, body)).start("t", {}, started_by="hannah", idempotency_key="k")
    assert run.state == "needs_attention" and run.report["not_undone"][0]["task"] == "a"
    assert rec.calls.count("badundo:a") == 2  # retried
    handoff = services.handoffs.list()[-1]
    assert handoff.reason == "workflow_rollback_failed" and run.reference in handoff.summary


def test_approval_pauses_until_decided_and_rejection_follows_the_definition(services, tmp_path) -> None:
    body = """
name: t
version: 1
tasks:
  - {id: a, action: do, compensation: undo}
  - {id: ok, approval: {role: hr_staff, on_reject: rollback}}
  - {id: b, action: do, compensation: undo}
  - {id: optional, approval: {role: hr_staff, on_reject: skip}, action: do, compensation: undo}
edges: [{from: a, to: ok}, {from: ok, to: b}, {from: a, to: optional}]
"""
    rec = Recorder()
    eng = engine(services, rec, write(tmp_path, body))
    run = eng.start("t", {}, started_by="bob", idempotency_key="k")
    assert run.state == "waiting" and run.task("ok").state == "waiting_approval"
    hannah = services.people.get("hannah")
    services.approvals.decide(eng.approval_for(run.reference, "optional"), hannah, approve=False)
    services.approvals.decide(eng.approval_for(run.reference, "ok"), hannah, approve=True)
    run = eng.advance(run.reference)
    assert run.state == "completed"
    assert {t.task_id: t.state for t in run.tasks} == {"a": "completed", "ok": "completed", "b": "completed",
                                                       "optional": "skipped"}
    second = eng.start("t", {}, started_by="bob", idempotency_key="k2")
    services.approvals.decide(eng.approval_for(second.reference, "ok"), hannah, approve=False)
    second = eng.advance(second.reference)
    assert second.state == "rolled_back" and second.task("a").state == "compensated"
    assert second.task("optional").state == "skipped"  # its pending approval was withdrawn
    assert not services.approvals.pending_for(hannah)


def test_cancel_undoes_a_completed_run_once(services, tmp_path) -> None:
    rec = Recorder()
    eng = engine(services, rec, write(tmp_path, LINEAR))
    run = eng.start("t", {"kind": "y"}, started_by="h", idempotency_key="k")
    eng.cancel(run.reference, "hannah", "withdrawn")
    again = eng.cancel(run.reference, "hannah", "withdrawn")
    assert again.state == "rolled_back" and rec.calls.count("undo:a") == 1
    assert rec.calls[-3:] == ["undo:d", "undo:c", "undo:a"]


def test_scheduled_task_waits_for_its_day(services, tmp_path) -> None:
    from datetime import timedelta

    from app.db.schema import utcnow

    body = """
name: t
version: 1
tasks:
  - {id: a, action: do, compensation: undo}
  - {id: later, action: do, compensation: undo, not_before: leaver.last_day}
edges: [{from: a, to: later}]
"""
    rec = Recorder()
    eng = engine(services, rec, write(tmp_path, body))
    day = (utcnow() + timedelta(days=3)).date().isoformat()
    run = eng.start("t", {"leaver": {"last_day": day}}, started_by="h", idempotency_key="k")
    assert run.state == "waiting" and run.task("later").state == "enabled"
    services.clock = lambda: utcnow() + timedelta(days=3)
    assert eng.tick()[0].state == "completed"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("name: t\nversion: 1\ntasks:\n  - {id: a, action: do, compensation: undo}\nedges: [{from: a, to: zz}]",
         "edge #1 (a → zz): unknown task 'zz'"),
        ("name: t\nversion: 1\ntasks:\n  - {id: a, action: do}\n", "task 'a': action 'do' changes things but has no "
         "compensation"),
        ("name: t\nversion: 1\ntasks:\n  - {id: a, action: nope, compensation: undo}\n", "task 'a': unknown action "
         "'nope'"),
        ("name: t\nversion: 1\ntasks:\n  - {id: a, action: do, compensation: undo}\n  - {id: b, action: do, "
         "compensation: undo}\n  - {id: c, action: do, compensation: undo}\nedges: [{from: a, to: b}, {from: b, to: "
         "c}, {from: c, to: b}]", "part of a cycle"),
        ("name: t\nversion: 1\ntasks:\n  - {id: a, action: do, compensation: undo}\n  - {id: b, action: do, "
         "compensation: undo}\nedges: [{from: b, to: b}]", "task 'b'"),
        ("name: t\nversion: 1\ntasks:\n  - {id: a, action: do, compensation: undo}\n  - {id: b, action: do, "
         "compensation: undo}\nedges: [{from: a, to: b, when: \"__import__('os')\"}]", "bad predicate"),
        ("name: t\nversion: 1\ntasks:\n  - {id: a, approval: {role: x, on_reject: maybe}}\n", "on_reject"),
    ],
)
def test_validation_names_file_task_and_problem(tmp_path, body, problem) -> None:
    reg = Recorder().registry()
    with pytest.raises(DefinitionError) as err:
        load_definition(write(tmp_path, body, "bad.yaml"), actions=reg.specs)
    assert "bad.yaml" in str(err.value) and problem in str(err.value)


def test_shipped_definitions_validate_and_render_docs(tmp_path) -> None:
    from graphs.workflows.actions import default_actions
    from graphs.workflows.definition import load_all
    from graphs.workflows.docs import write_docs

    defs = load_all(actions=default_actions().specs)
    assert set(defs) == {"onboarding", "offboarding"}
    paths = write_docs(defs, tmp_path)
    text = (tmp_path / "onboarding.md").read_text()
    assert len(paths) == 2 and "```mermaid" in text and "employee.type == 'employee'" in text
    assert "hr.cancel_record" in text and "hr_staff" in (tmp_path / "offboarding.md").read_text()


def test_committed_workflow_docs_are_up_to_date(tmp_path) -> None:
    """docs/workflows is generated; regenerate with `concierge workflow docs` after editing a definition."""
    from graphs.workflows.actions import default_actions
    from graphs.workflows.definition import load_all
    from graphs.workflows.docs import write_docs
    from tests.conftest import REPO

    write_docs(load_all(actions=default_actions().specs), tmp_path)
    for generated in tmp_path.glob("*.md"):
        committed = REPO / "docs" / "workflows" / generated.name
        assert committed.read_text() == generated.read_text(), f"{committed} is stale: run `concierge workflow docs`"


def test_chat_cancel_needs_the_persons_name() -> None:
    from graphs.agents.workflow_chat import wants_cancel, wants_status

    assert not wants_cancel("onboard Sam Lee, he's not starting until 3 April")
    assert not wants_cancel("Anna was dismissed, stop her access immediately")
    assert wants_cancel("Maria isn't joining after all")
    assert not wants_status("Peter Chen is going to leave, last day Friday")
    assert wants_status("how is Maria's onboarding going?")
