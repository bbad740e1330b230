"""``concierge workflow``: generated docs, runs and their task states, approvals, cancel, and the scheduler tick."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.cli_common import JsonOpt, console, fail, settings_or_exit
from app.errors import ConciergeError

workflow_app = typer.Typer(help="Workflows (onboarding, offboarding): docs, runs, approvals.", no_args_is_help=True)
AsOpt = Annotated[str, typer.Option("--as", help="Directory user id to act as.")]


@contextmanager
def _engine() -> Iterator:
    from app.db.engine import Database
    from app.services.registry import Services
    from graphs.workflows.definition import DefinitionError
    from graphs.workflows.runtime import build_engine

    settings = settings_or_exit()
    db = Database.open(settings)
    try:
        try:
            engine = build_engine(Services.from_db(db, settings))
        except DefinitionError as exc:
            fail(str(exc), 2)
        yield engine
    finally:
        db.close()


def _user(engine, user_id: str):
    user = engine.services.people.get(user_id)
    if user is None:
        fail(f"No active user {user_id!r} (see `concierge users`).", 2)
    return user


@workflow_app.command("docs")
def docs(out: Annotated[Path, typer.Option(help="Directory to write the Markdown into.")] = Path("docs/workflows")):
    """Write Markdown with a Mermaid diagram for every workflow (tasks, predicates, approvals, compensations)."""
    from graphs.workflows.docs import write_docs

    with _engine() as engine:
        paths = write_docs(engine.definitions, out)
    for p in paths:
        console.print(f"wrote {p}")


@workflow_app.command("runs")
def runs(
    workflow: Annotated[str | None, typer.Option(help="onboarding or offboarding")] = None,
    started_by: Annotated[str | None, typer.Option(help="Only runs started by this user.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List runs (newest first) with their state and task counts."""
    with _engine() as engine:
        rows = engine.runs(workflow=workflow, started_by=started_by)
    if as_json:
        print(json.dumps([_run_dict(r) for r in rows], indent=2, default=str))
        return
    table = Table("run", "workflow", "for", "state", "started by", "tasks")
    for r in rows:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(r.counts().items()))
        table.add_row(r.reference, r.workflow, r.subject, r.state, r.started_by, counts)
    console.print(table if rows else "No workflow runs yet.")


@workflow_app.command("show")
def show(run: str, as_json: JsonOpt = False) -> None:
    """One run's task states (and, after a rollback, what was undone)."""
    from graphs.workflows.engine import WorkflowError

    with _engine() as engine:
        try:
            view = engine.get(run)
        except WorkflowError as exc:
            fail(str(exc))
    if as_json:
        print(json.dumps(_run_dict(view), indent=2, default=str))
        return
    console.print(f"[bold]{view.reference}[/bold] {view.workflow} for {view.subject}: {view.state}")
    table = Table("task", "state", "attempts", "detail")
    for t in view.tasks:
        detail = t.error or (f"approval {t.approval_ref}" if t.approval_ref else json.dumps(t.outputs)[:60])
        table.add_row(t.title, t.state, str(t.attempts), detail)
    console.print(table)
    if view.report:
        console.print(f"reason: {view.report.get('reason')}")
        console.print(f"undone: {', '.join(view.report.get('undone', [])) or '—'}")
        for item in view.report.get("not_undone", []):
            console.print(f"[red]not undone: {item['title']} ({item['error']})[/red]")


@workflow_app.command("approve")
def approve(
    run: str,
    task: str,
    as_user: AsOpt,
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve.")] = False,
    note: Annotated[str, typer.Option(help="Why.")] = "",
) -> None:
    """Approve (or reject) a task that waits for a person; the run continues (or rolls back) at once."""
    from graphs.workflows.engine import WorkflowError

    with _engine() as engine:
        try:
            ref = engine.approval_for(run, task)
            engine.services.approvals.decide(ref, _user(engine, as_user), approve=not reject, note=note)
            engine.services.audit.append(as_user, "approval.decided", reference=ref, run=run, task=task,
                                         state="rejected" if reject else "approved")
            view = engine.advance(run)
        except (WorkflowError, ConciergeError) as exc:
            fail(getattr(exc, "user_message", None) or str(exc))
    console.print(f"{view.reference}: {view.state}")


@workflow_app.command("cancel")
def cancel(run: str, as_user: AsOpt, reason: Annotated[str, typer.Option(help="Why.")] = "cancelled") -> None:
    """Cancel a run: everything it did is undone, newest first."""
    from graphs.workflows.engine import WorkflowError

    with _engine() as engine:
        user = _user(engine, as_user)
        try:
            view = engine.get(run)
        except WorkflowError as exc:
            fail(str(exc))
        if user.id != view.started_by and not user.has_role("hr_staff"):
            fail("Only the person who started it or HR staff can cancel a workflow.")
        view = engine.cancel(run, user.id, reason)
    console.print(f"{view.reference}: {view.state}; undone: {', '.join(view.report.get('undone', [])) or '—'}")


@workflow_app.command("tick")
def tick() -> None:
    """Continue every unfinished run: resumes after a crash, runs scheduled tasks that are now due."""
    with _engine() as engine:
        views = engine.tick()
    for v in views:
        console.print(f"{v.reference}: {v.state}")
    if not views:
        console.print("Nothing to continue.")


def _run_dict(view) -> dict:
    return {
        "reference": view.reference, "workflow": view.workflow, "subject": view.subject, "state": view.state,
        "started_by": view.started_by, "report": view.report, "context": view.context,
        "tasks": [{"task": t.task_id, "title": t.title, "state": t.state, "attempts": t.attempts,
                   "outputs": t.outputs, "error": t.error, "approval": t.approval_ref} for t in view.tasks],
    }
