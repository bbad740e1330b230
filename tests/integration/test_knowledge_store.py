"""Real Chroma + the real embedding model: the ingest lifecycle, retrieval and access control."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.identity import User
from app.settings import load_settings
from knowledge.ingest import DOCS_DIR, ingest
from knowledge.retrieval import Retriever, doc_ranking

DOC = """---
id: {id}
title: {title}
category: {category}
audience: [{audience}]
owner: Test Owner
last_reviewed: 2026-10-01
retention: standard
---
# {title}

## Details
{body}
"""

ARTICLES = {
    "fac-parking": ("Car parking at the Leeds depot", "facilities", "all",
                    "Staff park in bays 10 to 40. A monthly permit costs £12 and is booked through Facilities."),
    "fin-mileage": ("Mileage claims", "finance", "all",
                    "Business mileage is reimbursed at 45p per mile for the first 10,000 miles in a tax year."),
    "hr-salary-bands": ("Salary bands for managers", "hr", "managers",
                        "Band M2 ranges from £68,000 to £84,000. Calibration happens in the first week of May."),
}


def write_docs(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for doc_id, (title, category, audience, body) in ARTICLES.items():
        text = DOC.format(id=doc_id, title=title, category=category, audience=audience, body=body)
        (root / f"{doc_id}.md").write_text(text)


@pytest.fixture
def kb(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", _env_file=None)
    docs = tmp_path / "docs"
    write_docs(docs)
    return settings, docs


def test_ingest_lifecycle(kb) -> None:
    settings, docs = kb
    first = ingest(settings, docs)
    assert sorted(first.added) == sorted(ARTICLES) and first.chunks >= 3 and not first.errors

    retriever = Retriever(settings)
    hits = retriever.search("how much is a parking permit", None, k=3)
    assert hits[0].doc_id == "fac-parking" and "£12" in hits[0].text

    again = ingest(settings, docs)
    assert sorted(again.unchanged) == sorted(ARTICLES) and not again.changed and again.chunks == 0

    path = docs / "fac-parking.md"
    path.write_text(path.read_text().replace("£12", "£15"))
    edited = ingest(settings, docs)
    assert edited.updated == ["fac-parking"] and len(edited.unchanged) == 2
    hits = Retriever(settings).search("parking permit price", None, k=3)
    assert "£15" in hits[0].text and not any("£12" in h.text for h in hits)

    (docs / "fin-mileage.md").unlink()
    removed = ingest(settings, docs)
    assert removed.removed == ["fin-mileage"]
    assert "fin-mileage" not in doc_ranking(Retriever(settings).search("mileage rate per mile", None, k=5))


def test_malformed_file_is_reported_and_the_rest_ingests(kb) -> None:
    settings, docs = kb
    ingest(settings, docs)
    (docs / "broken.md").write_text("---\nid: broken\ntitle: [oops\n---\nbody")
    bad = docs / "fac-parking.md"
    bad.write_text(bad.read_text().replace("category: facilities", "category: parking"))
    report = ingest(settings, docs)
    reasons = dict(report.errors)
    assert "not valid YAML" in reasons[str(docs / "broken.md")]
    assert "category 'parking'" in reasons[str(bad)]
    # The last good version of the article that became malformed stays searchable.
    assert "fac-parking" not in report.removed
    assert Retriever(settings).search("parking permit", None, k=1)[0].doc_id == "fac-parking"


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_employees_never_retrieve_restricted_chunks(kb, mode) -> None:
    settings, docs = kb
    ingest(settings, docs)
    retriever = Retriever(settings)
    employee = User("alice", "Alice", ("employee",))
    manager = User("bob", "Bob", ("employee", "manager"))
    query = "salary band M2 range for managers"
    assert "hr-salary-bands" not in doc_ranking(retriever.search(query, employee, k=10, mode=mode))
    assert doc_ranking(retriever.search(query, manager, k=10, mode=mode))[0] == "hr-salary-bands"


def test_shipped_corpus_ingests_cleanly(tmp_path) -> None:
    settings = load_settings(data_dir=tmp_path, _env_file=None)
    docs = tmp_path / "docs"
    shutil.copytree(DOCS_DIR, docs)
    report = ingest(settings, docs)
    assert not report.errors and len(report.added) >= 40
    assert {"managers", "hr"} <= {
        a for m in Retriever(settings).collection.get(include=["metadatas"])["metadatas"]
        for a in ("managers", "hr", "it") if m.get(f"aud_{a}")
    }


def test_switching_the_embedding_model_uses_its_own_collection(kb) -> None:
    """Vectors of two models never share an index: a switch starts empty, is ingested, and the old store stays."""
    from app.embeddings import model_dir
    from knowledge.store import COLLECTION, collection_name, kb_collection

    settings, docs = kb
    ingest(settings, docs)
    other = settings.model_copy(update={"embedding_model": str(model_dir(settings.embedding_model))})
    assert kb_collection(other).name != COLLECTION == kb_collection(settings).name
    assert kb_collection(other).count() == 0
    report = ingest(other, docs)
    assert sorted(report.added) == sorted(ARTICLES)
    assert doc_ranking(Retriever(other).search("mileage rate per mile"))[0] == "fin-mileage"
    assert kb_collection(settings).count() == kb_collection(other).count()
    assert collection_name(other.embedding_model) == kb_collection(other).name
