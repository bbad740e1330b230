"""Staff decide approvals in chat; a decided workflow task moves its run on in the same turn."""

from __future__ import annotations

from datetime import date

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from app.conversation import ConversationService
from app.models.fake import FakeChatModel
from app.models.registry import Models
from app.services.registry import Services
from graphs.supervisor import build_supervisor
from tests.fakes import StubRetriever, fake_router


@pytest.fixture
def service(settings, db) -> ConversationService:
    graph = build_supervisor().compile(checkpointer=InMemorySaver())
    services = Services.from_db(db, settings, retriever=StubRetriever(answerable=False))
    return ConversationService(settings, graph, services, Models(settings, answer_model=FakeChatModel(responses=["x"])),
                               fake_router())


def _termination(service):
    ctx = {"leaver": {"person_id": "anna", "full_name": "Anna Novak", "manager_id": "frank",
                      "last_day": date.today().isoformat(),
                      "access_end": date.today().isoformat(), "mode": "immediate", "reason": "terminated"}}
    return service.workflows.start("offboarding", ctx, started_by="frank", subject="Anna Novak", idempotency_key="k")


async def test_hr_lists_and_approves_a_workflow_task_in_chat(service) -> None:
    run = _termination(service)
    hannah = service.services.people.get("hannah")
    listed = await service.ask(hannah, "s1", "pending approvals")
    ref = service.workflows.approval_for(run.reference, "hr_approval")
    assert ref in listed["reply"] and listed["actions"][0]["label"] == f"Approve {ref}"
    out = await service.ask(hannah, "s1", f"approve {ref}")
    assert f"{run.reference} (offboarding for Anna Novak) is now completed" in out["reply"]
    assert service.services.directory.account("anna").status == "disabled"


async def test_people_not_named_by_the_approval_cannot_decide_it(service) -> None:
    run = _termination(service)
    ref = service.workflows.approval_for(run.reference, "hr_approval")
    for user_id in ("frank", "ivan"):  # the requester, and staff of another role
        out = await service.ask(service.services.people.get(user_id), f"s-{user_id}", f"approve {ref}")
        assert "can't find an approval" in out["reply"]
    assert service.workflows.get(run.reference).state == "waiting"
    alice = await service.ask(service.services.people.get("alice"), "s-a", f"approve {ref}")
    assert alice["route"] != "smalltalk" or "approved" not in alice["reply"]


async def test_rejecting_in_chat_rolls_the_run_back(service) -> None:
    run = _termination(service)
    ref = service.workflows.approval_for(run.reference, "hr_approval")
    out = await service.ask(service.services.people.get("hannah"), "s2", f"reject {ref} because not enough evidence")
    assert "rejected" in out["reply"] and "rolled back" in out["reply"]
    assert service.services.hr.get("anna").status == "active"


async def test_staff_hear_what_waits_for_them_when_they_open_a_conversation(service) -> None:
    _termination(service)
    hannah = service.services.people.get("hannah")
    first = await service.ask(hannah, "s3", "hello")
    assert first["reply"].startswith("You have 1 approval waiting for you")
    second = await service.ask(hannah, "s3", "thanks")
    assert "approval waiting" not in second["reply"]
