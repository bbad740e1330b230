"""The calibrated "no good answer" gate: does the knowledge base answer this question at all?

Six signals from one retrieval: the best dense similarity, its margin over the second, the best BM25 score,
how many of the question's words the top passages contain, how many of its words the corpus has never seen
(after typo correction), and how much of the question's *information* (IDF-weighted words) the top passages
leave uncovered — "jury service" or "gym membership" near a benefits article is a topic match without an
answer. A logistic model over them, fitted on the labelled evaluation questions by
``concierge eval retrieval --calibrate`` (cross-validated figures are reported there), gives P(unanswerable);
the gate refuses to answer above its threshold. ``knowledge/calibration.json`` holds the fitted weights.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

CALIBRATION_FILE = Path(__file__).resolve().parent / "calibration.json"
FEATURES = ("dense_top", "dense_margin", "bm25_top", "coverage", "unknown_words", "uncovered_idf")


@dataclass(frozen=True)
class Signals:
    dense_top: float
    dense_margin: float
    bm25_top: float
    coverage: float
    unknown_words: float
    uncovered_idf: float = 0.0

    def vector(self) -> list[float]:
        # BM25 is unbounded; scaled so its typical range sits near the others'.
        return [self.dense_top, self.dense_margin, self.bm25_top / 20.0, self.coverage, self.unknown_words,
                self.uncovered_idf]


def signals(
    query_tokens: list[str], dense: list, keyword: list, vocabulary: set[str], tokenize,
    idf: dict[str, float] | None = None,
) -> Signals:
    """Compute the gate's inputs from the dense and BM25 rankings (each best first)."""
    d = [h.dense or 0.0 for h in dense[:2]] + [0.0, 0.0]
    top_words: set[str] = set()
    for hit in dense[:3]:
        top_words |= set(tokenize(f"{hit.title} {hit.text}"))
    n = max(1, len(query_tokens))
    coverage = sum(t in top_words for t in query_tokens) / n
    unknown = sum(not known_word(t, vocabulary) for t in query_tokens) / n
    # A word the corpus never uses carries the most information (the highest IDF there is).
    idf = idf or {}
    rare = max(idf.values(), default=1.0)
    weights = [idf.get(t, rare) for t in query_tokens]
    uncovered = sum(w for t, w in zip(query_tokens, weights, strict=True)
                    if t not in top_words and not known_word(t, top_words))
    uncovered_idf = uncovered / sum(weights) if sum(weights) > 0 else 0.0
    return Signals(d[0], d[0] - d[1], keyword[0].bm25 if keyword else 0.0, coverage, unknown, uncovered_idf)


def known_word(token: str, vocabulary: set[str]) -> bool:
    """In the corpus, or one typo away from a corpus word (``conect`` → ``connect``)."""
    if token in vocabulary or token.isdigit():
        return True
    if len(token) < 5:
        return False
    return bool(difflib.get_close_matches(token, vocabulary, n=1, cutoff=0.84))


@dataclass(frozen=True)
class AnswerGate:
    weights: tuple[float, ...]
    bias: float
    threshold: float  # refuse when P(unanswerable) >= threshold

    def p_unanswerable(self, s: Signals) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, s.vector(), strict=True))
        return 1.0 / (1.0 + math.exp(-z))

    def answerable(self, s: Signals) -> bool:
        return self.p_unanswerable(s) < self.threshold

    def save(self, path: Path = CALIBRATION_FILE, **report) -> None:
        path.write_text(json.dumps({"features": FEATURES, **asdict(self), "report": report}, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path = CALIBRATION_FILE) -> AnswerGate:
        if not path.is_file():
            return DEFAULT_GATE
        data = json.loads(path.read_text())
        if tuple(data.get("features", ())) != FEATURES:
            # Fitted on other signals (an older version): its weights would be meaningless here.
            return DEFAULT_GATE
        return cls(tuple(data["weights"]), float(data["bias"]), float(data["threshold"]))


# Used only until a calibration file exists: refuse when the best dense similarity is below 0.35.
DEFAULT_GATE = AnswerGate((-30.0, 0.0, 0.0, 0.0, 0.0, 0.0), 30.0 * 0.35, 0.5)


def fit_gate(vectors: list[list[float]], unanswerable: list[bool], *, folds: int = 5, seed: int = 0):
    """Fit the logistic gate; return (gate, cross-validated report). The threshold maximises CV F1."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    X, y = np.asarray(vectors, dtype=float), np.asarray(unanswerable, dtype=int)
    probs = np.zeros(len(y))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        model = LogisticRegression(class_weight="balanced", C=1.0).fit(X[train], y[train])
        probs[test] = model.predict_proba(X[test])[:, 1]

    def prf(t: float) -> tuple[float, float, float]:
        tp = int(((probs >= t) & (y == 1)).sum())
        fp = int(((probs >= t) & (y == 0)).sum())
        fn = int(((probs < t) & (y == 1)).sum())
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    threshold = max((round(t, 2) for t in np.arange(0.3, 0.96, 0.05)), key=lambda t: prf(t)[2])
    p, r, f = prf(threshold)
    final = LogisticRegression(class_weight="balanced", C=1.0).fit(X, y)
    gate = AnswerGate(tuple(float(w) for w in final.coef_[0]), float(final.intercept_[0]), float(threshold))
    return gate, {"cv_precision": p, "cv_recall": r, "cv_f1": f, "folds": folds, "questions": len(y)}
