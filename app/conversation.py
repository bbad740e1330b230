"""The conversation service: one async entry point for every channel (web, Teams, CLI, tests).

``turn(user, thread_id, text)`` validates and redacts the message, runs one supervisor graph run on the
thread's checkpoint, and yields events: tokens as they are written, steps, then one final (or error) event.
Audit events are appended around every turn.
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph.state import CompiledStateGraph
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from app.checkpoint import open_checkpointer
from app.db.engine import Database
from app.errors import ConciergeError, InputRejected, ModelUnavailable, StorageError, new_reference
from app.events import ErrorEvent, Event, FinalEvent, StepEvent, TokenEvent
from app.identity import User
from app.models.ollama import unreachable_message
from app.models.registry import Models
from app.redaction import redact
from app.services.registry import Services
from app.settings import Settings
from graphs.context import Context
from graphs.routing.build import build_router
from graphs.routing.router import Router
from graphs.state import exposed_state
from graphs.supervisor import build_supervisor

log = logging.getLogger(__name__)


def clean_message(text: object, max_chars: int) -> str:
    """Normalise a message or raise InputRejected with a sentence the employee can act on."""
    if isinstance(text, bytes):
        raise InputRejected("bytes message", user_message="That looks like a file or binary data, not a message.")
    if text is None or not isinstance(text, str) or not text.strip():
        raise InputRejected("empty message", user_message="Your message was empty. What can I help you with?")
    if "\x00" in text or sum(1 for c in text if unicodedata.category(c) == "Cc" and c not in "\n\r\t") > 8:
        raise InputRejected(
            "binary message", user_message="That looks like binary data, not text. Please type your question."
        )
    text = unicodedata.normalize("NFC", text)
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co"))
    text = text.strip()
    if not text:
        raise InputRejected("empty message", user_message="Your message was empty. What can I help you with?")
    if len(text) > max_chars:
        raise InputRejected(
            f"message of {len(text)} chars",
            user_message=(
                f"Your message is {len(text):,} characters long; I can take up to {max_chars:,}. "
                "Please shorten it or summarise the problem — nothing in our conversation was lost."
            ),
        )
    return text


class ConversationService:
    """Runs turns. Build it with ``ConversationService.open(settings)``, or directly in tests."""

    def __init__(
        self, settings: Settings, graph: CompiledStateGraph, services: Services, models: Models, router: Router
    ):
        self.settings = settings
        self.graph = graph
        self.services = services
        self.models = models
        self.router = router
        self._workflows = None
        # Channels that can show a staff message live register here per thread (the web app's open chats).
        self._listeners: dict[str, Callable[[str, str], Awaitable[None]]] = {}

    def listen(self, thread_id: str, callback: Callable[[str, str], Awaitable[None]]) -> None:
        self._listeners[thread_id] = callback

    def unlisten(self, thread_id: str) -> None:
        self._listeners.pop(thread_id, None)

    async def deliver_staff_message(self, thread_id: str, author: str, text: str) -> bool:
        """Show a staff member's message in the employee's conversation if it is open now (and record it in the
        thread's history). Returns False when nobody is listening: the employee sees it when they next write."""
        callback = self._listeners.get(thread_id)
        if callback is None:
            return False
        try:
            await callback(author, text)
        except Exception:  # a closed socket: fall back to delivery at the next turn
            log.warning("live delivery to %s failed", thread_id, exc_info=True)
            self.unlisten(thread_id)
            return False
        await self.graph.aupdate_state(self._config(thread_id), {"messages": [AIMessage(text, name=author)]},
                                       as_node="wrapup")
        return True

    @property
    def workflows(self):
        """The workflow engine, built on first use (it loads and validates the definitions)."""
        if self._workflows is None:
            from graphs.workflows.runtime import build_engine

            self._workflows = build_engine(self.services)
        return self._workflows

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        models: Models | None = None,
        db: Database | None = None,
        router: Router | None = None,
    ) -> AsyncIterator[ConversationService]:
        """Open the database (migrated), the checkpointer, the router and the models for the app's lifetime."""
        own_db = db is None
        db = db or Database.open(settings)
        models = models or Models(settings)
        try:
            # Fitting the router embeds the examples once (then cached in data_dir/cache): off the event loop.
            router = router or await asyncio.to_thread(build_router, settings, models)
            async with open_checkpointer(settings) as saver:
                graph = build_supervisor().compile(checkpointer=saver)
                yield cls(settings, graph, Services.from_db(db, settings), models, router)
        finally:
            if own_db:
                db.close()

    def _config(self, thread_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id}}

    async def state(self, thread_id: str) -> dict[str, Any]:
        """The exposed conversation state of a thread (empty for a new thread)."""
        snap = await self.graph.aget_state(self._config(thread_id))
        return exposed_state(snap.values or {})

    async def history(self, user: User, thread_id: str) -> list[dict[str, str]]:
        """The thread's messages as ``{role, content}`` — only for its owner."""
        owner = self.services.conversations.owner(thread_id)
        if owner is not None and owner != user.id:
            return []
        snap = await self.graph.aget_state(self._config(thread_id))
        return [
            {"role": "user" if m.type == "human" else "assistant", "content": str(m.content)}
            for m in (snap.values or {}).get("messages", [])
        ]

    async def turn(self, user: User, thread_id: str, text: object, *, channel: str = "web") -> AsyncIterator[Event]:
        """Process one employee message and stream what happens."""
        audit = self.services.audit
        started = time.perf_counter()
        try:
            clean = clean_message(text, self.settings.max_message_chars)
        except InputRejected as exc:
            audit.append(user.id, "turn.rejected", thread_id=thread_id, reason=str(exc), channel=channel)
            yield ErrorEvent(exc.user_message, new_reference(), code=exc.code)
            return

        redaction = redact(clean)
        ref = new_reference()
        try:
            self.services.conversations.claim(thread_id, user.id, channel=channel, title=redaction.text[:80])
            audit.append(
                user.id,
                "turn.received",
                thread_id=thread_id,
                channel=channel,
                text=redaction.text,
                chars=len(clean),
                pii=list(redaction.kinds),
            )
            ctx = Context(
                settings=self.settings,
                user=user,
                thread_id=thread_id,
                services=self.services,
                models=self.models,
                router=self.router,
                redacted=redaction.kinds,
                workflows=self.workflows,
                deliver=self.deliver_staff_message,
            )
            inputs = {"messages": [HumanMessage(redaction.text)]}
            async for mode, chunk in self.graph.astream(
                inputs, self._config(thread_id), context=ctx, stream_mode=["custom", "updates"]
            ):
                for event in _translate(mode, chunk):
                    if isinstance(event, StepEvent) and event.name == "dispatch":
                        audit.append(user.id, "turn.routed", thread_id=thread_id, **event.detail)
                    yield event
            values = (await self.graph.aget_state(self._config(thread_id))).values
            # While a person owns the conversation the bot stays silent: no reply at all, not the previous one.
            reply = "" if values.get("silent") else _last_ai_text(values)
            state = exposed_state(values)
            audit.append(
                user.id,
                "turn.completed",
                thread_id=thread_id,
                route=state.get("route"),
                reply_chars=len(reply),
                ms=round((time.perf_counter() - started) * 1000),
            )
            yield FinalEvent(
                reply=reply,
                thread_id=thread_id,
                route=state.get("route"),
                state=state,
                actions=list(values.get("actions") or []),
                sources=list(values.get("sources") or []),
            )
        except (httpx.TransportError, ConnectionError) as exc:
            # A model server (Ollama) that died after start-up: say so in one sentence, not "something went wrong".
            log.warning("turn %s: model server unreachable: %s", ref, exc)
            self._audit_failure(user, thread_id, ref, ModelUnavailable.code)
            yield ErrorEvent(
                f"{model_unreachable_message(self.settings)} (reference {ref})", ref, ModelUnavailable.code
            )
        except ConciergeError as exc:
            log.warning("turn %s failed (%s): %s", ref, exc.code, exc)
            self._audit_failure(user, thread_id, ref, exc.code)
            yield ErrorEvent(f"{exc.user_message} (reference {ref})", ref, code=exc.code)
        except (OperationalError, SQLAlchemyError, OSError) as exc:
            log.exception("turn %s failed on storage", ref)
            err = StorageError(str(exc))
            self._audit_failure(user, thread_id, ref, err.code)
            yield ErrorEvent(f"{err.user_message} (reference {ref})", ref, code=err.code)
        except Exception:
            log.exception("turn %s failed", ref)
            self._audit_failure(user, thread_id, ref, "internal")
            yield ErrorEvent(f"Sorry, something went wrong on my side. Please try again (reference {ref}).", ref)

    def _audit_failure(self, user: User, thread_id: str, ref: str, code: str) -> None:
        try:
            self.services.audit.append(user.id, "turn.failed", thread_id=thread_id, reference=ref, code=code)
        except Exception:  # the audit store itself may be what failed; the log still has the reference
            log.exception("could not audit failure %s", ref)

    async def ask(self, user: User, thread_id: str, text: object, *, channel: str = "cli") -> dict[str, Any]:
        """Run one turn and collect it into a dict (for the CLI and tests)."""
        tokens: list[str] = []
        steps: list[dict[str, Any]] = []
        result: dict[str, Any] = {"thread_id": thread_id}
        async for event in self.turn(user, thread_id, text, channel=channel):
            if isinstance(event, TokenEvent):
                tokens.append(event.text)
            elif isinstance(event, StepEvent):
                steps.append({"name": event.name, **event.detail})
            elif isinstance(event, FinalEvent):
                result.update(
                    reply=event.reply,
                    route=event.route,
                    state=event.state,
                    sources=event.sources,
                    actions=event.actions,
                    error=None,
                )
            elif isinstance(event, ErrorEvent):
                result.update(reply=event.message, route=None, error=event.code, reference=event.reference)
        result["steps"] = steps
        result["streamed_tokens"] = len(tokens)
        return result


def model_unreachable_message(settings: Settings) -> str:
    for spec in (settings.model, settings.small_model):
        if spec.startswith("ollama:"):
            return unreachable_message(settings.ollama_base_url, spec.removeprefix("ollama:"))
    return ModelUnavailable.user_message


def _translate(mode: str, chunk: Any) -> list[Event]:
    if mode == "custom" and isinstance(chunk, dict):
        if chunk.get("type") == "token":
            return [TokenEvent(chunk["text"])]
        if chunk.get("type") == "step":
            return [StepEvent(chunk["name"], "end", chunk.get("detail", {}))]
        return []
    if mode == "updates" and isinstance(chunk, dict):
        events: list[Event] = []
        for node, update in chunk.items():
            if node.startswith("__"):
                continue
            detail = (update or {}).get("route_info", {}) if node == "dispatch" else {}
            events.append(StepEvent(node, "end", dict(detail)))
        return events
    return []


def _last_ai_text(values: dict[str, Any]) -> str:
    for message in reversed(values.get("messages", [])):
        if message.type == "ai":
            return str(message.content)
    return ""
