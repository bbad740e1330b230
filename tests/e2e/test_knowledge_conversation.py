"""A knowledge question through the whole stack: conversation service, router, real retrieval over the shipped
corpus, the real embedded model, the faithfulness guard — ending in a cited answer."""

from __future__ import annotations

import re

import pytest

from app.conversation import ConversationService
from app.events import FinalEvent, TokenEvent
from app.settings import load_settings
from knowledge.guard import facts

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(kb_data_dir):
    return load_settings(data_dir=kb_data_dir, _env_file=None)


async def test_cited_answer_from_the_knowledge_base(settings) -> None:
    async with ConversationService.open(settings) as svc:
        alice = svc.services.people.get("alice")
        events = [e async for e in svc.turn(alice, "e2e-kb-1", "whats the expense limit for client dinners?")]
        final = events[-1]
        assert isinstance(final, FinalEvent), events[-1]
        assert final.route == "knowledge"
        assert any(isinstance(e, TokenEvent) for e in events)
        assert final.sources and final.sources[0]["id"] == "fin-expenses"
        assert re.search(r"\[\d\]", final.reply), final.reply
        assert "75" in final.reply, final.reply
        # Never a number that is not in the cited chunks.
        cited = svc.services.retriever.collection.get(ids=[s["chunk"] for s in final.sources])["documents"]
        source_facts = set().union(*(facts(t) for t in cited))
        assert facts(re.sub(r"\[\d\]", "", final.reply)) <= source_facts, final.reply
        answered = svc.services.audit.events(thread_id="e2e-kb-1", event_type="knowledge.answered")
        assert answered and answered[0].details["sources"][0] == "fin-expenses"


async def test_unanswerable_question_says_so(settings) -> None:
    async with ConversationService.open(settings) as svc:
        alice = svc.services.people.get("alice")
        out = await svc.ask(alice, "e2e-kb-2", "how do I get a company car?")
        assert "couldn't find" in out["reply"] and not out["sources"]
        assert {a["name"] for a in out["actions"]} == {"open_ticket", "talk_to_person"}


async def test_employee_does_not_get_manager_only_facts(settings) -> None:
    async with ConversationService.open(settings) as svc:
        alice = svc.services.people.get("alice")
        out = await svc.ask(alice, "e2e-kb-3", "what's the policy on salary review calibration for managers?")
        assert all(not s["id"].startswith("mgr-") for s in out["sources"])
