"""Chainlit's SQLAlchemy data layer on SQLite: the thread list and displayed messages of the web UI.

Our subclass fixes what the upstream layer assumes about PostgreSQL (JSON columns), refuses thread ids that
are not UUIDs (upstream pastes ids into SQL), redacts stored message text, and writes steps in order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from chainlit.data import queue_until_user_message
from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.types import ThreadDict

from app.redaction import redact
from app.settings import Settings

log = logging.getLogger("app.web")


#: The tables ``chainlit.data.sql_alchemy.SQLAlchemyDataLayer`` (2.12) reads and writes. Columns follow the
#: keys of ``Step.to_dict`` / ``Message.to_dict`` / ``Element.to_dict`` / ``Feedback``: the data layer inserts
#: every non-null key as a column, so a missing column silently loses the row.
CHAINLIT_DDL = """
CREATE TABLE IF NOT EXISTS users (
    "id" TEXT PRIMARY KEY,
    "identifier" TEXT NOT NULL UNIQUE,
    "metadata" TEXT NOT NULL DEFAULT '{}',
    "createdAt" TEXT
);
CREATE TABLE IF NOT EXISTS threads (
    "id" TEXT PRIMARY KEY,
    "createdAt" TEXT,
    "name" TEXT,
    "userId" TEXT,
    "userIdentifier" TEXT,
    "tags" TEXT,
    "metadata" TEXT,
    FOREIGN KEY ("userId") REFERENCES users("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS threads_user ON threads ("userId");
CREATE TABLE IF NOT EXISTS steps (
    "id" TEXT PRIMARY KEY,
    "name" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "threadId" TEXT NOT NULL,
    "parentId" TEXT,
    "streaming" BOOLEAN NOT NULL DEFAULT 0,
    "waitForAnswer" BOOLEAN,
    "isError" BOOLEAN,
    "metadata" TEXT,
    "tags" TEXT,
    "input" TEXT,
    "output" TEXT,
    "createdAt" TEXT,
    "command" TEXT,
    "modes" TEXT,
    "start" TEXT,
    "end" TEXT,
    "generation" TEXT,
    "showInput" TEXT,
    "language" TEXT,
    "indent" INT,
    "defaultOpen" BOOLEAN,
    "autoCollapse" BOOLEAN,
    FOREIGN KEY ("threadId") REFERENCES threads("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS steps_thread ON steps ("threadId");
CREATE TABLE IF NOT EXISTS elements (
    "id" TEXT PRIMARY KEY,
    "threadId" TEXT,
    "type" TEXT,
    "url" TEXT,
    "chainlitKey" TEXT,
    "name" TEXT NOT NULL,
    "display" TEXT,
    "objectKey" TEXT,
    "size" TEXT,
    "page" INT,
    "language" TEXT,
    "forId" TEXT,
    "mime" TEXT,
    "props" TEXT,
    "autoPlay" BOOLEAN,
    "playerConfig" TEXT,
    FOREIGN KEY ("threadId") REFERENCES threads("id") ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS feedbacks (
    "id" TEXT PRIMARY KEY,
    "forId" TEXT NOT NULL,
    "threadId" TEXT NOT NULL,
    "value" INT NOT NULL,
    "comment" TEXT,
    FOREIGN KEY ("threadId") REFERENCES threads("id") ON DELETE CASCADE
);
"""


def ensure_chainlit_schema(path: Path) -> None:
    """Create Chainlit's tables in the SQLite file at ``path`` (idempotent) and switch it to WAL mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(CHAINLIT_DDL)
        con.commit()
    finally:
        con.close()


def is_thread_id(value: object) -> bool:
    """Chainlit thread ids are UUIDs; anything else is refused before it reaches SQL or the graph."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _json_or_value(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _redacted(value: Any) -> Any:
    return redact(value).text if isinstance(value, str) and value else value


#: The undecorated upstream method (ours re-applies the queue-until-first-message decorator around it).
_UPSTREAM_CREATE_STEP = SQLAlchemyDataLayer.create_step.__wrapped__  # type: ignore[attr-defined]


class ConciergeDataLayer(SQLAlchemyDataLayer):
    """``SQLAlchemyDataLayer`` made safe for SQLite and for our privacy rules.

    * lists/dicts are stored as JSON text (SQLite cannot bind them; upstream assumes PostgreSQL) and
      decoded again when threads are read;
    * thread ids must be UUIDs (upstream builds one query by string concatenation of thread ids);
    * message text and thread names are redacted like everything else we store;
    * step writes happen in the order Chainlit issued them.
    """

    async def execute_sql(self, query: str, parameters: dict) -> list[dict[str, Any]] | int | None:
        params = {k: json.dumps(v) if isinstance(v, (list, dict, tuple)) else v for k, v in (parameters or {}).items()}
        return await super().execute_sql(query, params)

    async def update_thread(self, thread_id: str, name: str | None = None, *args: Any, **kwargs: Any):
        if not is_thread_id(thread_id):
            log.warning("refusing to store thread with invalid id %r", str(thread_id)[:80])
            return None
        return await super().update_thread(thread_id, _redacted(name), *args, **kwargs)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._step_writes = asyncio.Lock()

    @queue_until_user_message()
    async def create_step(self, step_dict):  # type: ignore[override]
        """Store a step. Writes are serialised in call order: Chainlit fires create and update of the same
        step as separate tasks, and without this the (empty) create can land after the update."""
        if not is_thread_id(step_dict.get("threadId")):
            log.warning("refusing to store step for invalid thread id %r", str(step_dict.get("threadId"))[:80])
            return None
        step_dict = dict(step_dict)
        for key in ("input", "output"):
            step_dict[key] = _redacted(step_dict.get(key))
        async with self._step_writes:
            return await _UPSTREAM_CREATE_STEP(self, step_dict)

    async def get_thread(self, thread_id: str) -> ThreadDict | None:
        if not is_thread_id(thread_id):
            return None
        return await super().get_thread(thread_id)

    async def get_thread_author(self, thread_id: str) -> str:
        if not is_thread_id(thread_id):
            raise ValueError("invalid thread id")
        return await super().get_thread_author(thread_id)

    async def delete_thread(self, thread_id: str):
        if is_thread_id(thread_id):
            await super().delete_thread(thread_id)

    async def get_all_user_threads(self, user_id: str | None = None, thread_id: str | None = None):
        if thread_id is not None and not is_thread_id(thread_id):
            thread_id = None
        threads = await super().get_all_user_threads(user_id=user_id, thread_id=thread_id)
        for thread in threads or []:
            thread["metadata"] = _json_or_value(thread.get("metadata")) or {}
            thread["tags"] = _json_or_value(thread.get("tags"))
            for step in thread.get("steps", []):
                for key in ("metadata", "generation", "tags", "modes"):
                    if key in step:
                        step[key] = _json_or_value(step[key])  # type: ignore[literal-required]
        return threads


def chainlit_db_path(settings: Settings) -> Path:
    return (settings.data_dir / "chainlit.db").resolve()
