"""The layered router: active flow → triggers → semantic classifier → small-LM tie-break → confidence gate.

Every decision says which layer decided and with what confidence, so a turn can always be explained.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from graphs.routing.classifier import Prediction, SemanticClassifier
from graphs.routing.examples import EXAMPLES_FILE, load_examples
from graphs.routing.tiebreak import TieBreaker
from graphs.routing.triggers import TRIGGERS_FILE, Trigger, load_triggers, match_triggers

log = logging.getLogger(__name__)

OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True)
class RouteDecision:
    route: str
    confidence: float
    layer: str  # active_flow | trigger | semantic | llm | gate
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    rule: str | None = None  # the trigger rule that fired, if any
    clarify: bool = False  # the gate asks the user to choose between the top two routes

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["confidence"] = round(self.confidence, 4)
        return out


@dataclass(frozen=True)
class RouterPolicy:
    """Thresholds on the classifier's calibrated confidence (0..1)."""

    accept: float = 0.5  # at or above: the semantic layer decides
    clarify_below: float = 0.5  # below (after any tie-break): ask which of the top two routes is meant
    switch: float = 0.85  # a waiting flow gives up the turn only to a route this sure (or a trigger)
    tiebreak_band: tuple[float, float] = (0.25, 0.5)  # the small LM is asked only inside this band


class Router:
    def __init__(
        self,
        triggers: list[Trigger],
        classifier: SemanticClassifier,
        policy: RouterPolicy | None = None,
        tiebreak: TieBreaker | None = None,
    ):
        self.triggers = triggers
        self.classifier = classifier
        self.policy = policy or RouterPolicy()
        self.tiebreak = tiebreak

    @classmethod
    def from_files(
        cls,
        examples: Path = EXAMPLES_FILE,
        triggers: Path = TRIGGERS_FILE,
        *,
        cache_dir: Path | None = None,
        embed_fn=None,
        model_name: str | None = None,
        policy: RouterPolicy | None = None,
        tiebreak: TieBreaker | None = None,
    ) -> Router:
        """``model_name``: the embedding model (package or directory) when ``embed_fn`` is not given."""
        texts, labels, _ = load_examples(examples)
        clf = SemanticClassifier.fit(
            texts, labels, oos_label=OUT_OF_SCOPE, cache_dir=cache_dir, embed_fn=embed_fn, model_name=model_name
        )
        return cls(load_triggers(triggers), clf, policy, tiebreak)

    # -- layers -------------------------------------------------------------------------------------------
    def _alternatives(self, pred: Prediction, exclude: str) -> list[dict[str, Any]]:
        return [{"route": r, "confidence": round(p, 4)} for r, p in pred.ranked if r != exclude][:3]

    def decide(self, text: str, *, active_flow: str | None = None, flow_claims: bool = False) -> RouteDecision:
        """Route one message. ``flow_claims``: the waiting flow recognised the message as its answer."""
        fired = match_triggers(self.triggers, text)
        pred = self.classifier.predict_one(text)

        if active_flow:
            # Small talk ("ok thanks") never takes the turn from a flow that is waiting for an answer.
            switch = next((t for t in fired if t.route not in (active_flow, "smalltalk", OUT_OF_SCOPE)), None)
            if switch is not None and not flow_claims:
                return RouteDecision(switch.route, 1.0, "trigger", self._alternatives(pred, switch.route), switch.name)
            clear_switch = (
                pred.label != active_flow
                and not pred.rejected
                and pred.confidence >= self.policy.switch
                and pred.label not in (OUT_OF_SCOPE, "smalltalk")
            )
            if not clear_switch or flow_claims:
                return RouteDecision(active_flow, 1.0, "active_flow", self._alternatives(pred, active_flow))
            return RouteDecision(pred.label, pred.confidence, "semantic", self._alternatives(pred, pred.label))

        if fired:
            first = fired[0]
            return RouteDecision(first.route, 1.0, "trigger", self._alternatives(pred, first.route), first.name)

        if not pred.rejected and pred.confidence >= self.policy.accept:
            return RouteDecision(pred.label, pred.confidence, "semantic", self._alternatives(pred, pred.label))

        lo, hi = self.policy.tiebreak_band
        if self.tiebreak is not None and lo <= pred.confidence < hi and pred.label != OUT_OF_SCOPE:
            choice = self.tiebreak.choose(text, [r for r, _ in pred.ranked[:3]])
            if choice is not None:
                return RouteDecision(choice, pred.confidence, "llm", self._alternatives(pred, choice))

        if pred.label == OUT_OF_SCOPE or (pred.rejected and pred.confidence < self.policy.clarify_below / 2):
            # For an out-of-scope label the confidence already is "it is out of scope"; for a rejected
            # in-scope label, the chance it is out of scope is what the label's confidence leaves.
            confidence = pred.confidence if pred.label == OUT_OF_SCOPE else 1.0 - pred.confidence
            return RouteDecision(OUT_OF_SCOPE, confidence, "gate", self._alternatives(pred, OUT_OF_SCOPE))
        return RouteDecision(
            pred.label, pred.confidence, "gate", self._alternatives(pred, pred.label), clarify=True
        )
