"""Each routing layer, with a keyword classifier standing in for the embedding classifier."""

from __future__ import annotations

import json

from app.models.fake import FakeChatModel
from graphs.routing.classifier import Prediction
from graphs.routing.router import Router, RouterPolicy
from graphs.routing.routes import ROUTES
from graphs.routing.tiebreak import TieBreaker
from graphs.routing.triggers import load_triggers
from tests.fakes import KeywordClassifier, fake_router


class Fixed:
    """A classifier that always predicts the same thing."""

    def __init__(self, label: str, confidence: float, rejected: bool = False, second: str = "knowledge"):
        rest = [(r, 0.01) for r in ROUTES if r not in (label, second)]
        self.prediction = Prediction(label, confidence, [(label, confidence), (second, 0.2), *rest], rejected)

    def predict_one(self, text: str) -> Prediction:
        return self.prediction


def test_trigger_layer_wins_and_names_the_rule() -> None:
    d = fake_router().decide("I think I got a phishing email")
    assert (d.route, d.layer, d.rule, d.confidence) == ("incident", "trigger", "phishing", 1.0)


def test_semantic_layer_when_confident() -> None:
    d = fake_router().decide("my monitor keeps flickering")
    assert (d.route, d.layer) == ("incident", "semantic") and d.alternatives[0]["route"] != "incident"


def test_gate_asks_to_clarify_between_the_top_two() -> None:
    d = Router(load_triggers(), Fixed("incident", 0.4, rejected=True)).decide("the thing")
    assert d.clarify and d.layer == "gate" and d.route == "incident"
    assert d.alternatives[0]["route"] == "knowledge"


def test_gate_declines_out_of_scope_with_its_own_confidence() -> None:
    d = Router(load_triggers(), Fixed("out_of_scope", 0.8, rejected=True)).decide("football scores")
    assert (d.route, d.layer, d.clarify) == ("out_of_scope", "gate", False) and d.confidence == 0.8
    far = Router(load_triggers(), Fixed("incident", 0.1, rejected=True)).decide("zzz")
    assert far.route == "out_of_scope" and round(far.confidence, 2) == 0.9


def test_active_flow_keeps_the_turn_unless_clearly_switched() -> None:
    router = Router(load_triggers(), Fixed("knowledge", 0.7))
    d = router.decide("next tuesday", active_flow="leave")
    assert (d.route, d.layer) == ("leave", "active_flow")
    sure = Router(load_triggers(), Fixed("knowledge", 0.95)).decide("how do I set up the VPN?", active_flow="leave")
    assert (sure.route, sure.layer) == ("knowledge", "semantic")
    claimed = Router(load_triggers(), Fixed("knowledge", 0.95)).decide("3 march", active_flow="leave", flow_claims=True)
    assert claimed.route == "leave"
    trig = fake_router().decide("I forgot my password", active_flow="leave")
    assert (trig.route, trig.layer) == ("password_reset", "trigger")


def test_small_talk_never_steals_a_waiting_flow() -> None:
    d = Router(load_triggers(), Fixed("smalltalk", 0.99)).decide("ok thanks", active_flow="leave")
    assert d.route == "leave"


def test_tiebreak_only_inside_its_band_and_only_among_candidates() -> None:
    model = FakeChatModel(responses=[json.dumps({"category": "knowledge"})])
    tb = TieBreaker(model, {r: r for r in ROUTES})
    router = Router(load_triggers(), Fixed("incident", 0.4, rejected=True), RouterPolicy(), tb)
    d = router.decide("vpn thing")
    assert (d.route, d.layer) == ("knowledge", "llm") and len(model.calls) == 1
    Router(load_triggers(), Fixed("incident", 0.9), RouterPolicy(), tb).decide("my laptop broke")
    assert len(model.calls) == 1  # confident: the model is not asked
    bad = TieBreaker(FakeChatModel(responses=['{"category": "weather"}']), {})
    d = Router(load_triggers(), Fixed("incident", 0.4, rejected=True), RouterPolicy(), bad).decide("x")
    assert d.layer == "gate" and d.clarify


def test_keyword_fake_is_deterministic() -> None:
    assert KeywordClassifier().predict_one("book annual leave").label == "leave"
