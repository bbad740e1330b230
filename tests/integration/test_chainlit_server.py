"""The real Chainlit server in a subprocess: sign-in, socket.io streaming, thread resume and isolation.

The client speaks the same protocol as Chainlit's browser frontend (2.12):

* ``POST /login`` (form ``username``/``password``) sets the ``access_token`` cookie (JWT);
  ``POST /auth/header`` does the same from a trusted proxy header.
* socket.io at ``/ws/socket.io``; the cookie authenticates the connection and the ``auth`` payload carries
  ``sessionId``, ``clientType``, ``threadId`` ("" for a new thread), ``userEnv`` (JSON text), ``chatProfile``.
* the client emits ``connection_successful`` once connected, then ``client_message`` with
  ``{"message": <step dict>, "fileReferences": []}``;
* the server answers with ``task_start``, ``first_interaction`` (carrying the thread id), ``new_message`` /
  ``update_message`` for steps, ``stream_start`` + ``stream_token`` for the reply as it is written, a final
  ``new_message`` with the whole reply, and ``task_end``; resuming a thread emits ``resume_thread``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from app.conversation import ConversationService
from app.db.engine import Database
from app.identity import User
from app.services.seed import demo_password, seed
from app.settings import Settings, load_settings
from app.web import REPO_ROOT, chainlit_command
from tests.conftest import SHARED_CACHE

PROXY_HEADER = "X-Forwarded-User"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    settings: Settings
    proc: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/", timeout=2).status_code == 200:
                    return time.monotonic() - started
            time.sleep(0.2)
        raise AssertionError(f"server not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def start_server(data_dir: Path, *, extra_env: dict[str, str] | None = None, **overrides: Any) -> Server:
    """Migrate and seed ``data_dir``, then start ``chainlit run`` exactly as ``app.web.run_web`` does."""
    # Share the routing-example embeddings with the other tests (module fixtures start before the env is set).
    overrides.setdefault("cache_dir", SHARED_CACHE)
    settings = load_settings(data_dir=data_dir, port=free_port(), host="127.0.0.1", _env_file=None, **overrides)
    db = Database.open(settings)
    seed(db)
    db.close()
    argv, env = chainlit_command(settings)
    env.pop("CONCIERGE_TRUST_PROXY_HEADER", None)
    env.update(extra_env or {})
    log_path = data_dir / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    return Server(settings, proc, log_path)


@pytest.fixture(scope="module")
def fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Scripted model (fast); proxy-header sign-in switched on."""
    server = start_server(
        tmp_path_factory.mktemp("web-fake"),
        model="fake",
        small_model="fake",
        extra_env={"CONCIERGE_TRUST_PROXY_HEADER": PROXY_HEADER},
    )
    try:
        server.wait_ready(60)
        yield server
    finally:
        server.stop()


def login(server: Server, username: str, password: str | None = None) -> httpx.Response:
    return httpx.post(
        server.url + "/login",
        data={"username": username, "password": demo_password() if password is None else password},
        timeout=30,
    )


def token_for(server: Server, username: str) -> str:
    response = login(server, username)
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    return response.cookies["access_token"]


def api(server: Server, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, cookies={"access_token": token}, timeout=30)


@dataclass
class ChatClient:
    """A socket.io client that behaves like Chainlit's web frontend and records every event."""

    server: Server
    token: str
    user: str
    thread_id: str = ""
    chat_profile: str = ""
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    events: list[tuple[float, str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)

        @self.sio.on("*")
        def _record(event: str, *args: Any) -> None:
            self.events.append((time.monotonic(), event, args[0] if args else None))

    async def connect(self) -> None:
        await self.sio.connect(
            self.server.url,
            socketio_path="/ws/socket.io",
            transports=["websocket"],
            headers={"Cookie": f"access_token={self.token}"},
            auth={
                "sessionId": self.session_id,
                "clientType": "webapp",
                "threadId": self.thread_id,
                "userEnv": "{}",
                "chatProfile": self.chat_profile,
            },
            wait_timeout=15,
        )
        await self.sio.emit("connection_successful")

    async def close(self) -> None:
        await self.sio.disconnect()

    def named(self, name: str) -> list[Any]:
        return [data for _, event, data in self.events if event == name]

    async def wait_for(self, predicate, timeout: float, what: str, since: int = 0) -> Any:
        """The data of the first event (from position ``since``) that satisfies ``predicate(event, data)``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _, event, data in self.events[since:]:
                if predicate(event, data):
                    return data
            await asyncio.sleep(0.05)
        seen = [(e, str(d)[:200]) for _, e, d in self.events[since:]]
        raise AssertionError(f"timed out waiting for {what}; events: {seen}\n{self.server.log_tail()}")

    async def ask(self, text: str, timeout: float = 30) -> dict[str, Any]:
        """Send a message like the frontend does; return the reply with the events that led to it."""
        start = len(self.events)
        message_id = str(uuid.uuid4())
        await self.sio.emit(
            "client_message",
            {
                "message": {
                    "id": message_id,
                    "threadId": self.thread_id,
                    "type": "user_message",
                    "name": self.user,
                    "output": text,
                    "createdAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                },
                "fileReferences": [],
            },
        )

        def is_reply(event: str, data: Any) -> bool:
            return (
                event == "new_message"
                and isinstance(data, dict)
                and data.get("type") == "assistant_message"
                and data.get("id") != message_id
            )

        final = await self.wait_for(is_reply, timeout, f"the reply to {text!r}", since=start)
        after = next(i for i, (_, _e, d) in enumerate(self.events) if d is final)
        await self.wait_for(lambda e, _d: e == "task_end", 15, "task_end after the reply", since=after)
        return {"final": final, "events": self.events[start:]}


def stream_of(turn: dict[str, Any]) -> tuple[str, int, list[int]]:
    """(streamed text, number of stream_token events, their positions) for the final reply's id."""
    reply_id = turn["final"]["id"]
    text, tokens, positions = "", 0, []
    for i, (_, event, data) in enumerate(turn["events"]):
        if event == "stream_start" and data.get("id") == reply_id:
            text += data.get("output") or ""
            positions.append(i)
        elif event == "stream_token" and data.get("id") == reply_id:
            text += data["token"]
            tokens += 1
            positions.append(i)
    return text, tokens, positions


def final_position(turn: dict[str, Any]) -> int:
    return next(i for i, (_, _e, d) in enumerate(turn["events"]) if d is turn["final"])


def routing_step(turn: dict[str, Any]) -> dict[str, Any] | None:
    steps = [d for _, e, d in turn["events"] if e in ("new_message", "update_message") and d.get("name") == "Routing"]
    return steps[-1] if steps else None


# ------------------------------------------------------------------------------------------------------
# Sign-in
# ------------------------------------------------------------------------------------------------------


def test_password_login(fake_server: Server) -> None:
    assert login(fake_server, "alice", "not-the-password").status_code == 401
    assert login(fake_server, "nobody", demo_password()).status_code == 401
    assert login(fake_server, "alice", "").status_code in (401, 422)

    assert login(fake_server, "alice@example.com").status_code == 200  # the e-mail works as the user name
    token = token_for(fake_server, "alice")
    with api(fake_server, token) as client:
        me = client.get("/user").json()
    assert me["identifier"] == "alice"
    assert me["metadata"]["roles"] == ["employee"]
    assert me["metadata"]["department"] == "Engineering"


def test_command_environment(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "d", model="fake", port=8123, _env_file=None)
    argv, env = chainlit_command(settings)
    secret_file = tmp_path / "d" / ".chainlit_secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert env["CHAINLIT_AUTH_SECRET"] == secret_file.read_text().strip()
    assert chainlit_command(settings)[1]["CHAINLIT_AUTH_SECRET"] == env["CHAINLIT_AUTH_SECRET"]  # kept
    assert env["CHAINLIT_APP_ROOT"] == str(REPO_ROOT)
    assert env["CONCIERGE_DATA_DIR"] == str((tmp_path / "d").resolve()) and env["CONCIERGE_MODEL"] == "fake"
    assert argv[argv.index("--port") + 1] == "8123" and "--headless" in argv
    given = load_settings(data_dir=tmp_path / "e", auth_secret="s3cret-from-settings", _env_file=None)
    assert chainlit_command(given)[1]["CHAINLIT_AUTH_SECRET"] == "s3cret-from-settings"
    assert not (tmp_path / "e" / ".chainlit_secret").exists()


def test_header_login_trusts_only_known_users(fake_server: Server) -> None:
    ok = httpx.post(fake_server.url + "/auth/header", headers={PROXY_HEADER: "ivan"}, timeout=30)
    assert ok.status_code == 200, ok.text
    by_email = httpx.post(fake_server.url + "/auth/header", headers={PROXY_HEADER: "ivan@example.com"}, timeout=30)
    assert by_email.status_code == 200, by_email.text
    with api(fake_server, ok.cookies["access_token"]) as client:
        assert client.get("/user").json()["metadata"]["roles"] == ["employee", "it_agent"]
    assert httpx.post(fake_server.url + "/auth/header", headers={PROXY_HEADER: "mallory"}).status_code == 401
    assert httpx.post(fake_server.url + "/auth/header").status_code == 401


def test_chat_profiles_follow_directory_roles(fake_server: Server) -> None:
    def profiles(user: str) -> list[str]:
        with api(fake_server, token_for(fake_server, user)) as client:
            return [p["name"] for p in client.get("/project/settings").json()["chatProfiles"]]

    assert profiles("alice") == ["employee"]
    assert profiles("bob") == ["employee", "manager"]
    assert profiles("hannah") == ["employee", "hr_staff"]
    assert profiles("ivan") == ["employee", "it_agent"]


def test_socket_refuses_anonymous(fake_server: Server) -> None:
    async def main() -> None:
        client = ChatClient(fake_server, token="not-a-jwt", user="alice")
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect()

    asyncio.run(main())


# ------------------------------------------------------------------------------------------------------
# Conversation over socket.io (scripted model)
# ------------------------------------------------------------------------------------------------------


FIRST_QUESTION = "hello"  # small talk: answered by the streaming responder


def test_thread_resume_and_isolation(fake_server: Server) -> None:
    alice = token_for(fake_server, "alice")
    bob = token_for(fake_server, "bob")

    async def main() -> str:
        # alice asks for a profile she does not have: the server falls back to "employee".
        client = ChatClient(fake_server, alice, "alice", chat_profile="hr_staff")
        await client.connect()
        turn = await client.ask(FIRST_QUESTION)
        assert not turn["final"].get("isError"), turn["final"]
        assert turn["final"]["output"].startswith("(scripted reply)")
        streamed, tokens, _ = stream_of(turn)
        assert tokens >= 2 and streamed.strip() == turn["final"]["output"].strip()
        step = routing_step(turn)
        assert step is not None and "**Route:**" in step["output"] and "**Decided by:**" in step["output"]
        thread_id = client.named("first_interaction")[0]["thread_id"]
        assert uuid.UUID(thread_id)
        await client.ask("my password is hunter22x, is that safe?")
        await client.close()
        return thread_id

    thread_id = asyncio.run(main())

    # The thread (with redacted text) is in alice's list, and only hers.
    with api(fake_server, alice) as client:
        deadline = time.monotonic() + 15
        while True:
            thread = client.get(f"/project/thread/{thread_id}").json()
            outputs = [s["output"] for s in thread["steps"] if s["type"] in ("user_message", "assistant_message")]
            if len(outputs) >= 4 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        listed = client.post("/project/threads", json={"pagination": {"first": 20}, "filter": {}}).json()
    assert thread["userIdentifier"] == "alice"
    assert thread["name"] == FIRST_QUESTION
    assert thread["tags"] == ["employee"]
    assert FIRST_QUESTION in outputs
    assert not any("hunter22x" in o for o in outputs), outputs
    assert any("[SECRET]" in o for o in outputs), outputs
    routing = [s for s in thread["steps"] if s["name"] == "Routing"]
    assert routing and all("**Route:**" in s["output"] for s in routing), routing
    assert [t["id"] for t in listed["data"]] == [thread_id]
    with api(fake_server, bob) as client:
        assert client.get(f"/project/thread/{thread_id}").status_code == 401
        listed = client.post("/project/threads", json={"pagination": {"first": 20}, "filter": {}}).json()
        assert thread_id not in [t["id"] for t in listed["data"]]

    async def resume() -> int:
        intruder = ChatClient(fake_server, bob, "bob", thread_id=thread_id)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await intruder.connect()

        # A page reload: a new socket session that names the thread.
        client = ChatClient(fake_server, alice, "alice", thread_id=thread_id)
        await client.connect()
        resumed = await client.wait_for(lambda e, _d: e == "resume_thread", 15, "resume_thread")
        assert resumed["id"] == thread_id
        assert any(s.get("output") == FIRST_QUESTION for s in resumed["steps"])
        turn = await client.ask("And the VPN?")
        assert turn["final"]["output"].strip() and not turn["final"].get("isError"), turn["final"]
        turns = 3
        # Suggested actions (if the answer offers any) are buttons; clicking one runs the next turn.
        actions = [d for _, e, d in turn["events"] if e == "action"]
        if actions:
            start = len(client.events)
            response = httpx.post(
                fake_server.url + "/project/action",
                json={"sessionId": client.session_id, "action": actions[0]},
                cookies={"access_token": alice},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            await client.wait_for(
                lambda e, d: (
                    e == "new_message" and d.get("type") == "user_message" and d["output"] == actions[0]["label"]
                ),
                15,
                "the action shown as alice's message",
                since=start,
            )
            await client.wait_for(
                lambda e, d: e == "new_message" and d.get("type") == "assistant_message",
                30,
                "the reply to the action",
                since=start,
            )
            turns += 1
        await client.close()
        return turns

    turns = asyncio.run(resume())

    # The same LangGraph thread continued; its history is alice's only.
    async def history() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        async with ConversationService.open(fake_server.settings) as svc:
            return (
                await svc.history(User("alice", "Alice Johnson"), thread_id),
                await svc.history(User("bob", "Bob Martins", ("employee", "manager")), thread_id),
            )

    own, other = asyncio.run(history())
    assert [m["role"] for m in own] == ["user", "assistant"] * turns
    assert own[0]["content"] == FIRST_QUESTION and own[4]["content"] == "And the VPN?"
    assert other == []


def test_error_event_shows_reference(fake_server: Server) -> None:
    async def main() -> dict[str, Any]:
        client = ChatClient(fake_server, token_for(fake_server, "alice"), "alice")
        await client.connect()
        try:
            return await client.ask("x" * 5000)
        finally:
            await client.close()

    turn = asyncio.run(main())
    assert turn["final"]["isError"] is True
    assert "4,000" in turn["final"]["output"] and "(reference REF-" in turn["final"]["output"]
    assert "Traceback" not in json.dumps([d for _, _e, d in turn["events"]])


# ------------------------------------------------------------------------------------------------------
# One real round trip with the embedded model
# ------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_streamed_reply_from_embedded_model(tmp_path: Path) -> None:
    started = time.monotonic()
    server = start_server(tmp_path, model="embedded", small_model="embedded")
    try:
        ready_s = server.wait_ready(60)

        async def main() -> dict[str, Any]:
            client = ChatClient(server, token_for(server, "alice"), "alice")
            await client.connect()
            try:
                # The first turn may have to assemble the GGUF file and load it (the server warms up at sign-in).
                return await client.ask(FIRST_QUESTION, timeout=170)
            finally:
                await client.close()

        turn = asyncio.run(main())
        total_s = time.monotonic() - started
        final = turn["final"]
        streamed, tokens, positions = stream_of(turn)
        assert not final.get("isError"), final["output"]
        assert final["output"].strip(), "empty reply"
        assert tokens >= 3, f"reply was not streamed ({tokens} stream_token events)"
        assert max(positions) < final_position(turn), "tokens arrived after the final message"
        assert streamed.strip() == final["output"].strip()
        assert routing_step(turn) is not None
        assert total_s < 180, f"round trip took {total_s:.0f}s"
        print(f"\nserver ready in {ready_s:.1f}s, {tokens} tokens, whole test {total_s:.1f}s")
    finally:
        server.stop()
    assert server.proc.returncode is not None


# ------------------------------------------------------------------------------------------------------
# The handoff desk: two users, two sessions, one real server
# ------------------------------------------------------------------------------------------------------


async def send_and_wait_end(client: ChatClient, text: str) -> list[tuple[float, str, Any]]:
    """Send a message and wait for the task to end; return the events (the reply may be nothing at all)."""
    start = len(client.events)
    await client.sio.emit("client_message", {"message": {
        "id": str(uuid.uuid4()), "threadId": client.thread_id, "type": "user_message", "name": client.user,
        "output": text, "createdAt": datetime.now(UTC).isoformat().replace("+00:00", "Z")}, "fileReferences": []})
    await client.wait_for(lambda e, _d: e == "task_end", 30, f"task_end after {text!r}", since=start)
    return client.events[start:]


def test_staff_claims_replies_inside_the_employees_chat_and_the_bot_stays_silent(fake_server: Server) -> None:
    import re

    async def main() -> None:
        alice = ChatClient(fake_server, token_for(fake_server, "alice"), "alice")
        hannah = ChatClient(fake_server, token_for(fake_server, "hannah"), "hannah", chat_profile="hr_staff")
        await alice.connect()
        await hannah.connect()
        queued = await alice.ask("I want to talk to a person about my payslip being wrong")
        ref = re.search(r"HND\d{7}", queued["final"]["output"]).group(0)
        assert "HR team" in queued["final"]["output"]

        listed = await hannah.ask("queue")
        assert ref in listed["final"]["output"]
        claimed = await hannah.ask(f"claim {ref}")
        assert f"You own {ref}" in claimed["final"]["output"]
        mark = len(alice.events)
        sent = await hannah.ask(f"reply {ref}: Hi Alice, I'm looking at your payslip now")
        assert "they can see it now" in sent["final"]["output"]
        def staff_message(event: str, data: Any) -> bool:
            return event == "new_message" and isinstance(data, dict) and "your payslip" in data.get("output", "")

        pushed = await alice.wait_for(staff_message, 15, "the staff reply in alice's chat", since=mark)
        assert pushed["name"] == "Hannah Reyes (HR)"

        # While Hannah owns the conversation the bot says nothing to Alice.
        events = await send_and_wait_end(alice, "thanks, it's the overtime that's missing")
        bot_replies = [d for _, e, d in events if e == "new_message" and d.get("type") == "assistant_message"]
        assert bot_replies == []
        shown = await hannah.ask(f"show {ref}")
        assert "overtime that's missing" in shown["final"]["output"]

        resolved = await hannah.ask(f"resolve {ref} corrected in the next payroll")
        assert "resolved" in resolved["final"]["output"]
        back = await alice.ask("hello again")
        assert back["final"]["output"].startswith("(scripted reply)")
        thread_id = alice.named("first_interaction")[0]["thread_id"]
        await alice.close()
        await hannah.close()
        return thread_id

    thread_id = asyncio.run(main())
    with api(fake_server, token_for(fake_server, "alice")) as client:
        deadline = time.monotonic() + 15
        while True:
            steps = client.get(f"/project/thread/{thread_id}").json()["steps"]
            staff = [s for s in steps if s.get("name") == "Hannah Reyes (HR)"]
            if staff or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert staff and "looking at your payslip" in staff[0]["output"]  # kept in alice's thread, with the name
