"""The orchestration engine: runs workflow definitions as persisted task tokens (the founding paper's §2).

Enablement: a task becomes enabled when some predecessor completed and that edge's predicate holds
(``join: any``); with ``join: all`` it waits until every incoming edge is decided and runs if at least one
fired (an inclusive join, so an optional branch that was skipped does not block it). A task whose incoming
edges are all dead is skipped, and so are its successors' edges. Independent enabled tasks run concurrently.

Every token transition is written to the database and the audit log before the next step, so a process
killed mid-run resumes from the store (``resume_all``); tasks that were running are run again with the same
idempotency key, and because every action honours that key, no effect happens twice.

Failure: a task that still fails after its retries (exponential backoff, per-attempt timeout) — or a cancel,
or a rejected approval with ``on_reject: rollback`` — rolls the run back: completed tasks are compensated in
reverse completion order. A compensation that keeps failing is escalated to a person (a handoff with the run's
full context) and the run ends ``needs_attention``; nothing is silently dropped.

Approvals are rows in the approvals table: the run waits (``waiting``) and any later ``advance`` — from the
conversation, the CLI or the staff desk — picks up the decision.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.db.schema import WorkflowRun, WorkflowTask, utcnow
from app.services.registry import Services
from graphs.workflows.actions import ActionCall, ActionError, ActionRegistry
from graphs.workflows.definition import TaskDef, WorkflowDef

log = logging.getLogger(__name__)

TERMINAL_TASK = ("completed", "skipped", "failed", "compensated")
FINISHED_RUN = ("completed", "rolled_back", "needs_attention")


@dataclass(frozen=True)
class TaskView:
    task_id: str
    title: str
    state: str
    attempts: int
    outputs: dict
    error: str | None
    approval_ref: str | None


@dataclass(frozen=True)
class RunView:
    reference: str
    workflow: str
    version: int
    state: str
    subject: str
    started_by: str
    context: dict
    report: dict
    tasks: tuple[TaskView, ...] = field(default=())
    created_at: datetime | None = None
    thread_id: str | None = None

    def task(self, task_id: str) -> TaskView:
        return next(t for t in self.tasks if t.task_id == task_id)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tasks:
            out[t.state] = out.get(t.state, 0) + 1
        return out


class WorkflowError(ValueError):
    """A request the engine refuses (unknown run or task, a task not waiting for approval...)."""


class Engine:
    def __init__(
        self,
        services: Services,
        actions: ActionRegistry,
        definitions: dict[str, WorkflowDef],
        *,
        max_workers: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.services = services
        self.db = services.db
        self.actions = actions
        self.definitions = definitions
        self.max_workers = max_workers
        self.sleep = sleep
        # One worker per run at a time in this process (chat, approvals, cancel and the scheduler all advance
        # runs): a cancel waits for the step in progress, then undoes everything it did.
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, reference: str) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault(reference.strip().upper(), threading.RLock())

    # -- public API ---------------------------------------------------------------------------------------
    def start(
        self, workflow: str, context: dict[str, Any], *, started_by: str, subject: str = "",
        thread_id: str | None = None, idempotency_key: str,
    ) -> RunView:
        """Create a run (idempotent by key) and advance it as far as it can go."""
        wf = self._definition(workflow)
        by_key = select(WorkflowRun).where(WorkflowRun.idempotency_key == idempotency_key)
        with self.db.session() as s:
            existing = s.scalars(by_key).first()
            if existing is not None:
                return self._view(s, existing)
            run = WorkflowRun(reference="pending", idempotency_key=idempotency_key, workflow=wf.name,
                              version=wf.version, state="running", subject=subject[:200], context=context,
                              started_by=started_by, thread_id=thread_id)
            s.add(run)
            try:
                s.flush()
            except IntegrityError:
                s.rollback()
                return self._view(s, s.scalars(by_key).one())
            run.reference = f"WF{run.id:07d}"
            for task_id in wf.tasks:
                s.add(WorkflowTask(run_id=run.id, task_id=task_id, state="pending"))
            self.services.audit.add_to(s, started_by, "workflow.run.started", thread_id=thread_id,
                                       run=run.reference, workflow=wf.name, subject=subject)
            s.commit()
            reference = run.reference
        return self.advance(reference)

    def advance(self, reference: str) -> RunView:
        """Run everything that can run now; stop at approvals, schedules, completion or rollback."""
        with self._lock(reference):
            return self._advance(reference)

    def _advance(self, reference: str) -> RunView:
        for _ in range(1000):  # every pass changes at least one token; a bound guards against a bad definition
            run = self._run(reference)
            if run.state in FINISHED_RUN:
                break
            if run.state == "rolling_back":
                self._rollback(reference, run.report.get("reason", "rollback"))
                break
            if not self._step(reference):
                break
        return self.get(reference)

    def cancel(self, reference: str, by: str, reason: str = "cancelled") -> RunView:
        """Undo a run (running, waiting or completed): compensate every completed task, newest first."""
        with self._lock(reference):
            return self._cancel(reference, by, reason)

    def _cancel(self, reference: str, by: str, reason: str) -> RunView:
        run = self._run(reference)
        if run.state in ("rolled_back", "needs_attention"):
            return self.get(reference)
        if run.state == "rolling_back":  # interrupted rollback (a crash): finish it
            self._rollback(reference, run.report.get("reason", reason))
            return self.get(reference)
        self._audit(by, "workflow.run.cancel_requested", reference, reason=reason)
        self._set_run(reference, "rolling_back", report={"reason": f"cancelled by {by}: {reason}"})
        self._rollback(reference, f"cancelled by {by}: {reason}")
        return self.get(reference)

    def resume_all(self) -> list[RunView]:
        """After a restart: continue every run that was not finished (including half-done rollbacks)."""
        with self.db.session() as s:
            refs = list(s.scalars(select(WorkflowRun.reference).where(
                WorkflowRun.state.in_(("running", "waiting", "rolling_back")))))
        return [self.advance(ref) for ref in refs]

    tick = resume_all  # scheduled tasks (``not_before``) become due as days pass: call this periodically

    def get(self, reference: str) -> RunView:
        with self.db.session() as s:
            run = s.scalars(select(WorkflowRun).where(WorkflowRun.reference == reference.strip().upper())).first()
            if run is None:
                raise WorkflowError(f"no workflow run {reference!r}")
            return self._view(s, run)

    def runs(self, *, started_by: str | None = None, workflow: str | None = None, limit: int = 50) -> list[RunView]:
        with self.db.session() as s:
            q = select(WorkflowRun).order_by(WorkflowRun.id.desc()).limit(limit)
            if started_by:
                q = q.where(WorkflowRun.started_by == started_by)
            if workflow:
                q = q.where(WorkflowRun.workflow == workflow)
            return [self._view(s, r) for r in s.scalars(q)]

    # -- one pass -----------------------------------------------------------------------------------------
    def _step(self, reference: str) -> bool:
        """Decide enablement, ask for approvals, run what is due. Returns whether anything changed."""
        run = self._run(reference)
        wf = self._definition(run.workflow, run.version)
        tokens = {t.task_id: t for t in run.tasks}
        changed = False
        ctx = self._predicate_context(run)

        for task_id, task in wf.tasks.items():
            token = tokens[task_id]
            if token.state != "pending":
                continue
            decision = self._enablement(wf, task, tokens, ctx)
            if decision:
                self._set_task(run, task_id, decision)
                changed = True
        if changed:
            return True

        due: list[TaskDef] = []
        for task_id, task in wf.tasks.items():
            token = tokens[task_id]
            if token.state == "enabled" and task.approval is not None and not token.approval_ref:
                self._request_approval(run, task)
                changed = True
            elif token.state == "waiting_approval":
                outcome = self._approval_outcome(token.approval_ref)
                if outcome == "approved":
                    if task.action is None:
                        self._set_task(run, task_id, "completed", outputs={"approved": True})
                        changed = True
                    else:
                        due.append(task)
                elif outcome in ("rejected", "cancelled"):
                    changed = True
                    if task.approval and task.approval.on_reject == "skip":
                        self._set_task(run, task_id, "skipped", error="approval rejected")
                    else:
                        self._set_task(run, task_id, "failed", error="approval rejected")
                        self._begin_rollback(run, f"'{task.title}' was not approved")
                        return True
            elif token.state == "running":
                due.append(task)  # interrupted by a crash: run again under the same idempotency key
            elif token.state == "enabled" and task.approval is None and self._is_due(task, ctx):
                due.append(task)
        if due:
            results = self._execute(run, due)
            failed = [(t, err) for t, err in results if err is not None]
            if failed:
                task, err = failed[0]
                self._begin_rollback(run, f"'{task.title}' failed: {err}")
            return True
        if not changed:
            self._settle(run)
        return changed

    def _enablement(self, wf: WorkflowDef, task: TaskDef, tokens: dict[str, TaskView], ctx: dict) -> str | None:
        incoming = wf.incoming(task.id)
        if not incoming:
            return "enabled"
        fired = dead = 0
        for edge in incoming:
            src = tokens[edge.source].state
            if src == "completed":
                if edge.when is None or edge.when.evaluate(ctx):
                    fired += 1
                else:
                    dead += 1
            elif src in ("skipped", "failed", "compensated"):
                dead += 1
        decided = fired + dead == len(incoming)
        if task.join == "any":
            return "enabled" if fired else ("skipped" if decided else None)
        return ("enabled" if fired else "skipped") if decided else None

    def _is_due(self, task: TaskDef, ctx: dict) -> bool:
        if not task.not_before:
            return True
        value = _lookup(ctx, task.not_before)
        if not value:
            return True
        try:
            day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        except ValueError:
            return True
        return self.services.clock().date() >= day

    def _settle(self, run: RunView) -> None:
        """Nothing more can happen now: the run is completed, or waiting (approval or schedule)."""
        states = {t.state for t in run.tasks}
        if states <= {"completed", "skipped"}:
            if run.state != "completed":
                self._set_run(run.reference, "completed", finished=True)
        elif run.state != "waiting":
            self._set_run(run.reference, "waiting")

    # -- executing actions --------------------------------------------------------------------------------
    def _execute(self, run: RunView, tasks: list[TaskDef]) -> list[tuple[TaskDef, str | None]]:
        if len(tasks) == 1:
            return [(tasks[0], self._run_task(run, tasks[0]))]
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(tasks))) as pool:
            futures = [(t, pool.submit(self._run_task, run, t)) for t in tasks]
            return [(t, f.result()) for t, f in futures]

    def _run_task(self, run: RunView, task: TaskDef) -> str | None:
        """Run one task with retries; returns None on success or the final error."""
        assert task.action is not None
        key = f"wf:{run.reference}:{task.id}"
        error = None
        for attempt in range(task.retries + 1):
            self._set_task(run, task.id, "running", attempt=True)
            try:
                outputs = self._call(task.action, run, task, key, task.timeout_s)
            except Exception as exc:  # any failure of an integration counts as a failed attempt
                error = _describe(exc)
                log.warning("workflow %s task %s attempt %d failed: %s", run.reference, task.id, attempt + 1, error)
                self._audit("workflow", "workflow.task.attempt_failed", run.reference, task=task.id, error=error,
                            attempt=attempt + 1)
                if attempt < task.retries:
                    self.sleep(task.backoff_s * (2**attempt))
                continue
            self._set_task(run, task.id, "completed", outputs=outputs)
            return None
        self._set_task(run, task.id, "failed", error=error)
        return error

    def _call(self, action: str, run: RunView, task: TaskDef, key: str, timeout: float,
              outputs: dict | None = None) -> dict:
        spec = self.actions.get(action)
        call = ActionCall(self.services, self._predicate_context(self._run(run.reference)), dict(task.inputs), key,
                          run.reference, task.id, run.started_by, outputs or {})
        pool = ThreadPoolExecutor(max_workers=1)
        try:
            result = pool.submit(spec.run, call).result(timeout=timeout)
        except FutureTimeout:
            # The call may still finish in the background; its idempotency key makes the retry (or the
            # compensation, which runs for failed tasks too) safe either way.
            raise ActionError(f"timed out after {timeout:g} s") from None
        finally:
            pool.shutdown(wait=False)
        return dict(result or {})

    # -- approvals ----------------------------------------------------------------------------------------
    def _request_approval(self, run: RunView, task: TaskDef) -> None:
        assert task.approval is not None
        record, _ = self.services.approvals.request(
            kind="workflow.task", requested_by=run.started_by, approver_role=task.approval.role,
            idempotency_key=f"wf:{run.reference}:{task.id}:approval", subject_id=None,
            payload={"run": run.reference, "task": task.id, "workflow": run.workflow, "subject": run.subject},
            reason=f"{task.title} — {run.workflow} for {run.subject}",
        )
        self._set_task(run, task.id, "waiting_approval", approval_ref=record.reference)

    def _approval_outcome(self, reference: str | None) -> str:
        if not reference:
            return "pending"
        from app.db.schema import Approval

        with self.db.session() as s:
            row = s.scalars(select(Approval).where(Approval.reference == reference)).first()
            return row.state if row else "pending"

    def approval_for(self, reference: str, task_id: str) -> str:
        """The approval reference a task is waiting on (for ``concierge workflow approve RUN TASK``)."""
        view = self.get(reference)
        try:
            token = view.task(task_id)
        except StopIteration:
            raise WorkflowError(f"{reference} has no task {task_id!r}") from None
        if token.state != "waiting_approval" or not token.approval_ref:
            raise WorkflowError(f"{reference}: task {task_id!r} is {token.state}, not waiting for approval")
        return token.approval_ref

    # -- rollback -----------------------------------------------------------------------------------------
    def _begin_rollback(self, run: RunView, reason: str) -> None:
        self._set_run(run.reference, "rolling_back", report={"reason": reason})
        self._rollback(run.reference, reason)

    def _rollback(self, reference: str, reason: str) -> None:
        run = self._run(reference)
        wf = self._definition(run.workflow, run.version)
        # Resuming an interrupted rollback: what was already undone before the crash stays in the report.
        undone = [wf.tasks[t.task_id].title for t in run.tasks
                  if t.state == "compensated" and t.error != "nothing to undo" and t.task_id in wf.tasks]
        not_undone: list[dict] = []
        # Whatever had not happened yet will not happen now.
        for token in run.tasks:
            if token.state in ("pending", "enabled", "waiting_approval"):
                self._set_task(run, token.task_id, "skipped", error="run rolled back")
                if token.approval_ref:
                    self.services.approvals.cancel(token.approval_ref)
        # Tasks that failed or were cut off may have done part of their work: undo them first (their
        # compensations are idempotent and find nothing to undo when nothing happened), then the completed
        # ones in reverse completion order.
        partial = [t for t in run.tasks if t.state in ("failed", "running")]
        done = sorted((t for t in run.tasks if t.state in ("completed", "compensating")),
                      key=lambda t: -(self._seq(reference, t.task_id) or 0))
        for token in [*partial, *done]:
            task = wf.tasks[token.task_id]
            was_partial = token.state in ("failed", "running")
            if not task.compensation or (was_partial and task.action is None):
                if not was_partial:
                    self._set_task(run, task.id, "compensated", error="nothing to undo")
                continue
            self._set_task(run, task.id, "compensating")
            error = None
            for attempt in range(task.retries + 1):
                try:
                    self._call(task.compensation, run, task, f"wf:{reference}:{task.id}:undo", task.timeout_s,
                               outputs=token.outputs)
                    error = None
                    break
                except Exception as exc:
                    error = _describe(exc)
                    self._audit("workflow", "workflow.task.compensation_failed", reference, task=task.id,
                                error=error, attempt=attempt + 1)
                    if attempt < task.retries:
                        self.sleep(task.backoff_s * (2**attempt))
            if error is None:
                # A failed task stays "failed" (its partial work, if any, is undone); completed ones are compensated.
                self._set_task(run, task.id, "failed" if was_partial else "compensated")
                if not was_partial:
                    undone.append(task.title)
            elif was_partial and "NotFound" in error:
                self._set_task(run, task.id, "failed", error="failed before changing anything")
            else:
                not_undone.append({"task": task.id, "title": task.title, "error": error})
        report = {"reason": reason, "undone": undone, "not_undone": not_undone}
        if not_undone:
            self._escalate(run, report)
            self._set_run(reference, "needs_attention", report=report, finished=True)
        else:
            self._set_run(reference, "rolled_back", report=report, finished=True)

    def _escalate(self, run: RunView, report: dict) -> None:
        """A compensation that keeps failing goes to a person with the full context — never dropped."""
        lines = [{"role": "concierge", "text": f"{t.task_id}: {t.state}" + (f" ({t.error})" if t.error else "")}
                 for t in self.get(run.reference).tasks]
        failed = ", ".join(f"{x['title']} ({x['error']})" for x in report["not_undone"])
        record, created = self.services.handoffs.queue(
            # Its own thread: claiming it must not silence the chat of the person who started the run.
            thread_id=f"workflow:{run.reference}", user_id=run.started_by,
            queue="it" if run.workflow == "offboarding" else "hr", reason="workflow_rollback_failed",
            summary=f"{run.reference} ({run.workflow} for {run.subject}) could not be fully rolled back "
                    f"({report['reason']}). Still to undo by hand: {failed}.",
            transcript=lines, priority="high", idempotency_key=f"wf:{run.reference}:escalation",
        )
        if created:
            self._audit("workflow", "workflow.run.escalated", run.reference, handoff=record.reference)

    # -- persistence --------------------------------------------------------------------------------------
    def _run(self, reference: str) -> RunView:
        return self.get(reference)

    def _seq(self, reference: str, task_id: str) -> int | None:
        with self.db.session() as s:
            run = s.scalars(select(WorkflowRun).where(WorkflowRun.reference == reference)).one()
            token = s.scalars(select(WorkflowTask).where(WorkflowTask.run_id == run.id,
                                                        WorkflowTask.task_id == task_id)).one()
            return token.seq

    def _set_task(self, run: RunView, task_id: str, state: str, *, outputs: dict | None = None,
                  error: str | None = None, approval_ref: str | None = None, attempt: bool = False) -> None:
        with self.db.session() as s:
            row = s.scalars(select(WorkflowRun).where(WorkflowRun.reference == run.reference)).one()
            token = s.scalars(select(WorkflowTask).where(WorkflowTask.run_id == row.id,
                                                        WorkflowTask.task_id == task_id)).one()
            previous = token.state
            token.state = state
            token.updated_at = utcnow()
            if attempt:
                token.attempts += 1
            if outputs is not None:
                token.outputs = outputs
            if error is not None:
                token.error = error[:1000]
            if approval_ref is not None:
                token.approval_ref = approval_ref
            if state == "completed":
                last = s.scalars(select(WorkflowTask.seq).where(WorkflowTask.run_id == row.id,
                                                                WorkflowTask.seq.is_not(None))).all()
                token.seq = max(last, default=0) + 1
            row.updated_at = utcnow()
            if previous != state or attempt:  # the transition and its audit event commit together
                self.services.audit.add_to(s, "workflow", f"workflow.task.{state}", thread_id=row.thread_id,
                                           run=run.reference, task=task_id, previous=previous,
                                           **({"error": error} if error else {}))
            s.commit()

    def _set_run(self, reference: str, state: str, *, report: dict | None = None, finished: bool = False) -> None:
        with self.db.session() as s:
            row = s.scalars(select(WorkflowRun).where(WorkflowRun.reference == reference)).one()
            previous = row.state
            row.state = state
            row.updated_at = utcnow()
            if report is not None:
                row.report = report
            if finished:
                row.finished_at = utcnow()
            if previous != state:
                self.services.audit.add_to(s, "workflow", f"workflow.run.{state}", thread_id=row.thread_id,
                                           run=reference, previous=previous,
                                           **({"reason": report.get("reason")} if report else {}))
            s.commit()

    def _audit(self, actor: str, event: str, reference: str, **details: Any) -> None:
        thread = None
        with self.db.session() as s:
            row = s.scalars(select(WorkflowRun).where(WorkflowRun.reference == reference)).first()
            thread = row.thread_id if row else None
        self.services.audit.append(actor, event, thread_id=thread, run=reference, **details)

    def _view(self, s, run: WorkflowRun) -> RunView:
        wf = self.definitions.get(run.workflow)
        tokens = s.scalars(select(WorkflowTask).where(WorkflowTask.run_id == run.id).order_by(WorkflowTask.id))
        tasks = tuple(
            TaskView(t.task_id, wf.tasks[t.task_id].title if wf and t.task_id in wf.tasks else t.task_id, t.state,
                     t.attempts, dict(t.outputs or {}), t.error, t.approval_ref)
            for t in tokens
        )
        return RunView(run.reference, run.workflow, run.version, run.state, run.subject, run.started_by,
                       dict(run.context or {}), dict(run.report or {}), tasks, run.created_at, run.thread_id)

    def _definition(self, name: str, version: int | None = None) -> WorkflowDef:
        wf = self.definitions.get(name)
        if wf is None:
            raise WorkflowError(f"unknown workflow {name!r}")
        if version is not None and wf.version != version:
            # A run finishes on the definition it started with; loading old versions is future work, so say so.
            log.warning("run uses %s v%s but v%s is loaded", name, version, wf.version)
        return wf

    def _predicate_context(self, run: RunView) -> dict[str, Any]:
        outputs = {t.task_id: t.outputs for t in run.tasks if t.state == "completed"}
        return {**run.context, "outputs": outputs, "tasks": {t.task_id: t.state for t in run.tasks}}


def _lookup(ctx: dict, path: str) -> Any:
    value: Any = ctx
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300] if not isinstance(exc, ActionError) else str(exc)[:300]
