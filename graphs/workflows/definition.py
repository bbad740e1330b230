"""Workflow definitions: one YAML file per workflow, validated on load.

A definition is a graph of tasks. Each task names an ``action`` (see ``actions.py``) and, if that action
changes anything, a ``compensation`` that undoes it. Edges ``from → to`` carry an optional ``when`` predicate
(``expr.py``). Validation names the file, the task and the problem: unknown tasks or actions, cycles,
side-effecting tasks without a compensation, unreachable tasks, bad predicates, bad approval settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from graphs.workflows.expr import ExpressionError, Predicate, compile_predicate

DEFINITIONS_DIR = Path(__file__).resolve().parent / "definitions"


class DefinitionError(ValueError):
    """A workflow file is invalid; the message names the file, the task and the problem."""


@dataclass(frozen=True)
class Approval:
    role: str  # who may decide (a directory role)
    on_reject: str = "rollback"  # rollback | skip


@dataclass(frozen=True)
class TaskDef:
    id: str
    title: str
    owner: str
    action: str | None  # None: an approval-only task
    compensation: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 30.0
    retries: int = 2
    backoff_s: float = 0.5
    approval: Approval | None = None
    join: str = "any"  # any | all
    not_before: str | None = None  # a context path holding a date: the task waits until that day


@dataclass(frozen=True)
class EdgeDef:
    source: str
    target: str
    when: Predicate | None = None


@dataclass(frozen=True)
class WorkflowDef:
    name: str
    version: int
    title: str
    description: str
    tasks: dict[str, TaskDef]
    edges: tuple[EdgeDef, ...]
    path: Path | None = None

    def incoming(self, task_id: str) -> list[EdgeDef]:
        return [e for e in self.edges if e.target == task_id]

    def outgoing(self, task_id: str) -> list[EdgeDef]:
        return [e for e in self.edges if e.source == task_id]

    def start_tasks(self) -> list[str]:
        targets = {e.target for e in self.edges}
        return [t for t in self.tasks if t not in targets]


_TASK_KEYS = {"id", "title", "owner", "action", "compensation", "inputs", "timeout_s", "retries", "backoff_s",
              "approval", "join", "not_before"}


def load_definition(path: Path, *, actions: dict[str, Any] | None = None) -> WorkflowDef:
    """Parse and validate one file. ``actions`` (name → spec with ``side_effect``) enables action checks."""
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DefinitionError(f"{where}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise DefinitionError(f"{where}: expected a mapping with name, version, tasks and edges")
    for key in ("name", "version", "tasks"):
        if key not in data:
            raise DefinitionError(f"{where}: missing '{key}'")
    if not isinstance(data["tasks"], list) or not data["tasks"]:
        raise DefinitionError(f"{where}: 'tasks' must be a non-empty list")

    tasks: dict[str, TaskDef] = {}
    for i, raw in enumerate(data["tasks"], 1):
        tasks_id = raw.get("id") if isinstance(raw, dict) else None
        if not tasks_id:
            raise DefinitionError(f"{where}: task #{i}: missing 'id'")
        t_where = f"{where}: task '{tasks_id}'"
        unknown = set(raw) - _TASK_KEYS
        if unknown:
            raise DefinitionError(f"{t_where}: unknown keys {sorted(unknown)}")
        if tasks_id in tasks:
            raise DefinitionError(f"{t_where}: defined twice")
        approval = None
        if raw.get("approval") is not None:
            a = raw["approval"]
            if not isinstance(a, dict) or not a.get("role"):
                raise DefinitionError(f"{t_where}: approval needs a 'role'")
            if a.get("on_reject", "rollback") not in ("rollback", "skip"):
                raise DefinitionError(f"{t_where}: approval on_reject must be 'rollback' or 'skip'")
            approval = Approval(str(a["role"]), str(a.get("on_reject", "rollback")))
        if raw.get("action") is None and approval is None:
            raise DefinitionError(f"{t_where}: needs an 'action' (or an 'approval' for an approval-only task)")
        if raw.get("join", "any") not in ("any", "all"):
            raise DefinitionError(f"{t_where}: join must be 'any' or 'all'")
        try:
            task = TaskDef(
                id=str(tasks_id), title=str(raw.get("title", tasks_id)), owner=str(raw.get("owner", "concierge")),
                action=raw.get("action"), compensation=raw.get("compensation"), inputs=dict(raw.get("inputs") or {}),
                timeout_s=float(raw.get("timeout_s", 30)), retries=int(raw.get("retries", 2)),
                backoff_s=float(raw.get("backoff_s", 0.5)), approval=approval, join=str(raw.get("join", "any")),
                not_before=raw.get("not_before"),
            )
        except (TypeError, ValueError) as exc:
            raise DefinitionError(f"{t_where}: {exc}") from None
        if task.retries < 0 or task.timeout_s <= 0:
            raise DefinitionError(f"{t_where}: retries must be >= 0 and timeout_s > 0")
        if actions is not None:
            for kind, name in (("action", task.action), ("compensation", task.compensation)):
                if name is not None and name not in actions:
                    raise DefinitionError(f"{t_where}: unknown {kind} '{name}'")
            if task.action and actions[task.action].side_effect and not task.compensation:
                raise DefinitionError(f"{t_where}: action '{task.action}' changes things but has no compensation")
        tasks[task.id] = task

    edges = []
    for i, raw in enumerate(data.get("edges") or [], 1):
        if not isinstance(raw, dict) or "from" not in raw or "to" not in raw:
            raise DefinitionError(f"{where}: edge #{i}: needs 'from' and 'to'")
        src, dst = str(raw["from"]), str(raw["to"])
        for end in (src, dst):
            if end not in tasks:
                raise DefinitionError(f"{where}: edge #{i} ({src} → {dst}): unknown task '{end}'")
        predicate = None
        if raw.get("when") is not None:
            try:
                predicate = compile_predicate(str(raw["when"]))
            except ExpressionError as exc:
                raise DefinitionError(f"{where}: edge #{i} ({src} → {dst}): bad predicate: {exc}") from None
        edges.append(EdgeDef(src, dst, predicate))

    wf = WorkflowDef(str(data["name"]), int(data["version"]), str(data.get("title", data["name"])),
                     str(data.get("description", "")), tasks, tuple(edges), path)
    _check_graph(wf, where)
    return wf


def _check_graph(wf: WorkflowDef, where: str) -> None:
    starts = wf.start_tasks()
    if not starts:
        raise DefinitionError(f"{where}: no start task (every task has a predecessor, so there is a cycle)")
    # Cycles: depth-first search with colours, naming one task on the cycle.
    colour: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        colour[node] = 1
        for edge in wf.outgoing(node):
            if colour.get(edge.target) == 1:
                cycle = " → ".join([*trail[trail.index(edge.target):], edge.target]) if edge.target in trail else ""
                raise DefinitionError(f"{where}: task '{edge.target}': part of a cycle ({cycle or node})")
            if colour.get(edge.target) is None:
                visit(edge.target, [*trail, edge.target])
        colour[node] = 2

    for start in starts:
        visit(start, [start])
    unreachable = [t for t in wf.tasks if t not in colour]
    if unreachable:
        raise DefinitionError(f"{where}: task '{unreachable[0]}': unreachable from the start tasks {starts}")


def load_all(directory: Path = DEFINITIONS_DIR, *, actions: dict[str, Any] | None = None) -> dict[str, WorkflowDef]:
    """Every ``*.yaml`` workflow in a directory, by name (two files with one name is an error)."""
    out: dict[str, WorkflowDef] = {}
    for path in sorted(directory.glob("*.yaml")):
        wf = load_definition(path, actions=actions)
        if wf.name in out:
            raise DefinitionError(f"{path}: workflow name '{wf.name}' is also used by {out[wf.name].path}")
        out[wf.name] = wf
    return out
