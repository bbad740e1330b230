"""Fakes for fast unit tests of logic: a keyword classifier standing in for the embedding classifier."""

from __future__ import annotations

import re

from graphs.routing.classifier import Prediction
from graphs.routing.router import Router
from graphs.routing.routes import ROUTES
from graphs.routing.triggers import load_triggers
from knowledge.answerability import Signals
from knowledge.retrieval import Hit, Retrieval

_RULES = (
    ("incident", r"broken|crash|slow|not working|error|flicker|monitor"),
    ("leave", r"\bleave\b|vacation|holiday|day off|days off|\bsick\b"),
    ("onboarding", r"onboard|new hire|joins"),
    ("knowledge", r"vpn|expense|policy|wi-?fi|how do i|limit|salary"),
    ("smalltalk", r"^(hi|hello|hey|thanks|thank you)\b|what can you do"),
    ("out_of_scope", r"weather|recipe|football|lottery"),
)


class KeywordClassifier:
    """Predicts with regexes: confident on a hit, unsure (and rejected) between the top two otherwise."""

    def __init__(self, unsure: tuple[str, str] = ("incident", "knowledge")):
        self.unsure = unsure

    def predict_one(self, text: str) -> Prediction:
        for route, pattern in _RULES:
            if re.search(pattern, text, re.I):
                ranked = [(route, 0.9)] + [(r, 0.1 / 8) for r in ROUTES if r != route]
                return Prediction(route, 0.9, ranked, False)
        a, b = self.unsure
        ranked = [(a, 0.4), (b, 0.35)] + [(r, 0.25 / 7) for r in ROUTES if r not in (a, b)]
        return Prediction(a, 0.4, ranked, True)


def fake_router() -> Router:
    return Router(load_triggers(), KeywordClassifier())  # type: ignore[arg-type]


class StubRetriever:
    """Returns fixed hits (or "no answer") without Chroma or the embedding model."""

    def __init__(self, hits: list[Hit] | None = None, answerable: bool = True):
        hits = hits or []
        self.hits, self._answerable, self.queries = hits, answerable, []

    def retrieve(self, query, user=None, *, k=5, mode="hybrid"):
        self.queries.append((query, user.id if user else None))
        return Retrieval(self.hits[:k], Signals(0.7, 0.1, 10.0, 1.0, 0.0), self._answerable)

    def rank_sentences(self, query, sentences):
        q = set(query.lower().split())
        return [len(q & set(s.lower().split())) / 10 for s in sentences]
