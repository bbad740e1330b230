"""Routing evaluation: accuracy, macro-F1, per-route precision/recall, out-of-scope recall, confusion, latency."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from app.stats import percentile
from graphs.routing.classifier import SemanticClassifier
from graphs.routing.router import OUT_OF_SCOPE, Router


def load_labelled(path: Path) -> list[tuple[str, str]]:
    """``{"text": ..., "expected": ...}`` lines (``label`` is accepted for ``expected``)."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            rows.append((str(d["text"]), str(d.get("expected", d.get("label")))))
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{path}:{n}: expected {{'text': ..., 'expected': ...}} ({exc})") from None
    return rows



def metrics(expected: list[str], predicted: list[str], latencies_ms: list[float]) -> dict:
    labels = sorted(set(expected) | set(predicted))
    per_route = {}
    f1s = []
    for label in labels:
        tp = sum(e == p == label for e, p in zip(expected, predicted, strict=True))
        fp = sum(p == label and e != label for e, p in zip(expected, predicted, strict=True))
        fn = sum(e == label and p != label for e, p in zip(expected, predicted, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_route[label] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
        if tp + fn:
            f1s.append(f1)
    confusion: dict[str, dict[str, int]] = {}
    for e, p in zip(expected, predicted, strict=True):
        confusion.setdefault(e, Counter())[p] += 1
    return {
        "n": len(expected),
        "accuracy": sum(e == p for e, p in zip(expected, predicted, strict=True)) / max(1, len(expected)),
        "macro_f1": sum(f1s) / max(1, len(f1s)),
        "oos_recall": per_route.get(OUT_OF_SCOPE, {}).get("recall", 0.0),
        "per_route": per_route,
        "confusion": {e: dict(c) for e, c in confusion.items()},
        "latency_p50_ms": percentile(latencies_ms, 50),
        "latency_p95_ms": percentile(latencies_ms, 95),
    }


def evaluate_router(router: Router, rows: list[tuple[str, str]], progress: Callable[[], None] | None = None) -> dict:
    router.decide("warm up")  # the first call loads the embedding model; keep it out of the latencies
    predicted, latencies, layers, clarify = [], [], Counter(), 0
    for text, _ in rows:
        started = time.perf_counter()
        decision = router.decide(text)
        latencies.append((time.perf_counter() - started) * 1000)
        predicted.append(decision.route)
        layers[decision.layer] += 1
        clarify += decision.clarify
        if progress:
            progress()
    out = metrics([e for _, e in rows], predicted, latencies)
    out["layers"] = dict(layers)
    out["clarify_rate"] = clarify / max(1, len(rows))
    out["errors"] = [
        {"text": t, "expected": e, "predicted": p} for (t, e), p in zip(rows, predicted, strict=True) if e != p
    ]
    return out


def evaluate_few_shot(train: list[tuple[str, str]], test: list[tuple[str, str]], *, seed: int = 0) -> dict:
    """Fit on TRAIN only (any label set); ``out_of_scope`` in TEST means the classifier must reject it."""
    texts, labels = [t for t, _ in train], [lab for _, lab in train]
    clf = SemanticClassifier.fit(texts, labels, oos_label=OUT_OF_SCOPE, seed=seed)
    clf.predict_one("warm up")
    predicted, latencies = [], []
    for text, _ in test:
        started = time.perf_counter()
        pred = clf.predict_one(text)
        latencies.append((time.perf_counter() - started) * 1000)
        predicted.append(OUT_OF_SCOPE if pred.rejected else pred.label)
    expected = [e for _, e in test]
    out = metrics(expected, predicted, latencies)
    in_scope = [(e, p) for e, p in zip(expected, predicted, strict=True) if e != OUT_OF_SCOPE]
    out["in_scope_accuracy"] = sum(e == p for e, p in in_scope) / max(1, len(in_scope))
    out["in_scope_rejection_rate"] = sum(p == OUT_OF_SCOPE for _, p in in_scope) / max(1, len(in_scope))
    out["method"] = clf.method
    out["threshold"] = clf.threshold
    return out
