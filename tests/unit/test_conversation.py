"""Conversation service event stream, validation, audit and privacy — with the scripted model."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from sqlalchemy.exc import OperationalError

from app.conversation import ConversationService
from app.events import ErrorEvent, FinalEvent, StepEvent, TokenEvent
from app.models.fake import FakeChatModel
from app.models.registry import Models
from app.services.registry import Services
from graphs.supervisor import build_supervisor
from tests.fakes import fake_router


@pytest.fixture
def fake() -> FakeChatModel:
    return FakeChatModel(responses=["Hi Alice, how can I help you today?"])


@pytest.fixture
def service(settings, db, fake) -> ConversationService:
    graph = build_supervisor().compile(checkpointer=InMemorySaver())
    return ConversationService(
        settings, graph, Services.from_db(db), Models(settings, answer_model=fake), fake_router()
    )


@pytest.fixture
def alice(service):
    return service.services.people.get("alice")


async def collect(service, user, thread, text):
    return [e async for e in service.turn(user, thread, text)]


async def test_turn_streams_tokens_then_final(service, alice) -> None:
    events = await collect(service, alice, "t1", "hello there")
    kinds = [e.type for e in events]
    assert kinds[0] == "step" and events[0].name == "dispatch"
    assert kinds.count("token") > 3
    assert kinds[-1] == "final"
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert final.reply == "Hi Alice, how can I help you today?"
    assert "".join(e.text for e in events if isinstance(e, TokenEvent)).strip() == final.reply
    assert final.route == "smalltalk" and final.state["turn_count"] == 1


async def test_every_turn_is_audited(service, alice) -> None:
    await collect(service, alice, "t1", "hello")
    types = [e.event_type for e in service.services.audit.events(thread_id="t1")]
    assert types == ["turn.received", "turn.routed", "turn.completed"]
    assert all(e.actor == "alice" for e in service.services.audit.events(thread_id="t1"))


async def test_history_accumulates_on_the_thread(service, alice, fake) -> None:
    await collect(service, alice, "t1", "hello")
    await collect(service, alice, "t1", "thanks")
    prompt = fake.calls[-1]
    assert [m.type for m in prompt] == ["system", "human", "ai", "human"]
    assert (await service.state("t1"))["turn_count"] == 2


async def test_pii_never_reaches_audit_or_prompt(service, alice, fake) -> None:
    await collect(service, alice, "t1", "hi, reach me on jane@corp.example or +44 20 7946 0958")
    prompt_text = " ".join(str(m.content) for m in fake.calls[-1])
    assert "jane@corp.example" not in prompt_text and "7946" not in prompt_text
    received = service.services.audit.events(thread_id="t1", event_type="turn.received")[0]
    assert "jane@corp.example" not in str(received.details)
    assert set(received.details["pii"]) == {"email", "phone"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        (None, "empty"),
        (b"\x89PNG\r\n", "binary"),
        ("abc\x00def", "binary"),
        ("x" * 5000, "5,000 characters"),
    ],
)
async def test_bad_input_gets_clear_error_and_loses_nothing(service, alice, fake, text, fragment) -> None:
    await collect(service, alice, "t1", "hello")
    before = await service.state("t1")
    events = await collect(service, alice, "t1", text)
    assert len(events) == 1 and isinstance(events[0], ErrorEvent)
    assert fragment in events[0].message and events[0].code == "input_rejected"
    assert await service.state("t1") == before
    assert len(fake.calls) == 1
    assert service.services.audit.events(thread_id="t1", event_type="turn.rejected")


async def test_control_characters_are_stripped(service, alice, fake) -> None:
    await collect(service, alice, "t1", "hel\u200blo\x07 there")
    assert fake.calls[-1][-1].content == "hello there"


async def test_someone_elses_thread_is_refused(service, alice) -> None:
    await collect(service, alice, "t1", "hello")
    bob = service.services.people.get("bob")
    events = await collect(service, bob, "t1", "show me alice's chat")
    assert isinstance(events[-1], ErrorEvent) and events[-1].code == "access_denied"
    assert await service.history(bob, "t1") == []
    assert len(await service.history(alice, "t1")) == 2


async def test_model_failure_gives_reference_not_traceback(service, alice, fake, caplog) -> None:
    fake.error = RuntimeError("llama exploded: secret internals")
    events = await collect(service, alice, "t1", "hello")
    err = events[-1]
    assert isinstance(err, ErrorEvent) and err.reference in err.message
    assert "exploded" not in err.message and "Traceback" not in err.message
    assert any(err.reference in r.getMessage() for r in caplog.records)
    failed = service.services.audit.events(thread_id="t1", event_type="turn.failed")
    assert failed and failed[0].details["reference"] == err.reference


async def test_storage_failure_is_explained(service, alice, monkeypatch) -> None:
    def boom(*a, **k):
        raise OperationalError("INSERT", {}, Exception("database or disk is full"))

    monkeypatch.setattr(service.services.conversations, "claim", boom)
    events = await collect(service, alice, "t1", "hello")
    assert isinstance(events[-1], ErrorEvent) and events[-1].code == "storage"
    assert "storage" in events[-1].message


async def test_ask_collects_a_turn(service, alice) -> None:
    out = await service.ask(alice, "t9", "hello")
    assert out["reply"] and out["route"] == "smalltalk" and out["thread_id"] == "t9"
    assert out["streamed_tokens"] > 1 and out["error"] is None
    assert any(s["name"] == "dispatch" for s in out["steps"])


async def test_step_events_carry_route_decision(service, alice) -> None:
    events = await collect(service, alice, "t1", "my laptop is broken")
    step = next(e for e in events if isinstance(e, StepEvent) and e.name == "dispatch")
    assert step.detail["route"] == "incident"
    assert {"confidence", "layer", "alternatives"} <= set(step.detail)


async def test_dead_ollama_mid_session_is_one_clear_sentence(settings, db) -> None:
    import httpx

    settings = settings.model_copy(update={"model": "ollama:qwen2.5:1.5b"})
    model = FakeChatModel(error=httpx.ConnectError("connection refused"))
    graph = build_supervisor().compile(checkpointer=InMemorySaver())
    svc = ConversationService(
        settings, graph, Services.from_db(db), Models(settings, answer_model=model), fake_router()
    )
    alice = svc.services.people.get("alice")
    events = [e async for e in svc.turn(alice, "t-ollama", "hello")]
    err = events[-1]
    assert isinstance(err, ErrorEvent) and err.code == "model_unavailable"
    assert (
        "Ollama is not answering at http://localhost:11434" in err.message and "CONCIERGE_MODEL=embedded" in err.message
    )
    assert err.reference in err.message
