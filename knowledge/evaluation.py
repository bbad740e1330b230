"""Retrieval evaluation: recall@k, MRR@10, nDCG@10, no-answer detection and latency per method."""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.identity import User
from app.stats import percentile
from knowledge.answerability import AnswerGate, fit_gate
from knowledge.retrieval import Retriever, doc_ranking

EVAL_FILE = Path(__file__).resolve().parent / "eval" / "questions.jsonl"
METHODS = ("dense", "bm25", "hybrid")
_ROLE_FOR_AUDIENCE = {"all": (), "managers": ("manager",), "hr": ("hr_staff",), "it": ("it_agent",)}


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    gold: tuple[str, ...]
    answer_facts: tuple[str, ...]
    audience: str = "all"

    @property
    def answerable(self) -> bool:
        return bool(self.gold)


def load_questions(path: Path = EVAL_FILE) -> list[Question]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(
                Question(
                    d["id"], d["question"], tuple(d.get("gold", [])), tuple(d.get("answer_facts", [])),
                    d.get("audience", "all"),
                )
            )
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{path}:{n}: not a valid question line ({exc})") from None
    return out


def user_for(audience: str) -> User:
    """A synthetic reader entitled to the question's audience (the eval measures ranking, not access)."""
    return User(id="eval", name="Eval", roles=("employee", *_ROLE_FOR_AUDIENCE.get(audience, ())))


def ndcg(ranking: list[str], gold: set[str], k: int = 10) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranking[:k]) if d in gold)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(gold), k)))
    return dcg / ideal if ideal else 0.0



def evaluate_method(retriever: Retriever, questions: list[Question], mode: str) -> tuple[dict, list]:
    recalls = {1: [], 3: [], 5: []}
    mrr, ndcgs, latencies = [], [], []
    tp = fp = fn = 0
    runs = []
    for q in questions:
        started = time.perf_counter()
        found = retriever.retrieve(q.question, user_for(q.audience), k=10, mode=mode)  # type: ignore[arg-type]
        latencies.append((time.perf_counter() - started) * 1000)
        hits = found.hits
        runs.append((q, hits))
        # The gate reads the same signals whichever ranking is evaluated (it is computed from both).
        predicted_no = not found.answerable
        if not q.answerable:
            tp += predicted_no
            fn += not predicted_no
            continue
        fp += predicted_no
        ranking = doc_ranking(hits)
        gold = set(q.gold)
        for k in recalls:
            recalls[k].append(float(bool(gold & set(ranking[:k]))))
        rr = next((1 / (i + 1) for i, d in enumerate(ranking[:10]) if d in gold), 0.0)
        mrr.append(rr)
        ndcgs.append(ndcg(ranking, gold))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    metrics = {
        "recall@1": statistics.fmean(recalls[1]),
        "recall@3": statistics.fmean(recalls[3]),
        "recall@5": statistics.fmean(recalls[5]),
        "mrr@10": statistics.fmean(mrr),
        "ndcg@10": statistics.fmean(ndcgs),
        "no_answer_precision": precision,
        "no_answer_recall": recall,
        "no_answer_f1": f1,
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
    }
    return metrics, runs


def access_leaks(retriever: Retriever, questions: list[Question]) -> int:
    """Restricted-audience questions asked by a plain employee: chunks returned that they may not read."""
    employee = user_for("all")
    leaks = 0
    for q in questions:
        if q.audience == "all":
            continue
        for mode in METHODS:
            for hit in retriever.search(q.question, employee, k=10, mode=mode):  # type: ignore[arg-type]
                if not hit.meta.get("aud_all"):
                    leaks += 1
    return leaks


def evaluate(retriever: Retriever, questions: list[Question], *, progress: Callable[[str], None] | None = None) -> dict:
    retriever.search("warm up", None, k=1)  # loads the embedding model outside the timings
    results = {}
    for mode in METHODS:
        if progress:
            progress(mode)
        results[mode], _ = evaluate_method(retriever, questions, mode)
    return {
        "questions": len(questions),
        "unanswerable": sum(not q.answerable for q in questions),
        "gate_threshold": retriever.gate.threshold,
        "methods": results,
        "access_leaks": access_leaks(retriever, questions),
    }


def calibrate(retriever: Retriever, questions: list[Question]) -> tuple[AnswerGate, dict]:
    """Fit the no-answer gate on the labelled questions; the report holds cross-validated figures."""
    vectors, unanswerable = [], []
    for q in questions:
        found = retriever.retrieve(q.question, user_for(q.audience), k=5)
        vectors.append(found.signals.vector())
        unanswerable.append(not q.answerable)
    return fit_gate(vectors, unanswerable)
