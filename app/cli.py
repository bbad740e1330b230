"""The ``concierge`` command: run, ask, chat, seed, prepare, models."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.cli_common import JsonOpt, UserOpt, console, err, fail, settings_or_exit
from app.errors import ConciergeError
from app.settings import Settings

app = typer.Typer(
    help="Concierge — employee IT and HR service assistant.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def seed() -> None:
    """Create the demo departments and users (idempotent)."""
    from app.db.engine import Database
    from app.services.seed import DEMO_USERS, demo_password
    from app.services.seed import seed as run_seed

    settings = settings_or_exit()
    db = Database.open(settings)
    created = run_seed(db)
    db.close()
    console.print(f"Seeded {created['departments']} new departments and {created['users']} new users.")
    table = Table("user", "name", "roles", "department")
    for u in DEMO_USERS:
        table.add_row(u.id, u.name, ", ".join(("employee", *u.roles)), u.department)
    console.print(table)
    console.print(f"Demo password for all users: [bold]{demo_password()}[/bold]")


@app.command()
def users(as_json: JsonOpt = False) -> None:
    """List the people in the directory."""
    from app.db.engine import Database
    from app.services.directory import SqlPeople

    settings = settings_or_exit()
    db = Database.open(settings)
    people = SqlPeople(db).all()
    db.close()
    if as_json:
        print(json.dumps([p.to_dict() for p in people], indent=2))
        return
    table = Table("id", "name", "roles", "department", "location")
    for p in people:
        table.add_row(p.id, p.name, ", ".join(p.roles), p.department or "", p.location or "")
    console.print(table)


@app.command()
def prepare(
    skip_models: Annotated[bool, typer.Option(help="Do not assemble/check the language models.")] = False,
) -> None:
    """Migrate the database, seed demo data and prepare the embedded models (idempotent)."""
    from app.db.engine import Database
    from app.services.seed import seed as run_seed

    settings = settings_or_exit()
    started = time.perf_counter()
    db = Database.open(settings)
    run_seed(db)
    db.close()
    console.print(f"Database ready ({settings.sqlalchemy_url.split('://')[0]}).")
    _ingest_if_stale(settings)
    if not skip_models:
        _check_models(settings)
    console.print(f"Prepared in {time.perf_counter() - started:.1f}s.")


def _ingest_if_stale(settings: Settings) -> None:
    """Bring the knowledge base in line with knowledge/docs (cheap when nothing changed)."""
    from knowledge.ingest import ingest as run_ingest

    with console.status("Checking the knowledge base…"):
        report = run_ingest(settings)
    if report.changed:
        console.print(
            f"Knowledge base: {len(report.added)} added, {len(report.updated)} updated, "
            f"{len(report.removed)} removed ({report.total_chunks} chunks)."
        )
    else:
        console.print(f"Knowledge base up to date ({report.total_chunks} chunks).")
    for file, reason in report.errors:
        err.print(f"[yellow]skipped {file}: {reason}[/yellow]")


def _check_models(settings: Settings) -> None:
    """Resolve both configured models now, so a dead Ollama or a missing file fails fast, in one sentence."""
    from app.models.factory import get_chat_model

    for role, spec in (("answer", settings.model), ("small", settings.small_model)):
        try:
            with console.status(f"Preparing {role} model {spec}…"):
                get_chat_model(spec, settings)
        except ConciergeError as exc:
            fail(exc.user_message if "ollama" in spec else str(exc), 2)
        console.print(f"{role.capitalize()} model ready: {spec}")


@app.command()
def run() -> None:
    """Prepare everything and start the web UI (Chainlit) on the configured host and port."""
    from app.web import run_web

    prepare(skip_models=False)
    settings = settings_or_exit()
    console.print(f"Starting Concierge on http://{settings.host}:{settings.port} …")
    raise typer.Exit(run_web(settings))


async def _ask(settings: Settings, user_id: str, thread_id: str, text: str, stream: bool) -> dict:
    from app.conversation import ConversationService
    from app.events import TokenEvent

    async with ConversationService.open(settings) as svc:
        user = svc.services.people.get(user_id)
        if user is None:
            fail(f"No user {user_id!r} in the directory; run `concierge seed` or pick one from `concierge users`.")
        if not stream:
            return await svc.ask(user, thread_id, text, channel="cli")
        result: dict = {}
        async for event in svc.turn(user, thread_id, text, channel="cli"):
            if isinstance(event, TokenEvent):
                sys.stdout.write(event.text)
                sys.stdout.flush()
            else:
                result[event.type] = event
        return result


@app.command()
def ask(
    text: Annotated[str, typer.Argument(help="The message to send.")],
    user: UserOpt = "alice",
    thread: Annotated[str | None, typer.Option(help="Continue this thread id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer one turn from the terminal."""
    settings = settings_or_exit()
    thread_id = thread or f"cli-{uuid.uuid4().hex[:12]}"
    result = asyncio.run(_ask(settings, user, thread_id, text, stream=False))
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    else:
        console.print(result["reply"])
        console.print(f"[dim]route={result.get('route')} thread={thread_id}[/dim]")
    if result.get("error") and result["error"] != "input_rejected":
        raise typer.Exit(1)


@app.command()
def chat(
    user: UserOpt = "alice",
    thread: Annotated[str | None, typer.Option(help="Continue this thread id.")] = None,
) -> None:
    """Interactive chat in the terminal, over the same conversation service as the web UI."""
    settings = settings_or_exit()
    thread_id = thread or f"cli-{uuid.uuid4().hex[:12]}"
    asyncio.run(_chat(settings, user, thread_id))


async def _chat(settings: Settings, user_id: str, thread_id: str) -> None:
    from app.conversation import ConversationService
    from app.events import ErrorEvent, StepEvent, TokenEvent

    async with ConversationService.open(settings) as svc:
        user = svc.services.people.get(user_id)
        if user is None:
            fail(f"No user {user_id!r} in the directory; run `concierge seed`.")
        console.print(f"[bold]Concierge[/bold] — signed in as {user.name}. Thread {thread_id}. Ctrl-D to quit.")
        loop = asyncio.get_running_loop()
        while True:
            try:
                text = await loop.run_in_executor(None, lambda: input("you> "))
            except (EOFError, KeyboardInterrupt):
                console.print()
                return
            if not text.strip():
                continue
            sys.stdout.write("concierge> ")
            async for event in svc.turn(user, thread_id, text, channel="cli"):
                if isinstance(event, TokenEvent):
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
                elif isinstance(event, StepEvent) and event.name == "route":
                    d = event.detail
                    console.print(
                        f"[dim]\\[route {d.get('route')} {d.get('confidence', 0):.2f} {d.get('layer')}][/dim] ",
                        end="",
                    )
                elif isinstance(event, ErrorEvent):
                    console.print(f"[yellow]{event.message}[/yellow]", end="")
            sys.stdout.write("\n")


eval_app = typer.Typer(help="Evaluation sets: print metrics tables (or --json).", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@app.command()
def ingest(
    path: Annotated[Path | None, typer.Argument(help="A folder or file of articles (default: knowledge/docs).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest knowledge articles into Chroma: unchanged skipped, changed replaced, deleted removed."""
    from rich.progress import Progress

    from knowledge.ingest import DOCS_DIR
    from knowledge.ingest import ingest as run_ingest

    settings = settings_or_exit()
    root = path or DOCS_DIR
    if not root.exists():
        fail(f"{root} does not exist.")
    from knowledge.documents import iter_document_paths

    total = len(iter_document_paths(root))
    with Progress(console=err, transient=True, disable=as_json) as bar:
        task = bar.add_task("Ingesting", total=total)
        report = run_ingest(settings, root, progress=lambda name: bar.update(task, advance=1, description=name))
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        table = Table("added", "updated", "unchanged", "removed", "chunks written", "chunks in store", "errors")
        table.add_row(
            *(str(len(x)) for x in (report.added, report.updated, report.unchanged, report.removed)),
            str(report.chunks),
            str(report.total_chunks),
            str(len(report.errors)),
        )
        console.print(table)
        for file, reason in report.errors:
            err.print(f"[yellow]skipped {file}: {reason}[/yellow]")
    if report.errors:
        raise typer.Exit(1)


@eval_app.command("retrieval")
def eval_retrieval(
    file: Annotated[Path | None, typer.Argument(help="Questions JSONL (default: the shipped set).")] = None,
    as_json: JsonOpt = False,
    recalibrate: Annotated[
        bool, typer.Option("--calibrate", help="Refit the no-answer gate on FILE and save it first.")
    ] = False,
) -> None:
    """Recall@1/3/5, MRR@10, nDCG@10, no-answer precision/recall and latency for dense, BM25 and hybrid."""
    from knowledge.evaluation import EVAL_FILE, calibrate, evaluate, load_questions
    from knowledge.retrieval import Retriever

    settings = settings_or_exit()
    questions = load_questions(file or EVAL_FILE)
    retriever = Retriever(settings)
    if retriever.collection.count() == 0:
        fail("The knowledge base is empty: run `concierge ingest` first.")
    if recalibrate:
        with err.status("Calibrating the no-answer gate…"):
            gate, report = calibrate(retriever, questions)
        gate.save(**report)
        retriever.gate = gate
        err.print(
            f"No-answer gate saved (threshold {gate.threshold:.2f}); cross-validated on {report['questions']} "
            f"questions: precision {report['cv_precision']:.3f}, recall {report['cv_recall']:.3f}, "
            f"F1 {report['cv_f1']:.3f}"
        )
    with err.status("Evaluating…"):
        result = evaluate(retriever, questions)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    methods = result["methods"]
    table = Table(title=f"Retrieval on {result['questions']} questions ({result['unanswerable']} unanswerable)")
    table.add_column("metric")
    for name in methods:
        table.add_column(name, justify="right")
    for metric in next(iter(methods.values())):
        fmt = "{:.1f}" if metric.endswith("_ms") else "{:.3f}"
        table.add_row(metric, *(fmt.format(m[metric]) for m in methods.values()))
    console.print(table)
    console.print(f"Access-control leaks (employee retrieving restricted chunks): {result['access_leaks']}")


@eval_app.command("answers")
def eval_answers(
    n: Annotated[int, typer.Option(help="How many answerable questions to ask.")] = 30,
    as_json: JsonOpt = False,
) -> None:
    """Answer-level check with the real model: share of answers whose every number/date is in the cited chunks."""
    from knowledge.answer_eval import evaluate_answers
    from knowledge.evaluation import EVAL_FILE, load_questions

    settings = settings_or_exit()

    async def run() -> dict:
        from app.conversation import ConversationService

        async with ConversationService.open(settings) as svc:
            return await evaluate_answers(svc, load_questions(EVAL_FILE), n=n)

    with err.status(f"Asking {n} questions…"):
        result = asyncio.run(run())
    if as_json:
        print(json.dumps(result, indent=2))
        return
    table = Table("metric", "value", title=f"Answers to {result['questions']} knowledge questions")
    table.add_row("answered (not 'no answer')", str(result["answered"]))
    table.add_row("every number/date in the cited chunks", f"{result['faithful_share']:.1%}")
    table.add_row("contains the expected facts", f"{result['answer_facts_share']:.1%}")
    table.add_row("modes", ", ".join(f"{k} {v}" for k, v in sorted(result["modes"].items())))
    table.add_row("median seconds per answer", f"{result['seconds_median']:.1f}")
    console.print(table)


def _router(settings: Settings, tiebreak: bool | None = None):
    from graphs.routing.build import build_router
    from graphs.routing.triggers import RoutingConfigError

    if tiebreak is not None:
        settings = settings.model_copy(update={"routing_tiebreak": tiebreak})
    try:
        from app.models.registry import Models

        return build_router(settings, Models(settings))
    except RoutingConfigError as exc:
        fail(str(exc), 2)


@app.command()
def route(
    text: Annotated[str, typer.Argument(help="The message to route.")],
    as_json: JsonOpt = False,
    tiebreak: Annotated[bool | None, typer.Option(help="Use the small-LM tie-break (default: settings).")] = None,
) -> None:
    """Route one message: route, confidence, deciding layer and alternatives."""
    settings = settings_or_exit()
    decision = _router(settings, tiebreak).decide(text)
    data = decision.to_dict()
    if as_json:
        print(json.dumps(data, indent=2))
        return
    console.print(
        f"[bold]{data['route']}[/bold]  confidence {data['confidence']:.2f}  layer {data['layer']}"
        + (f"  rule {data['rule']}" if data["rule"] else "")
        + ("  (would ask to clarify)" if data["clarify"] else "")
    )
    for alt in data["alternatives"]:
        console.print(f"  {alt['route']:<15} {alt['confidence']:.2f}")


@eval_app.command("routing")
def eval_routing(
    file: Annotated[
        Path | None, typer.Argument(help="JSONL of {text, expected} (default: tests/data/routing_eval.jsonl).")
    ] = None,
    train: Annotated[
        Path | None, typer.Option(help="Few-shot mode: build the classifier from this JSONL only.")
    ] = None,
    test: Annotated[Path | None, typer.Option(help="Few-shot mode: evaluate on this JSONL.")] = None,
    tiebreak: Annotated[bool | None, typer.Option(help="Use the small-LM tie-break (default: settings).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Accuracy, macro-F1, per-route precision/recall, out-of-scope recall, confusion matrix, latency."""
    from graphs.routing.evaluation import evaluate_few_shot, evaluate_router, load_labelled

    settings = settings_or_exit()
    if (train is None) != (test is None):
        fail("Few-shot mode needs both --train and --test.", 2)
    for path in (file, train, test):
        if path is not None and not path.is_file():
            fail(f"{path} does not exist.", 2)
    with err.status("Evaluating routing…"):
        if train is not None and test is not None:
            result = evaluate_few_shot(load_labelled(train), load_labelled(test))
        else:
            default = Path(__file__).resolve().parent.parent / "tests" / "data" / "routing_eval.jsonl"
            result = evaluate_router(_router(settings, tiebreak), load_labelled(file or default))
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _print_routing(result)


def _print_routing(result: dict) -> None:
    summary = Table(title=f"Routing on {result['n']} messages")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for key in ("accuracy", "macro_f1", "oos_recall", "in_scope_accuracy", "in_scope_rejection_rate", "clarify_rate"):
        if key in result:
            summary.add_row(key, f"{result[key]:.3f}")
    summary.add_row("latency p50 / p95 (ms)", f"{result['latency_p50_ms']:.1f} / {result['latency_p95_ms']:.1f}")
    if "layers" in result:
        summary.add_row("decided by layer", ", ".join(f"{k} {v}" for k, v in sorted(result["layers"].items())))
    console.print(summary)
    per = Table("route", "precision", "recall", "f1", "support", title="Per route")
    for label, m in sorted(result["per_route"].items()):
        per.add_row(label, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    console.print(per)
    labels = sorted(result["confusion"])
    if len(labels) <= 12:
        predicted = sorted({p for row in result["confusion"].values() for p in row})
        conf = Table("expected \\ predicted", *[p[:8] for p in predicted], title="Confusion matrix")
        for e in labels:
            conf.add_row(e, *[str(result["confusion"][e].get(p, "")) for p in predicted])
        console.print(conf)


@app.command("test-conversations")
def test_conversations(
    paths: Annotated[list[Path], typer.Argument(help="YAML scripts or folders of them.")],
    as_json: JsonOpt = False,
) -> None:
    """Run conversation scripts; exit code 1 if any step fails (printing which step and why)."""
    from app.convtests import ScriptError, script_paths

    settings = settings_or_exit()
    files = script_paths(paths)
    if not files:
        fail("No conversation scripts found.", 2)
    try:
        results = asyncio.run(_run_scripts(settings, files))
    except ScriptError as exc:
        fail(str(exc), 2)
    failed = [r for r in results if not r.passed]
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "path": r.path,
                        "passed": r.passed,
                        "steps": [
                            {
                                "step": s.index,
                                "user": s.message,
                                "passed": s.passed,
                                "route": s.route,
                                "reply": s.reply,
                                "failures": s.failures,
                            }
                            for s in r.steps
                        ],
                    }
                    for r in results
                ],
                indent=2,
            )
        )
    else:
        for r in results:
            mark = "[green]PASS[/green]" if r.passed else "[red]FAIL[/red]"
            console.print(f"{mark} {r.name} ({r.path})")
            for s in r.steps:
                if not s.passed:
                    console.print(f"    step {s.index} ({s.message!r}):")
                    for f in s.failures:
                        console.print(f"      - {f}")
        console.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)


async def _run_scripts(settings: Settings, files: list[Path]):
    from app.conversation import ConversationService
    from app.convtests import run_script

    async with ConversationService.open(settings) as svc:
        return [await run_script(svc, f) for f in files]


def _register_subcommands() -> None:
    from app.cli_itsm import approvals_app, handoffs_app, outbox, tickets_app
    from app.cli_workflow import workflow_app

    app.add_typer(workflow_app, name="workflow")
    app.add_typer(tickets_app, name="tickets")
    app.add_typer(approvals_app, name="approvals")
    app.add_typer(handoffs_app, name="handoffs")
    app.command()(outbox)


_register_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
