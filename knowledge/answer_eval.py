"""Answer-level check: run real knowledge turns and verify every number/date against the cited chunks."""

from __future__ import annotations

import random
import re
import statistics
import time

from app.conversation import ConversationService
from knowledge.evaluation import Question
from knowledge.guard import facts, unsupported_months

_CITE = re.compile(r"\[\d+\]")


async def evaluate_answers(svc: ConversationService, questions: list[Question], *, n: int = 30, seed: int = 0) -> dict:
    """Ask ``n`` answerable all-staff questions as an employee; check faithfulness and correctness."""
    pool = [q for q in questions if q.answerable and q.audience == "all"]
    sample = random.Random(seed).sample(pool, min(n, len(pool)))
    user = svc.services.people.get("alice")
    faithful = correct = answered = 0
    modes: dict[str, int] = {}
    seconds, rows = [], []
    for q in sample:
        before = svc.services.audit.last_id()
        started = time.perf_counter()
        out = await svc.ask(user, f"answer-eval-{q.id}", q.question, channel="eval")
        seconds.append(time.perf_counter() - started)
        events = svc.services.audit.events(thread_id=f"answer-eval-{q.id}", after_id=before)
        mode = next((e.details.get("mode") for e in events if e.event_type == "knowledge.answered"), "no_answer")
        modes[mode] = modes.get(mode, 0) + 1
        reply = out.get("reply") or ""
        chunks = [s["chunk"] for s in out.get("sources") or []]
        cited = svc.services.retriever.collection.get(ids=chunks)["documents"] if chunks else []
        allowed = set().union(*(facts(t) for t in cited)) if cited else set()
        claimed = facts(_CITE.sub("", reply))
        ok = mode != "no_answer" and claimed <= allowed and not unsupported_months(reply, cited)
        has_facts = all(f.lower() in reply.lower() for f in q.answer_facts)
        answered += mode != "no_answer"
        faithful += ok
        correct += has_facts
        rows.append(
            {
                "id": q.id,
                "question": q.question,
                "reply": reply,
                "mode": mode,
                "faithful": ok,
                "has_answer_facts": has_facts,
                "unsupported": sorted(claimed - allowed),
            }
        )
    answered_n = max(1, answered)
    return {
        "questions": len(sample),
        "answered": answered,
        "faithful_share": faithful / answered_n,
        "answer_facts_share": correct / len(sample),
        "modes": modes,
        "seconds_median": statistics.median(seconds) if seconds else 0.0,
        "rows": rows,
    }
