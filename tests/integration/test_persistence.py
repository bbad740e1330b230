"""A conversation survives a restart of the service (new graph, new connections) and of the process,
on SQLite and on PostgreSQL — with the real checkpointers and databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from app.conversation import ConversationService
from app.db.engine import Database
from app.models.fake import FakeChatModel
from app.models.registry import Models
from app.services.seed import seed
from tests.conftest import REPO


@pytest.fixture
def backend_settings(backend_settings):
    db = Database.open(backend_settings)
    seed(db)
    db.close()
    return backend_settings


async def test_thread_continues_after_service_restart(backend_settings) -> None:
    first = FakeChatModel(responses=["Hi Alice, what can I do for you?"])
    async with ConversationService.open(backend_settings, models=Models(backend_settings, answer_model=first)) as svc:
        alice = svc.services.people.get("alice")
        out = await svc.ask(alice, "thread-r", "hello")
        assert out["reply"] == "Hi Alice, what can I do for you?"

    second = FakeChatModel(responses=["You are welcome."])
    async with ConversationService.open(backend_settings, models=Models(backend_settings, answer_model=second)) as svc:
        alice = svc.services.people.get("alice")
        out = await svc.ask(alice, "thread-r", "thanks")
        assert out["state"]["turn_count"] == 2
        seen = [(m.type, m.content) for m in second.calls[-1][1:]]
        assert seen == [
            ("human", "hello"),
            ("ai", "Hi Alice, what can I do for you?"),
            ("human", "thanks"),
        ]
        types = [e.event_type for e in svc.services.audit.events(thread_id="thread-r")]
        assert types.count("turn.completed") == 2


def test_thread_continues_in_a_new_process(backend_settings) -> None:
    env = {
        **os.environ,
        "CONCIERGE_DATA_DIR": str(backend_settings.data_dir),
        "CONCIERGE_MODEL": "fake",
        "CONCIERGE_SMALL_MODEL": "fake",
    }
    if backend_settings.database_url:
        env["CONCIERGE_DATABASE_URL"] = backend_settings.database_url
    cmd = [sys.executable, "-m", "app.cli", "ask", "--json", "--thread", "proc-1"]
    first = subprocess.run([*cmd, "hello"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    second = subprocess.run([*cmd, "thanks"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    data = json.loads(second.stdout)
    assert data["state"]["turn_count"] == 2 and data["thread_id"] == "proc-1"
