"""The routing SemanticClassifier on a deterministic fake embedding (hashed bag of words): fast, no model."""

from __future__ import annotations

import hashlib
import re
import time

import numpy as np
import pytest

from graphs.routing.classifier import Prediction, SemanticClassifier, cache_key, fit_softmax_regression

DIM = 256


def fake_embed(texts: list[str]) -> np.ndarray:
    """Hashed bag of words, L2-normalised: texts sharing words are similar, disjoint vocabularies orthogonal-ish."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            h = int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "little")
            out[i, h % DIM] += 1.0 if (h >> 16) & 1 else -1.0
        norm = np.linalg.norm(out[i])
        if norm:
            out[i] /= norm
    return out


class CountingEmbed:
    model_name = "fake-bow"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return fake_embed(texts)

    @property
    def texts_seen(self) -> set[str]:
        return {t for call in self.calls for t in call}


VOCAB = {
    "printer": "printer toner paper jam tray print queue spooler cartridge scanner".split(),
    "password": "password reset locked account expired forgot login credentials unlock pin".split(),
    "holiday": "holiday leave vacation days annual allowance booking absence carry over".split(),
}
FILLER = "please help my the i is with today can you".split()


def make_set(n_per_label: int, seed: int, labels=VOCAB) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    texts, out_labels = [], []
    for label in labels:
        words = VOCAB[label]
        for _ in range(n_per_label):
            chosen = list(rng.choice(words, 3, replace=False)) + list(rng.choice(FILLER, 2, replace=False))
            rng.shuffle(chosen)
            texts.append(" ".join(chosen))
            out_labels.append(label)
    return texts, out_labels


OOS_TEXTS = [
    "sing me a song about the weather",
    "what is the capital of peru",
    "recommend a good pizza recipe",
    "who won the football match yesterday",
    "translate hello into japanese",
    "tell me a joke about cats",
    "best hiking trails near mountains",
    "how tall is mount everest",
]


@pytest.fixture(scope="module")
def clf() -> SemanticClassifier:
    texts, labels = make_set(20, seed=1)
    return SemanticClassifier.fit(texts, labels, method="lr", embed_fn=fake_embed)


@pytest.mark.parametrize("method", ["auto", "centroid", "knn", "lr", "ensemble"])
def test_fit_predict_every_method(method: str) -> None:
    texts, labels = make_set(20, seed=1)
    clf = SemanticClassifier.fit(texts, labels, method=method, embed_fn=fake_embed)
    assert clf.method == ("ensemble" if method == "auto" else method)
    test_texts, test_labels = make_set(10, seed=2)
    preds = clf.predict(test_texts)
    accuracy = np.mean([p.label == g and not p.rejected for p, g in zip(preds, test_labels, strict=True)])
    assert accuracy >= 0.9
    assert all(isinstance(p, Prediction) and 0.0 <= p.confidence <= 1.0 for p in preds)


def test_ranked_has_every_label_best_first(clf: SemanticClassifier) -> None:
    pred = clf.predict_one("my printer has a paper jam in tray two")
    assert pred.label == "printer" and not pred.rejected
    assert next(label for label, _ in pred.ranked) == "printer"
    assert sorted(label for label, _ in pred.ranked) == sorted(VOCAB)
    scores = [s for _, s in pred.ranked]
    assert scores == sorted(scores, reverse=True)
    assert abs(sum(scores) - 1.0) < 1e-6


def test_far_away_inputs_are_rejected(clf: SemanticClassifier) -> None:
    preds = clf.predict(OOS_TEXTS)
    assert sum(p.rejected for p in preds) >= len(OOS_TEXTS) - 1
    for p in preds:  # the best label is still reported
        assert p.label in VOCAB


def test_threshold_comes_from_the_training_examples_only() -> None:
    texts, labels = make_set(20, seed=1)
    counting = CountingEmbed()
    clf = SemanticClassifier.fit(texts, labels, method="lr", embed_fn=counting)
    assert counting.texts_seen == set(texts)  # fit embedded nothing but the training texts
    threshold = clf.threshold
    assert 0.0 < threshold < 1.0
    # Predicting (any data) never moves it, and refitting on the same examples gives the same one.
    clf.predict(OOS_TEXTS + make_set(10, seed=3)[0])
    assert clf.threshold == threshold
    assert SemanticClassifier.fit(texts, labels, method="lr", embed_fn=fake_embed).threshold == threshold
    # It rejects at most ~the target share of held-out (cross-validated) in-scope training examples.
    assert clf.cv["rejected_in_scope"] <= 0.06
    # A stricter target on the same training data gives a higher threshold.
    strict = SemanticClassifier.fit(texts, labels, method="lr", embed_fn=fake_embed, reject_rate=0.2)
    assert strict.threshold > threshold


def test_cache_hit_avoids_re_embedding(tmp_path) -> None:
    texts, labels = make_set(15, seed=4)
    first = CountingEmbed()
    a = SemanticClassifier.fit(texts, labels, method="centroid", embed_fn=first, cache_dir=tmp_path)
    assert len(first.calls) == 1
    assert list(tmp_path.glob("*.npz"))
    second = CountingEmbed()
    b = SemanticClassifier.fit(texts, labels, method="centroid", embed_fn=second, cache_dir=tmp_path)
    assert second.calls == []  # no re-embedding on a cache hit
    assert b.threshold == a.threshold
    # The key covers the texts, the labels and the model name.
    relabelled = [*labels[:-1], "holiday" if labels[-1] != "holiday" else "printer"]
    assert cache_key(texts, labels, "m") != cache_key(texts, relabelled, "m")
    assert cache_key(texts, labels, "m") != cache_key(texts, labels, "other-model")
    third = CountingEmbed()
    SemanticClassifier.fit(texts, relabelled, method="centroid", embed_fn=third, cache_dir=tmp_path)
    assert len(third.calls) == 1


def test_corrupt_cache_file_is_ignored(tmp_path) -> None:
    texts, labels = make_set(10, seed=5)
    SemanticClassifier.fit(texts, labels, method="centroid", embed_fn=fake_embed, cache_dir=tmp_path)
    for f in tmp_path.glob("*.npz"):
        f.write_bytes(b"not a zip file")
    counting = CountingEmbed()
    SemanticClassifier.fit(texts, labels, method="centroid", embed_fn=counting, cache_dir=tmp_path)
    assert len(counting.calls) == 1


def test_out_of_scope_examples_are_a_class_and_negative_evidence() -> None:
    texts, labels = make_set(20, seed=6)
    oos_train = [
        "what is the weather like tomorrow",
        "play some music please",
        "tell me a story about dragons",
        "what time is the football on",
        "recommend a good book to read",
        "how do i cook pasta",
        "who is the president of france",
        "what is a good movie tonight",
        "translate this sentence into spanish",
        "what is two plus two",
    ]
    clf = SemanticClassifier.fit(
        texts + oos_train, labels + ["out_of_scope"] * len(oos_train), method="lr", embed_fn=fake_embed
    )
    assert "out_of_scope" in clf.labels
    assert clf.cv["oos_recall"] == clf.cv["oos_recall"]  # measured (not NaN) when oos examples exist
    weather = clf.predict_one("what is the weather like in paris")
    assert weather.rejected and weather.label == "out_of_scope"
    assert clf.predict_one("forgot my password and my account is locked").label == "password"
    assert not clf.predict_one("forgot my password and my account is locked").rejected


def test_few_shot_label_set_without_oos_examples() -> None:
    texts, labels = make_set(4, seed=7)
    clf = SemanticClassifier.fit(texts, labels, method="auto", embed_fn=fake_embed)
    assert clf.cv["oos_recall"] != clf.cv["oos_recall"]  # NaN: nothing to measure it on
    assert clf.predict_one("annual leave allowance booking").label == "holiday"


def test_fit_and_predict_are_fast_on_precomputed_embeddings() -> None:
    texts, labels = make_set(170, seed=8)  # ~500 examples, like examples.yaml
    X = fake_embed(texts)
    t = time.perf_counter()
    clf = SemanticClassifier.fit(texts, labels, method="lr", embeddings=X, embed_fn=fake_embed)
    assert time.perf_counter() - t < 5.0  # generous: CI machines are shared
    assert len(clf.predict(texts[:3])) == 3


def test_input_validation(clf: SemanticClassifier) -> None:
    assert clf.predict([]) == []
    with pytest.raises(TypeError):
        clf.predict("a single string")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown method"):
        SemanticClassifier.fit(["a", "b"], ["x", "y"], method="magic", embed_fn=fake_embed)
    with pytest.raises(ValueError, match="in-scope"):
        SemanticClassifier.fit(["a", "b"], ["out_of_scope"] * 2, embed_fn=fake_embed)
    with pytest.raises(ValueError, match="length"):
        SemanticClassifier.fit(["a", "b"], ["x"], embed_fn=fake_embed)


def test_softmax_regression_matches_in_primal_and_dual() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 10)
    X_small = rng.normal(size=(30, 5)) + 3 * y[:, None]  # d < n: primal
    W, b = fit_softmax_regression(X_small, y, 3, C=1.0)
    assert ((X_small @ W + b).argmax(1) == y).mean() >= 0.9
    X_wide = np.concatenate([X_small, np.zeros((30, 60))], axis=1)  # d > n: dual, same optimum
    W2, b2 = fit_softmax_regression(X_wide, y, 3, C=1.0)
    np.testing.assert_allclose(X_wide @ W2 + b2, X_small @ W + b, atol=1e-3)
