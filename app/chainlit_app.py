"""The Chainlit web channel: sign-in, chat profiles, streaming replies and resumable threads.

Started by ``app.web.run_web`` as ``chainlit run app/chainlit_app.py``. Everything the employee sees comes
from ``ConversationService.turn`` events; this module only renders them.

* Sign-in: the password form checks the people directory (``SqlPeople.authenticate``). When
  ``CONCIERGE_TRUST_PROXY_HEADER`` names a header (e.g. ``X-Forwarded-User``), a reverse proxy that already
  authenticated the employee can pass the user id (or e-mail) in it instead. Roles always come from the
  directory, never from the browser.
* Threads: Chainlit's SQLAlchemy data layer keeps the thread list and the messages shown in the sidebar in
  ``data_dir/chainlit.db`` (SQLite via aiosqlite). The Chainlit thread id *is* the LangGraph thread id, so
  opening an old thread (or reloading the page) continues the same conversation state.
* One ``ConversationService`` per process, opened on first use and shared by every session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from contextlib import AsyncExitStack
from functools import lru_cache
from typing import Any

import chainlit as cl
from chainlit.config import config
from chainlit.context import init_ws_context
from chainlit.data import get_data_layer
from chainlit.types import ThreadDict

from app.chainlit_data import ConciergeDataLayer, chainlit_db_path, ensure_chainlit_schema, is_thread_id
from app.conversation import ConversationService
from app.errors import new_reference
from app.events import ErrorEvent, FinalEvent, StepEvent, TokenEvent
from app.identity import User
from app.redaction import redact
from app.settings import Settings, load_settings

log = logging.getLogger("app.web")

#: Name of the env var that switches on proxy-header sign-in (its value is the header to trust).
PROXY_HEADER_ENV = "CONCIERGE_TRUST_PROXY_HEADER"

#: Chat profiles: ``employee`` for everyone, the others only for holders of the role of the same name.
PROFILES: dict[str, tuple[str, str]] = {
    "employee": ("Employee", "Ask IT and HR questions, report problems, request leave or access."),
    "manager": ("Manager", "Everything an employee can do, plus questions about your team."),
    "hr_staff": ("HR staff", "Work on HR cases and policies."),
    "it_agent": ("IT agent", "Work on IT tickets and service desk tasks."),
}
DEFAULT_PROFILE = "employee"

GENERIC_FAILURE = "Sorry, something went wrong on my side. Please try again (reference {ref})."


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment prepared by ``app.web`` (read once per process).

    ``app.web`` exports every setting (the parent already read ``.env``), so ``.env`` is not read again.
    """
    if os.environ.get("CONCIERGE_SETTINGS_EXPORTED") == "1":
        return load_settings(_env_file=None)
    return load_settings()


# --------------------------------------------------------------------------------------------------
# The conversation service: one per process, opened on first use.
# --------------------------------------------------------------------------------------------------

_service: ConversationService | None = None
_service_stack: AsyncExitStack | None = None
_service_lock = asyncio.Lock()
_warmup: asyncio.Task | None = None
_scheduler: asyncio.Task | None = None
WORKFLOW_TICK_SECONDS = 600


async def get_service() -> ConversationService:
    """The process-wide service; the first caller opens it (database, checkpointer, models)."""
    global _service, _service_stack, _warmup
    if _service is not None:
        return _service
    async with _service_lock:
        if _service is None:
            stack = AsyncExitStack()
            try:
                svc = await stack.enter_async_context(ConversationService.open(get_settings()))
            except BaseException:
                await stack.aclose()
                raise
            _service, _service_stack = svc, stack
            _warmup = asyncio.create_task(asyncio.to_thread(_warm_models, svc), name="concierge-warmup")
            log.info("conversation service ready (data dir %s)", get_settings().data_dir)
    return _service


def _warm_models(svc: ConversationService) -> None:
    """Prepare the models off the event loop (the first embedded load assembles a GGUF file)."""
    try:
        model = svc.models.answer()
        svc.models.small()
        path = getattr(model, "model_path", None)
        if path is not None:  # embedded llama.cpp model: load the weights now, not in the first turn
            from app.models.embedded import load_llama

            load_llama(path, model.n_ctx, model.n_threads)
        log.info("models ready")
    except Exception:  # the first turn will report it properly, with a reference
        log.warning("model warm-up failed", exc_info=True)


async def _models_ready() -> None:
    if _warmup is not None and not _warmup.done():
        await asyncio.shield(_warmup)


async def close_service() -> None:
    global _service, _service_stack
    if _warmup is not None and not _warmup.done():
        _warmup.cancel()
    if _scheduler is not None and not _scheduler.done():
        _scheduler.cancel()
    if _service_stack is not None:
        await _service_stack.aclose()
    _service, _service_stack = None, None


async def _workflow_scheduler(svc: ConversationService) -> None:
    """Resume unfinished workflow runs now (after a crash or restart), then run due scheduled tasks regularly."""
    while True:
        try:
            views = await asyncio.to_thread(svc.workflows.tick)
            if views:
                log.info("workflow tick: %s", ", ".join(f"{v.reference}={v.state}" for v in views))
        except Exception:  # a bad run must not stop the scheduler; it is in the log with its reference
            log.exception("workflow tick failed")
        await asyncio.sleep(WORKFLOW_TICK_SECONDS)


@cl.on_app_startup
async def _on_startup() -> None:
    """Open the service (database, router, checkpointer) before the first sign-in, not during it."""
    global _scheduler
    try:
        svc = await get_service()
    except Exception:  # the first request will report it with a reference id
        log.exception("could not open the conversation service at start-up")
        return
    _scheduler = asyncio.create_task(_workflow_scheduler(svc), name="concierge-workflows")


@cl.on_app_shutdown
async def _on_shutdown() -> None:
    await close_service()


@cl.data_layer
def _data_layer() -> ConciergeDataLayer:
    path = chainlit_db_path(get_settings())
    ensure_chainlit_schema(path)
    return ConciergeDataLayer(conninfo=f"sqlite+aiosqlite:///{path}", connect_args={"timeout": 30})


# --------------------------------------------------------------------------------------------------
# Authentication and identity.
# --------------------------------------------------------------------------------------------------


def to_chainlit_user(user: User, provider: str) -> cl.User:
    return cl.User(
        identifier=user.id,
        display_name=user.name,
        metadata={
            "name": user.name,
            "roles": list(user.roles),
            "department": user.department,
            "provider": provider,
        },
    )


def _audit_signin(svc: ConversationService, actor: str, ok: bool, provider: str) -> None:
    try:
        svc.services.audit.append(actor, "auth.signin" if ok else "auth.refused", channel="web", provider=provider)
    except Exception:  # sign-in must not fail because the audit store is unavailable; the log has it
        log.warning("could not audit sign-in of %s", actor, exc_info=True)


@cl.password_auth_callback
async def password_auth(username: str, password: str) -> cl.User | None:
    """Sign in with the directory password, by user id or e-mail. Wrong password and unknown user look the same."""
    try:
        svc = await get_service()
        people = svc.services.people
        user_id = (username or "").strip()
        if "@" in user_id:
            by_email = await asyncio.to_thread(people.by_email, user_id)
            user_id = by_email.id if by_email else ""
        user = await asyncio.to_thread(people.authenticate, user_id, password)
    except Exception:
        ref = new_reference()
        log.exception("sign-in %s failed", ref)
        return None
    attempted = redact((username or "").strip()[:64]).text
    await asyncio.to_thread(_audit_signin, svc, user.id if user else attempted, user is not None, "password")
    if user is None:
        log.info("sign-in refused for %r", attempted)
        return None
    return to_chainlit_user(user, "password")


async def _user_from_header(value: str) -> User | None:
    svc = await get_service()
    people = svc.services.people
    value = value.strip()
    if not value:
        return None
    if "@" in value:
        return await asyncio.to_thread(people.by_email, value)
    return await asyncio.to_thread(people.get, value)


if os.environ.get(PROXY_HEADER_ENV, "").strip():

    @cl.header_auth_callback
    async def header_auth(headers) -> cl.User | None:
        """Trust the reverse proxy's user header — only registered when the operator names the header."""
        header = os.environ.get(PROXY_HEADER_ENV, "").strip()
        try:
            user = await _user_from_header(headers.get(header) or "")
        except Exception:
            log.exception("header sign-in failed (reference %s)", new_reference())
            return None
        if user is None:
            log.info("header sign-in refused: %s names no active user", header)
            return None
        await asyncio.to_thread(_audit_signin, await get_service(), user.id, True, "header")
        return to_chainlit_user(user, "header")


async def directory_user(identifier: str | None) -> User | None:
    """The signed-in person as the directory knows them now (roles are never taken from the browser)."""
    if not identifier:
        return None
    svc = await get_service()
    return await asyncio.to_thread(svc.services.people.get, identifier)


async def session_user() -> User | None:
    cl_user = cl.user_session.get("user")
    return await directory_user(getattr(cl_user, "identifier", None))


# --------------------------------------------------------------------------------------------------
# Chat profiles.
# --------------------------------------------------------------------------------------------------


def profiles_for(roles: tuple[str, ...] | list[str]) -> list[str]:
    return [name for name in PROFILES if name == DEFAULT_PROFILE or name in roles]


@cl.set_chat_profiles
async def chat_profiles(current_user: cl.User | None = None, language: str | None = None) -> list[cl.ChatProfile]:
    roles: tuple[str, ...] = ()
    if current_user is not None:
        try:
            user = await directory_user(current_user.identifier)
            roles = user.roles if user else ()
        except Exception:
            log.warning("could not read roles of %s for chat profiles", current_user.identifier, exc_info=True)
    return [
        cl.ChatProfile(
            name=name,
            display_name=PROFILES[name][0],
            markdown_description=PROFILES[name][1],
            default=name == DEFAULT_PROFILE,
        )
        for name in profiles_for(roles)
    ]


def _enforce_profile(user: User) -> str:
    """The browser picks the profile; make sure it is one this user may use (else: employee).

    Called at chat start/resume and again before every turn: the chat start runs concurrently with the
    first message, so only the per-turn check is authoritative.
    """
    session = cl.context.session
    wanted = session.chat_profile or DEFAULT_PROFILE
    if wanted not in profiles_for(user.roles):
        log.warning("user %s asked for chat profile %r without the role", user.id, wanted)
        wanted = DEFAULT_PROFILE
    session.chat_profile = wanted
    return wanted


async def _tag_thread(thread_id: str, profile: str) -> None:
    """Label the thread with the (checked) profile; Chainlit's own auto-tagging is off because it would use
    the profile the browser asked for."""
    if cl.user_session.get("tagged_profile") == profile:
        return
    data_layer = get_data_layer()
    if data_layer is not None:
        await data_layer.update_thread(thread_id=thread_id, tags=[profile])
    cl.user_session.set("tagged_profile", profile)


# --------------------------------------------------------------------------------------------------
# Chat lifecycle.
# --------------------------------------------------------------------------------------------------


async def _listen_for_staff(thread_id: str | None) -> None:
    """Show messages a member of staff sends into this conversation (the handoff desk) as they arrive."""
    if not thread_id or not is_thread_id(thread_id) or cl.user_session.get("listening") == thread_id:
        return
    session = cl.context.session
    svc = await get_service()

    async def push(author: str, text: str) -> None:
        async def send() -> None:
            init_ws_context(session)  # this task speaks to the employee's socket, not the staff member's
            await cl.Message(content=text, author=author).send()

        await asyncio.create_task(send())

    svc.listen(thread_id, push)
    cl.user_session.set("listening", thread_id)


@cl.on_chat_end
async def on_chat_end() -> None:
    thread_id = cl.user_session.get("listening")
    if thread_id and _service is not None:
        _service.unlisten(thread_id)


@cl.on_chat_start
async def on_chat_start() -> None:
    try:
        user = await session_user()
        if user is None:
            await cl.ErrorMessage(content="Your account is not active. Please contact the service desk.").send()
            return
        _enforce_profile(user)
        await _listen_for_staff(cl.context.session.thread_id)
    except Exception:
        ref = new_reference()
        log.exception("chat start %s failed", ref)
        await cl.ErrorMessage(content=GENERIC_FAILURE.format(ref=ref)).send()


@cl.on_chat_resume
async def on_chat_resume(thread: ThreadDict) -> None:
    """Reopening a thread (sidebar or page reload). Chainlit has already checked the author; check again."""
    try:
        user = await session_user()
        if user is None or thread.get("userIdentifier") != user.id:
            log.warning("refused resume of thread %s", thread.get("id"))
            await cl.ErrorMessage(content="This conversation can't be opened.").send()
            return
        _enforce_profile(user)
        await _listen_for_staff(thread.get("id"))
        log.info("user %s resumed thread %s", user.id, thread.get("id"))
    except Exception:
        ref = new_reference()
        log.exception("chat resume %s failed", ref)
        await cl.ErrorMessage(content=GENERIC_FAILURE.format(ref=ref)).send()


def describe_route(detail: dict[str, Any]) -> str:
    route = detail.get("route", "?")
    confidence = detail.get("confidence")
    lines = [
        f"**Route:** `{route}`",
        f"**Confidence:** {confidence:.2f}" if isinstance(confidence, (int, float)) else "**Confidence:** n/a",
        f"**Decided by:** {detail.get('layer', '?')}",
    ]
    alternatives = [
        f"`{a.get('route')}` ({a.get('confidence', 0):.2f})"
        for a in detail.get("alternatives") or []
        if isinstance(a, dict)
    ]
    if alternatives:
        lines.append("**Alternatives:** " + ", ".join(alternatives))
    return "\n".join(lines)


def sources_markdown(sources: list[dict[str, Any]]) -> str:
    """The knowledge sources of an answer, as a numbered list under the reply (matches ``[n]`` citations)."""
    items = []
    for i, source in enumerate(sources, 1):
        title = source.get("title") or source.get("id")
        if not title:
            continue
        label = f"[{source.get('n', i)}] {title}"
        if source.get("section"):
            label += f" — {source['section']}"
        url = source.get("url")
        items.append(f"- [{label}]({url})" if url else f"- {label}")
    return "\n\n**Sources**\n" + "\n".join(items) if items else ""


def action_buttons(actions: list[dict[str, Any]]) -> list[cl.Action]:
    """Suggested next steps as buttons; clicking one sends its label as the employee's next message."""
    buttons = []
    for action in actions:
        name = str(action.get("name") or "").strip()
        if not name:
            continue
        label = str(action.get("label") or name.replace("_", " ").capitalize())
        if name not in config.code.action_callbacks:
            cl.action_callback(name)(on_action)
        buttons.append(cl.Action(name=name, label=label, payload={"text": label}))
    return buttons


async def on_action(action: cl.Action) -> None:
    """A suggested-action button: shown as the employee's message, then handled like a typed one."""
    text = str((action.payload or {}).get("text") or action.label or action.name)[:200]
    await cl.context.emitter.task_start()
    try:
        with contextlib.suppress(Exception):
            await action.remove()
        cl_user = cl.user_session.get("user")
        await cl.Message(content=text, type="user_message", author=getattr(cl_user, "identifier", "You")).send()
        await run_turn(text)
    finally:
        await cl.context.emitter.task_end()


@cl.on_message
async def on_message(message: cl.Message) -> None:
    await run_turn(message.content)


async def run_turn(text: str) -> None:
    """Run one turn for the session's user and thread and render its events. Never raises to Chainlit
    (which would show the exception text); failures become a message with a reference id."""
    reply: cl.Message | None = None
    try:
        user = await session_user()
        if user is None:
            await cl.ErrorMessage(content="Your account is not active. Please contact the service desk.").send()
            return
        thread_id = cl.context.session.thread_id
        if not is_thread_id(thread_id):
            await cl.ErrorMessage(content="This conversation link is not valid. Please start a new chat.").send()
            return
        profile = _enforce_profile(user)
        svc = await get_service()
        await _tag_thread(thread_id, profile)
        await _listen_for_staff(thread_id)
        await _models_ready()

        async for event in svc.turn(user, thread_id, text, channel="web"):
            if isinstance(event, TokenEvent):
                if reply is None:
                    reply = cl.Message(content="")
                await reply.stream_token(event.text)
            elif isinstance(event, StepEvent):
                if event.name == "dispatch":
                    async with cl.Step(name="Routing", type="tool", show_input=False) as step:
                        step.output = describe_route(event.detail)
                        step.metadata = {"route": dict(event.detail)}
            elif isinstance(event, FinalEvent):
                if not event.reply and (reply is None or not reply.content):
                    reply = None  # a person owns the conversation: the bot says nothing at all
                    continue
                reply = reply or cl.Message(content="")
                reply.content = (event.reply or reply.content or "") + sources_markdown(event.sources)
                reply.metadata = {"route": event.route}
                reply.actions = action_buttons(event.actions)
                await reply.send()
                reply = None
            elif isinstance(event, ErrorEvent):
                if reply is not None and reply.content:  # keep what was already streamed
                    await reply.send()
                reply = None
                message = event.message
                if event.reference and event.reference not in message:
                    message = f"{message} (reference {event.reference})"
                await cl.ErrorMessage(content=message).send()
        if reply is not None and reply.content:  # the turn ended without a final event
            await reply.send()
    except asyncio.CancelledError:  # the employee pressed stop
        raise
    except Exception:
        ref = new_reference()
        log.exception("web turn %s failed", ref)
        try:
            if reply is not None and reply.content:
                await reply.send()
            await cl.ErrorMessage(content=GENERIC_FAILURE.format(ref=ref)).send()
        except Exception:
            log.exception("could not tell the employee about %s", ref)
