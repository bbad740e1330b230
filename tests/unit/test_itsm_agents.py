"""Incident and password-reset agents through the supervisor, with the keyword router and a stub knowledge
base (the real router, retrieval and model run in the conversation scripts)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from app.conversation import ConversationService
from app.db.schema import DirectoryAction, utcnow
from app.models.fake import FakeChatModel
from app.models.registry import Models
from app.services.registry import Services
from graphs.supervisor import build_supervisor
from tests.fakes import StubRetriever, fake_router


@pytest.fixture
def service(settings, db) -> ConversationService:
    graph = build_supervisor().compile(checkpointer=InMemorySaver())
    services = Services.from_db(db, settings, retriever=StubRetriever(answerable=False))
    models = Models(settings, answer_model=FakeChatModel(responses=["ok"]),
                    small_model=FakeChatModel(responses=["Summary of the outage."]))
    return ConversationService(settings, graph, services, models, fake_router())


async def say(service, user_id, text, thread="t1"):
    return await service.ask(service.services.people.get(user_id), thread, text)


def events(service, thread="t1"):
    return [e.event_type for e in service.services.audit.events(thread_id=thread)]


def latest_code(service, user_id):
    body = next(m.body for m in service.services.outbox.messages(user_id) if m.kind == "verification_code")
    return re.search(r"\b(\d{6})\b", body).group(1)


async def test_questions_only_for_missing_details_two_at_a_time(service) -> None:
    out = await say(service, "alice", "my monitor is flickering since this morning")
    assert out["route"] == "incident" and out["state"]["pending_slot"] == "affected,business_impact"
    assert "since when" not in out["reply"].lower()
    # Answered in the other order, plus something not asked: all of it is kept.
    out = await say(service, "alice", "it's slowing me down, and two colleagues have it too")
    assert out["state"]["active_flow"] is None  # no known fix in the (stub) knowledge base: ticket at once
    ticket = service.services.tickets.mine(service.services.people.get("alice"))[0]
    assert (ticket.configuration_item, ticket.impact, ticket.urgency, ticket.priority) == ("monitor", 2, 2, "P3")
    assert "Affected: team" in ticket.description and "Since: since this morning" in ticket.description


async def test_incident_hands_password_problems_to_the_password_flow_in_the_same_turn(service) -> None:
    await say(service, "alice", "my laptop screen is flickering")
    out = await say(service, "alice", "actually it also says my password has expired")
    assert out["route"] == "password_reset" and out["state"]["active_flow"] == "password_reset"
    assert "incident.handed_over" in events(service) and "check it's really you" in out["reply"]


async def test_password_reset_end_to_end_and_retry_is_idempotent(service) -> None:
    out = await say(service, "erin", "I forgot my password, send the code by text")
    assert out["state"]["flow_step"] == "await_code"  # "by text" chose the channel up front
    code = latest_code(service, "erin")
    out = await say(service, "erin", f"{code[:3]} {code[3:]}")  # spaced codes are fine
    assert "temporary password" in out["reply"] and out["state"]["active_flow"] is None
    temp = service.services.outbox.messages("erin")[0]
    assert temp.kind == "temporary_password" and temp.body.split("is ")[1].split()[0] not in out["reply"]
    assert service.services.directory.account("erin").must_change_password
    # The same code again is no longer accepted: single use, nothing changes twice.
    again = await say(service, "erin", code, thread="t2")
    assert "password.reset_done" not in events(service, "t2")
    assert again["route"] != "password_reset" or "code" in again["reply"]


async def test_account_rate_limit_per_target(service) -> None:
    with service.services.db.session() as s:
        for i in range(3):
            s.add(DirectoryAction(idempotency_key=f"x{i}", action="reset_password", target_id="carol", actor="c",
                                  outcome="done", detail={}, created_at=utcnow() - timedelta(minutes=10)))
        s.commit()
    out = await say(service, "carol", "I forgot my password")
    assert "3 sign-in changes in the last hour" in out["reply"] and "password.rate_limited" in events(service)
    assert not service.services.outbox.messages("carol")


async def test_unlock_when_not_locked_offers_a_reset(service) -> None:
    out = await say(service, "alice", "please unlock my account")
    assert "isn't locked" in out["reply"] and out["actions"][0]["label"] == "Reset my password"
    assert out["state"]["active_flow"] is None and not service.services.outbox.messages("alice")


async def test_no_registered_contact_means_no_chat_verification(service) -> None:
    from app.db.schema import Account

    with service.services.db.session() as s:
        s.get(Account, "alice").contacts = {}
        s.commit()
    out = await say(service, "alice", "I forgot my password")
    assert "don't have a personal phone number" in out["reply"] and out["actions"][0]["name"] == "talk_to_person"


async def test_code_sent_to_the_other_channel_on_request(service) -> None:
    await say(service, "alice", "I forgot my password")
    await say(service, "alice", "sms")
    out = await say(service, "alice", "send it by email instead")
    assert "e-mail to a•••@example.net" in out["reply"]
    assert service.services.outbox.messages("alice")[0].channel == "email"


async def test_typed_password_is_redacted_everywhere_and_the_warning_comes_first(service) -> None:
    alice = service.services.people.get("alice")
    tokens = []
    async for event in service.turn(alice, "t1", "I tried Winter2025!# but it fails"):
        if hasattr(event, "text"):
            tokens.append(event.text)
    assert tokens[0].startswith("I've removed what looked like a password")
    history = await service.history(alice, "t1")
    assert all("Winter2025" not in m["content"] for m in history)
    assert all("Winter2025" not in str(e.details) for e in service.services.audit.events())
    assert history[-1]["content"].startswith("I've removed what looked like a password")


async def test_someone_elses_ticket_is_not_found_not_revealed(service) -> None:
    out = await say(service, "alice", "status of INC0000002")  # dave's printer ticket (seeded)
    assert "can't find that ticket" in out["reply"] and "print" not in out["reply"].lower()
    assert "ticket.not_found" in events(service)


async def test_critical_outage_summary_falls_back_when_the_small_model_fails(settings, db) -> None:
    graph = build_supervisor().compile(checkpointer=InMemorySaver())
    services = Services.from_db(db, settings, retriever=StubRetriever(answerable=False))
    models = Models(settings, answer_model=FakeChatModel(responses=["ok"]),
                    small_model=FakeChatModel(error=ConnectionError("model down")))
    service = ConversationService(settings, graph, services, models, fake_router())
    out = await say(service, "peter", "email is not working for the whole office, nobody can work")
    assert "major incident" in out["reply"]
    handoff = services.handoffs.open_for_thread("t1")
    assert handoff.priority == "urgent" and handoff.summary.startswith("INC") and "Employee wrote" in handoff.summary
