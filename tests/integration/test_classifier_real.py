"""The routing SemanticClassifier with the real embedding model on graphs/routing/examples.yaml."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from graphs.routing.classifier import DEFAULT_MODEL, SemanticClassifier

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "graphs" / "routing" / "examples.yaml"
EVAL = REPO / "tests" / "data" / "routing_eval.jsonl"

pytestmark = pytest.mark.slow


def _examples() -> tuple[list[str], list[str]]:
    routes = yaml.safe_load(EXAMPLES.read_text(encoding="utf-8"))["routes"]
    texts = [str(e) for spec in routes.values() for e in spec["examples"]]
    labels = [name for name, spec in routes.items() for _ in spec["examples"]]
    return texts, labels


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[SemanticClassifier, Path]:
    texts, labels = _examples()
    cache = tmp_path_factory.mktemp("routing-cache")
    return SemanticClassifier.fit(texts, labels, cache_dir=cache), cache


def test_accuracy_on_the_eval_set(fitted: tuple[SemanticClassifier, Path]) -> None:
    clf, _ = fitted
    rows = [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines() if line.strip()]
    preds = clf.predict([r["text"] for r in rows])
    final = ["out_of_scope" if p.rejected else p.label for p in preds]
    gold = [r["expected"] for r in rows]
    accuracy = float(np.mean([f == g for f, g in zip(final, gold, strict=True)]))
    oos = [f == "out_of_scope" for f, g in zip(final, gold, strict=True) if g == "out_of_scope"]
    print(f"\nmethod={clf.method} threshold={clf.threshold:.3f} accuracy={accuracy:.3f} oos_recall={np.mean(oos):.3f}")
    assert accuracy >= 0.9


def test_restart_fits_from_cached_embeddings_quickly(fitted: tuple[SemanticClassifier, Path]) -> None:
    clf, cache = fitted
    texts, labels = _examples()

    def must_not_embed(batch: list[str]):
        raise AssertionError("re-embedded the examples despite the cache")

    t = time.perf_counter()
    again = SemanticClassifier.fit(texts, labels, cache_dir=cache, embed_fn=must_not_embed, model_name=DEFAULT_MODEL)
    elapsed = time.perf_counter() - t
    print(f"\nfit from cached embeddings: {1000 * elapsed:.0f} ms")
    assert again.threshold == pytest.approx(clf.threshold)


def test_predict_one_latency(fitted: tuple[SemanticClassifier, Path]) -> None:
    clf, _ = fitted
    rows = [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines() if line.strip()][:100]
    clf.predict_one("warm up")
    times = []
    for row in rows:
        t = time.perf_counter()
        clf.predict_one(row["text"])
        times.append(1000 * (time.perf_counter() - t))
    times.sort()
    p50, p95 = times[len(times) // 2], times[int(0.95 * len(times)) - 1]
    print(f"\npredict_one latency (incl. query embedding): p50 {p50:.1f} ms, p95 {p95:.1f} ms")
