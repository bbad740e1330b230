"""Child process for the crash test: starts an onboarding run whose equipment order hangs, so the parent can
SIGKILL the process mid-run. Not a test module (pytest does not collect it)."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

from app.db.engine import Database
from app.services.registry import Services
from app.settings import load_settings
from graphs.workflows.actions import default_actions
from graphs.workflows.runtime import build_engine

CONTEXT = {"employee": {
    "person_id": "maria.lopez", "full_name": "Maria Lopez", "first_name": "Maria", "department": "finance",
    "title": "Accountant", "manager_id": "frank", "type": "employee", "start_date": "2031-03-03",
    "location": "Manchester", "remote": False, "equipment_profile": "finance",
}}


def main(data_dir: str) -> None:
    settings = load_settings(data_dir=Path(data_dir), model="fake", small_model="fake", _env_file=None)
    services = Services.from_db(Database.open(settings), settings)

    def hang(spec):
        if spec.name != "assets.order":
            return spec

        def run(call):
            time.sleep(600)  # the parent kills us here
            return spec.run(call)

        return replace(spec, run=run)

    engine = build_engine(services, actions=default_actions().wrapped(hang))
    # The per-attempt timeout must not rescue the hung step before the kill.
    for wf in engine.definitions.values():
        for task_id, task in list(wf.tasks.items()):
            wf.tasks[task_id] = replace(task, timeout_s=900)
    engine.start("onboarding", CONTEXT, started_by="hannah", subject="Maria Lopez", idempotency_key="crash-test")


if __name__ == "__main__":
    main(sys.argv[1])
