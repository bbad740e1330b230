"""Hybrid retrieval: dense (MiniLM in Chroma) + keyword (BM25) fused by reciprocal rank, access-filtered."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Literal

from rank_bm25 import BM25Okapi

from app.identity import User
from app.settings import Settings
from knowledge.answerability import AnswerGate, Signals, signals
from knowledge.store import kb_collection

Mode = Literal["dense", "bm25", "hybrid"]
# Fusion settings measured on knowledge/eval (README): a small k trusts the top ranks, and BM25 counts half
# as much as the dense ranking, which it mostly re-orders (exact terms, error codes, numbers).
RRF_K = 10
BM25_WEIGHT = 0.5
CANDIDATES = 20

_STOP = frozenset(
    "a an the and or but if of to in on at for from by with about as is are was were be been being do does did "
    "i me my we our you your it its this that these those what which who whom how when where why can could "
    "would should will shall may might must have has had not no yes please hi hello thanks there their them "
    "they he she his her im ive id dont cant wont so any some get got just".split()
)


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens without stop words, with a light plural/-ing/-ed stemmer."""
    out = []
    for tok in re.findall(r"[a-z0-9]+", text.lower().replace("'", "")):
        if tok in _STOP:
            continue
        for suffix in ("ing", "ies", "ed", "es", "s"):
            if len(tok) > len(suffix) + 3 and tok.endswith(suffix):
                tok = tok[: -len(suffix)] + ("y" if suffix == "ies" else "")
                break
        out.append(tok)
    return out


def allowed_audiences(user: User | None) -> tuple[str, ...]:
    """Which article audiences a user may read — decided in code from directory roles, never by the model."""
    if user is None:
        return ("all",)
    allowed = ["all"]
    if user.has_role("manager") or user.has_role("hr_staff"):
        allowed.append("managers")
    if user.has_role("hr_staff"):
        allowed.append("hr")
    if user.has_role("it_agent"):
        allowed.append("it")
    return tuple(allowed)


def audience_filter(audiences: tuple[str, ...]) -> dict:
    clauses = [{f"aud_{a}": True} for a in audiences]
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


@dataclass
class Hit:
    chunk_id: str
    doc_id: str
    title: str
    section: str
    text: str
    score: float  # fused score (or the single method's score)
    dense: float | None = None  # cosine similarity
    bm25: float | None = None
    meta: dict = field(default_factory=dict, repr=False)

    @property
    def passage(self) -> str:
        """The chunk text without the "title — section" line that was added for embedding."""
        return self.text.split("\n", 1)[1] if "\n" in self.text else self.text


@dataclass
class _Corpus:
    ids: list[str]
    texts: list[str]
    metas: list[dict]
    bm25: BM25Okapi | None
    version: tuple[int, str]
    vocabulary: set[str]


@dataclass
class Retrieval:
    hits: list[Hit]
    signals: Signals
    answerable: bool


class Retriever:
    """Searches the knowledge base. One per process; call ``refresh()`` after an ingest."""

    def __init__(self, settings: Settings, collection=None):
        self.settings = settings
        self.collection = collection if collection is not None else kb_collection(settings)
        self._corpus: _Corpus | None = None
        self._lock = threading.Lock()
        self.gate = AnswerGate.load()

    def refresh(self) -> None:
        got = self.collection.get(include=["documents", "metadatas"])
        ids, texts, metas = got["ids"], got["documents"] or [], got["metadatas"] or []
        tokens = [tokenize(f"{m.get('title', '')} {t}") for t, m in zip(texts, metas, strict=True)]
        bm25 = BM25Okapi(tokens) if tokens else None
        version = (len(ids), ",".join(sorted(m.get("doc_hash", "") for m in metas))[:4096])
        vocabulary = set().union(*tokens) if tokens else set()
        self._corpus = _Corpus(ids, texts, metas, bm25, version, vocabulary)

    def _ensure(self) -> _Corpus:
        with self._lock:
            if self._corpus is None or self._corpus.version[0] != self.collection.count():
                self.refresh()
            assert self._corpus is not None
            return self._corpus

    def dense(self, query: str, audiences: tuple[str, ...], n: int = CANDIDATES) -> list[Hit]:
        if self.collection.count() == 0:
            return []
        res = self.collection.query(
            query_texts=[query],
            n_results=n,
            where=audience_filter(audiences),
            include=["documents", "metadatas", "distances"],
        )
        hits = []
        for cid, text, meta, dist in zip(
            res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True
        ):
            sim = 1.0 - float(dist)
            section = meta.get("section", "")
            hits.append(Hit(cid, meta["doc_id"], meta["title"], section, text, sim, dense=sim, meta=meta))
        return hits

    def keyword(self, query: str, audiences: tuple[str, ...], n: int = CANDIDATES) -> list[Hit]:
        corpus = self._ensure()
        terms = tokenize(query)
        if corpus.bm25 is None or not terms:
            return []
        scores = corpus.bm25.get_scores(terms)
        allowed = set(audiences)
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        hits = []
        for i in order:
            if scores[i] <= 0 or len(hits) >= n:
                break
            meta = corpus.metas[i]
            if not any(meta.get(f"aud_{a}") for a in allowed):
                continue  # the same access rule as the dense filter, applied in code
            hits.append(
                Hit(
                    corpus.ids[i], meta["doc_id"], meta["title"], meta.get("section", ""), corpus.texts[i],
                    float(scores[i]), bm25=float(scores[i]), meta=meta,
                )
            )
        return hits

    def retrieve(self, query: str, user: User | None = None, *, k: int = 5, mode: Mode = "hybrid") -> Retrieval:
        """Top ``k`` chunks the user may read, best first, with the signals of the no-answer gate."""
        audiences = allowed_audiences(user)
        dense = self.dense(query, audiences)
        keyword = self.keyword(query, audiences)
        hits = {"dense": dense, "bm25": keyword}.get(mode) or fuse(dense, keyword, weights=(1.0, BM25_WEIGHT))
        corpus = self._ensure()
        idf = corpus.bm25.idf if corpus.bm25 is not None else {}
        sig = signals(tokenize(query), dense, keyword, corpus.vocabulary, tokenize, idf)
        return Retrieval(hits[:k], sig, self.gate.answerable(sig))

    def rank_sentences(self, query: str, sentences: list[str]) -> list[float]:
        """Cosine similarity of each sentence to the query (for choosing the evidence to answer from)."""
        if not sentences:
            return []
        from app.embeddings import embed

        vectors = embed([query, *sentences], self.settings.embedding_model)
        return [float(v) for v in vectors[1:] @ vectors[0]]

    def search(self, query: str, user: User | None = None, *, k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
        return self.retrieve(query, user, k=k, mode=mode).hits


def fuse(*rankings: list[Hit], k: int = RRF_K, weights: tuple[float, ...] | None = None) -> list[Hit]:
    """Weighted reciprocal rank fusion; keeps each method's own score on the merged hit."""
    merged: dict[str, Hit] = {}
    weights = weights or (1.0,) * len(rankings)
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, hit in enumerate(ranking):
            entry = merged.get(hit.chunk_id)
            if entry is None:
                entry = merged[hit.chunk_id] = Hit(
                    hit.chunk_id, hit.doc_id, hit.title, hit.section, hit.text, 0.0, hit.dense, hit.bm25, hit.meta
                )
            entry.score += weight / (k + rank + 1)
            entry.dense = entry.dense if entry.dense is not None else hit.dense
            entry.bm25 = entry.bm25 if entry.bm25 is not None else hit.bm25
    return sorted(merged.values(), key=lambda h: -h.score)


def doc_ranking(hits: list[Hit]) -> list[str]:
    """Article ids in the order their best chunk appears."""
    return list(dict.fromkeys(h.doc_id for h in hits))

