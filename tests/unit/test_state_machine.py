"""The supervisor's conversation state machine: route, clarify, park, resume, cancel, hand off."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from app.conversation import ConversationService
from app.models.fake import FakeChatModel
from app.models.registry import Models
from app.services.registry import Services
from graphs.supervisor import build_supervisor
from tests.fakes import fake_router


@pytest.fixture
def service(settings, db) -> ConversationService:
    graph = build_supervisor().compile(checkpointer=InMemorySaver())
    models = Models(
        settings,
        answer_model=FakeChatModel(responses=["Happy to help."]),
        small_model=FakeChatModel(responses=["Alice needs help with her payslip. Nothing tried yet."]),
    )
    return ConversationService(settings, graph, Services.from_db(db, settings), models, fake_router())


@pytest.fixture
def alice(service):
    return service.services.people.get("alice")


async def say(service, user, text, thread="sm"):
    return await service.ask(user, thread, text)


def events(service, thread="sm"):
    return [e.event_type for e in service.services.audit.events(thread_id=thread)]


async def test_trigger_layer_is_recorded(service, alice) -> None:
    out = await say(service, alice, "I forgot my password")
    info = out["state"]["route_info"]
    assert out["route"] == "password_reset" and info["layer"] == "trigger" and info["rule"] == "forgot_password"


async def test_out_of_scope_is_declined_without_a_flow(service, alice) -> None:
    out = await say(service, alice, "what's the weather like in Paris?")
    assert out["route"] == "out_of_scope" and "outside what I can help with" in out["reply"]
    assert out["state"]["active_flow"] is None


async def test_unsure_asks_to_choose_and_the_answer_replays_the_message(service, alice) -> None:
    out = await say(service, alice, "the thing from yesterday")
    assert out["state"]["route_info"]["layer"] == "gate"
    assert [a["payload"]["route"] for a in out["actions"]] == ["incident", "knowledge"]
    assert out["state"]["pending_clarify"]["text"] == "the thing from yesterday"
    again = await say(service, alice, "Question")
    assert again["route"] == "knowledge" and again["state"]["route_info"]["layer"] == "clarified"
    assert again["state"]["pending_clarify"] is None


async def test_bare_handoff_asks_why_then_queues(service, alice) -> None:
    out = await say(service, alice, "talk to a human")
    assert out["route"] == "human_handoff" and out["state"]["active_flow"] == "human_handoff"
    assert out["state"]["pending_slot"] == "reason" and "what do you need help with" in out["reply"]
    assert "handoff.queued" not in events(service)
    done = await say(service, alice, "my payslip is wrong this month")
    assert done["state"]["route_info"]["layer"] == "active_flow"
    assert "HR team" in done["reply"] and done["state"]["active_flow"] is None
    record = service.services.handoffs.open_for_thread("sm")
    assert record.queue == "hr" and record.reason == "requested" and record.summary.startswith("Alice needs")
    assert any(line["text"] == "my payslip is wrong this month" for line in record.transcript)
    assert "handoff.queued" in events(service)


async def test_sensitive_matter_goes_to_hr_at_once(service, alice) -> None:
    out = await say(service, alice, "my manager keeps harassing me in meetings")
    assert out["route"] == "human_handoff" and "confidentially to HR" in out["reply"]
    record = service.services.handoffs.open_for_thread("sm")
    assert (record.queue, record.priority, record.reason) == ("hr", "high", "sensitive")


async def test_topic_switch_parks_and_offers_to_resume(service, alice) -> None:
    await say(service, alice, "talk to a human")
    out = await say(service, alice, "how do I set up the VPN?")
    assert out["route"] == "knowledge"
    assert out["state"]["parked_flows"][0]["flow"] == "human_handoff"
    assert out["state"]["parked_flows"][0]["pending_slot"] == "reason"
    assert out["reply"].endswith("Shall we get back to your request to talk to a person?")
    assert out["state"]["offer_resume"] == "human_handoff"
    back = await say(service, alice, "yes please")
    assert back["route"] == "human_handoff" and back["state"]["route_info"]["layer"] == "resume"
    assert back["state"]["active_flow"] == "human_handoff" and back["state"]["parked_flows"] == []


async def test_declining_the_resume_offer_drops_the_parked_flow(service, alice) -> None:
    await say(service, alice, "talk to a human")
    await say(service, alice, "how do I set up the VPN?")
    out = await say(service, alice, "no thanks")
    assert "dropped your request to talk to a person" in out["reply"]
    assert out["state"]["parked_flows"] == [] and out["state"]["offer_resume"] is None


@pytest.mark.parametrize("command", ["cancel", "never mind", "Nevermind.", "forget it"])
async def test_cancel_works_everywhere(service, alice, command) -> None:
    await say(service, alice, "talk to a human")
    out = await say(service, alice, command)
    assert "cancelled your request to talk to a person" in out["reply"]
    assert out["state"]["active_flow"] is None and out["state"]["pending_slot"] is None
    assert "flow.cancelled" in events(service)


async def test_cancel_with_nothing_active(service, alice) -> None:
    out = await say(service, alice, "cancel")
    assert "nothing in progress" in out["reply"]


async def test_start_over_clears_everything(service, alice) -> None:
    await say(service, alice, "talk to a human")
    await say(service, alice, "how do I set up the VPN?")
    out = await say(service, alice, "start over")
    assert "start over" in out["reply"].lower()
    assert out["state"]["parked_flows"] == [] and out["state"]["active_flow"] is None


async def test_handoff_is_not_queued_twice(service, alice) -> None:
    await say(service, alice, "I want to speak to someone about my contract")
    out = await say(service, alice, "speak to a person please")
    assert "already in the HR queue" in out["reply"]
    assert len(service.services.handoffs.list()) == 1


@pytest.mark.parametrize(
    ("text", "bare"),
    [
        ("get me an agent", True),
        ("I want to talk to a human", True),
        ("can I speak to someone please", True),
        ("connect me with a real person now", True),
        ("I want to speak to someone about my contract", False),
        ("my laptop is broken, get me a person", False),
    ],
)
def test_bare_requests(text, bare) -> None:
    from graphs.agents.handoff import is_bare_request

    assert is_bare_request(text) is bare
