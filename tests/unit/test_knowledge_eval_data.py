"""The knowledge evaluation sets: well formed, pointing at real articles, and independent of each other."""

from __future__ import annotations

import re

import pytest

from knowledge.documents import iter_document_paths, parse_document
from knowledge.evaluation import EVAL_FILE, load_questions
from knowledge.ingest import DOCS_DIR

# A held-out test set for the no-answer gate (which is fitted on EVAL_FILE), written separately by another author
# told not to read EVAL_FILE: 200 questions, 70 near misses the articles don't answer; the 20 that still came out
# close to an EVAL_FILE question (same articles, same author habits) were removed.
HELDOUT_FILE = EVAL_FILE.with_name("questions_heldout.jsonl")
DOCS = {d.id: d for d in (parse_document(p) for p in iter_document_paths(DOCS_DIR))}


def words(text: str) -> set[str]:
    return set(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


@pytest.mark.parametrize("path", [EVAL_FILE, HELDOUT_FILE], ids=lambda p: p.name)
def test_question_set_is_valid(path) -> None:
    questions = load_questions(path)
    assert len(questions) >= 150 and len({q.id for q in questions}) == len(questions)
    unanswerable = [q for q in questions if not q.answerable]
    assert len(unanswerable) >= 0.1 * len(questions)
    for q in questions:
        assert set(q.gold) <= set(DOCS), f"{q.id}: unknown article in {q.gold}"
        for fact in q.answer_facts:
            assert any(fact in DOCS[g].body for g in q.gold), f"{q.id}: {fact!r} is in none of {q.gold}"


def test_heldout_set_shares_no_near_copy_with_the_first() -> None:
    first = [words(q.question) for q in load_questions(EVAL_FILE)]
    for q in load_questions(HELDOUT_FILE):
        w = words(q.question)
        assert all(len(w & f) / len(w | f) < 0.6 for f in first), f"{q.id} is a near copy: {q.question!r}"
