"""Knowledge agent logic with a scripted model and a stub retriever (the real ones run in integration)."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from app.conversation import ConversationService
from app.errors import ModelUnavailable
from app.events import TokenEvent
from app.models.fake import FakeChatModel
from app.models.registry import Models
from app.services.registry import Services
from graphs.supervisor import build_supervisor
from knowledge.retrieval import Hit
from tests.fakes import StubRetriever, fake_router

PASSAGE = (
    "Expenses — Client entertainment\nClient entertainment is capped at £75 per person including drinks. "
    "Claims must be submitted in Concur within 30 days with itemised receipts."
)


def make_service(settings, db, model, retriever) -> ConversationService:
    graph = build_supervisor().compile(checkpointer=InMemorySaver())
    services = Services.from_db(db, settings, retriever=retriever)
    return ConversationService(settings, graph, services, Models(settings, answer_model=model), fake_router())


@pytest.fixture
def hit() -> Hit:
    meta = {"aud_all": True}
    return Hit("fin-expenses#2", "fin-expenses", "Expenses and client entertainment", "Client entertainment",
               PASSAGE, 0.03, dense=0.71, meta=meta)


async def run(service, text="what's the expense limit for client dinners?"):
    alice = service.services.people.get("alice")
    events = [e async for e in service.turn(alice, "k1", text)]
    return events, events[-1]


@pytest.fixture
def rephrase(settings):
    return settings.model_copy(update={"kb_answer_style": "rephrase"})


async def test_default_answer_quotes_the_evidence_with_citations(settings, db, hit) -> None:
    model = FakeChatModel(responses=["should not be called"])
    service = make_service(settings, db, model, StubRetriever([hit]))
    events, final = await run(service)
    assert final.reply == (
        "Client entertainment is capped at £75 per person including drinks [1]. "
        "Claims must be submitted in Concur within 30 days with itemised receipts [1]."
    )
    assert sum(isinstance(e, TokenEvent) for e in events) == 2 and model.calls == []
    assert final.sources[0]["id"] == "fin-expenses"
    assert service.services.audit.events(event_type="knowledge.answered")[0].details["mode"] == "quoted"


async def test_cited_answer_streams_and_lists_sources(rephrase, db, hit) -> None:
    model = FakeChatModel(responses=["Client dinners are capped at £75 per person [2]. Claim within 30 days."])
    service = make_service(rephrase, db, model, StubRetriever([hit]))
    events, final = await run(service)
    assert final.route == "knowledge"
    assert final.reply == "Client dinners are capped at £75 per person [1]. Claim within 30 days [1]."
    assert sum(isinstance(e, TokenEvent) for e in events) == 2  # one event per checked sentence
    assert final.sources == [
        {"n": 1, "id": "fin-expenses", "title": "Expenses and client entertainment",
         "section": "Client entertainment", "chunk": "fin-expenses#2"}
    ]
    assert service.services.audit.events(event_type="knowledge.answered")[0].details["mode"] == "generated"
    prompt = model.calls[0][0].content
    # The model sees only the evidence sentences chosen in code, not whole articles.
    assert "- Client entertainment is capped at £75 per person including drinks." in prompt


async def test_invented_number_falls_back_to_quote(rephrase, db, hit) -> None:
    model = FakeChatModel(responses=["The limit is £100 per person [1]."])
    service = make_service(rephrase, db, model, StubRetriever([hit]))
    _, final = await run(service)
    assert "£100" not in final.reply
    assert "£75 per person" in final.reply and final.reply.endswith("[1]")
    assert service.services.audit.events(event_type="knowledge.answered")[0].details["mode"] == "extractive"


async def test_model_down_still_answers_from_the_passage(rephrase, db, hit) -> None:
    model = FakeChatModel(error=ModelUnavailable("ollama down"))
    service = make_service(rephrase, db, model, StubRetriever([hit]))
    _, final = await run(service)
    assert "£75" in final.reply and final.sources


async def test_model_says_not_in_sources(rephrase, db, hit) -> None:
    service = make_service(rephrase, db, FakeChatModel(responses=["NOT_IN_SOURCES"]), StubRetriever([hit]))
    _, final = await run(service)
    assert "NOT_IN_SOURCES" not in final.reply and "£75" in final.reply


async def test_nothing_relevant_says_so_and_offers_next_steps(settings, db, hit) -> None:
    model = FakeChatModel(responses=["should not be called"])
    service = make_service(settings, db, model, StubRetriever([hit], answerable=False))
    _, final = await run(service, "what is the policy on parking fees in Berlin?")
    assert "couldn't find" in final.reply and not final.sources
    assert [a["name"] for a in final.actions] == ["open_ticket", "talk_to_person"]
    assert model.calls == []
    assert service.services.audit.events(event_type="knowledge.no_answer")


async def test_retrieval_is_scoped_to_the_user(settings, db, hit) -> None:
    retriever = StubRetriever([hit])
    service = make_service(settings, db, FakeChatModel(responses=["Capped at £75 [1]."]), retriever)
    await run(service)
    assert retriever.queries[0][1] == "alice"
