"""Few-shot intent classification with out-of-scope rejection on CLINC150 (Larson et al., EMNLP 2019).

    .venv/bin/python benchmarks/clinc150.py [DATASET_DIR] [--shots 10] [--seed 0] [--json] [--finetune]

Protocol: ``--shots`` training examples per intent are sampled (seeded) from ``train``; the classifier is fitted
on them alone — its rejection threshold comes from cross-validation on those examples, never from test data —
and evaluated on the full ``test`` split (4,500 in-scope) plus ``oos_test`` (1,000 out-of-scope). No
out-of-scope example is used for training. ``val``/``oos_val`` are never read here (they were used while
developing the method).

Metrics: in-scope accuracy (a rejected in-scope example counts as wrong), raw in-scope accuracy (best label,
ignoring rejection), out-of-scope recall (share of ``oos_test`` rejected), in-scope rejection rate, macro-F1
over the 150 intents plus ``oos`` (a rejection predicts ``oos``). ``--finetune`` adds a SetFit-style contrastive
fine-tune of the encoder on the same examples (slow on CPU). The table is printed (rich) and written as Markdown
to ``benchmarks/results/clinc150.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graphs.routing.classifier import (  # noqa: E402
    DEFAULT_MODEL,
    METHODS,
    SemanticClassifier,
    cache_key,
    contrastive_finetune,
    embed_cached,
    finetuned_model_name,
)

DEFAULT_DIR = ROOT.parent / "shared" / "datasets" / "clinc150"
RESULTS = ROOT / "benchmarks" / "results" / "clinc150.md"
CACHE = ROOT / "data" / "cache" / "benchmarks"
OOS = "oos"
ANCHORS = [
    ("Published: sentence encoders (USE+ConveRT), 10-shot", "93.3%", "—", "raw accuracy, no rejection"),
    ("Published: BERT, full training data (threshold)", "96.2%", "52.3%", "Larson et al. 2019"),
]
TARGETS = {"accuracy": 0.93, "oos_recall": 0.80, "in_scope_rejected": 0.05}
# What was tried while developing the method, measured on the *validation* split (val + oos_val + oos_train as the
# out-of-scope part), 10-shot, seed 0 — never on test.
DEV_NOTES = """\
## How the method was chosen (validation split only, 10-shot, seed 0)

- **Base model, raw in-scope accuracy on val:** logistic regression on MiniLM embeddings 91.0% (C=10; C=30 91.2%,
  C=100 91.0%), nearest centroid 88.6%, kNN (mean of top-3 per intent) 86.1%, 1-NN 83.6%; LR averaged with
  centroid or kNN probabilities 88.7-90.0% (worse); LR + the intent name as an extra example 91.3%; LR + char
  2-5-gram TF-IDF LR (the `ensemble`) 90.8%. The frozen 384-d MiniLM-L6 tops out at ~91%.
- **Fine-tune (SetFit-style supervised contrastive, batches of 32 intents × 2 examples):** 3 epochs (70 steps)
  91.0% → 93.1% raw, 6 epochs 93.5%. But a threshold cross-validated on the tuned encoder's embeddings is fooled
  (the encoder has seen the held-out examples): it rejected 6.1% (3 epochs) / 8.6% (6 epochs) of val instead of
  4%. Hence the *fold-tuned CV* variant: one encoder tuned per fold, held-out features from the encoder that did not
  see them (6 tunes in all).
- **Out-of-scope score, OOS recall on val at 5% in-scope rejection (threshold set on val, for comparison only):**
  top probability 0.80, margin top1−top2 0.59, energy (logsumexp of logits) 0.84, nearest example 0.84, mean of
  top-3 neighbours 0.87, cosine to nearest centroid 0.89, Mahalanobis (shared Ledoit-Wolf covariance) 0.78;
  standardised mean of top probability + nearest example + cosine to the predicted intent's centroid **0.91**
  (AUROC 0.980) — the one used. Confidence = Platt-calibrated P(best label right) of that score.
- **Threshold:** cross-validation on the training examples, threshold rejecting 4% of held-out in-scope examples:
  3.7-4.4% rejected on val. A 5% target rejected 4.8-5.2% of val (too close to the 5% cap); 10 folds instead of 5
  changed little.
"""


def load(dataset_dir: Path) -> dict[str, list[list[str]]]:
    path = dataset_dir / "data_full.json"
    if not path.is_file():
        print(f"CLINC150 not found: {path} is missing (pass the dataset directory as the first argument)")
        raise SystemExit(2)
    return json.loads(path.read_text(encoding="utf-8"))


def sample(train: list[list[str]], shots: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    by_intent: dict[str, list[str]] = {}
    for text, intent in train:
        by_intent.setdefault(intent, []).append(text)
    texts, labels = [], []
    for intent in sorted(by_intent):
        pool = by_intent[intent]
        for i in rng.choice(len(pool), min(shots, len(pool)), replace=False):
            texts.append(pool[int(i)])
            labels.append(intent)
    return texts, labels


def evaluate(clf: SemanticClassifier, texts: list[str], X: np.ndarray, gold: list[str]) -> dict[str, float]:
    from sklearn.metrics import f1_score

    preds = clf.predict(texts, embeddings=X)
    gold_a = np.array(gold)
    best = np.array([p.label for p in preds])
    rejected = np.array([p.rejected for p in preds])
    final = np.where(rejected, OOS, best)
    ins = gold_a != OOS
    return {
        "accuracy": float((final == gold_a)[ins].mean()),
        "raw_accuracy": float((best == gold_a)[ins].mean()),
        "oos_recall": float(rejected[~ins].mean()),
        "in_scope_rejected": float(rejected[ins].mean()),
        "macro_f1": float(f1_score(gold_a, final, average="macro", zero_division=0)),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = load(Path(args.dataset_dir))
    train_texts, train_labels = sample(data["train"], args.shots, args.seed)
    test = data["test"] + [[t, OOS] for t, _ in data["oos_test"]]
    test_texts = [t for t, _ in test]
    gold = [lbl for _, lbl in test]

    def log(msg: str) -> None:
        if not args.json:
            print(msg, file=sys.stderr, flush=True)

    def shared_embed(texts: list[str]):
        from app.embeddings import embed

        return embed(texts, name=args.model)

    t0 = time.perf_counter()
    X_train = embed_cached(train_texts, shared_embed, args.model, CACHE, train_labels)
    X_test = embed_cached(test_texts, shared_embed, args.model, CACHE, gold)
    log(f"embedded {len(train_texts)} train + {len(test_texts)} test texts in {time.perf_counter() - t0:.0f}s")

    rows: list[dict[str, Any]] = []
    for method in args.methods:
        t = time.perf_counter()
        c = time.process_time()
        clf = SemanticClassifier.fit(train_texts, train_labels, method=method, oos_label=OOS, embeddings=X_train)
        fit_s, fit_cpu = time.perf_counter() - t, time.process_time() - c
        row = {"method": method, **evaluate(clf, test_texts, X_test, gold)}
        row.update(threshold=clf.threshold, fit_seconds=fit_s, fit_cpu_seconds=fit_cpu, cv=clf.cv)
        rows.append(row)
        log(f"{method}: {_fmt_row(row)}")

    if args.finetune:
        X_train_t, X_test_t, tune_s = tuned_embeddings(
            train_texts, train_labels, [(train_texts, train_labels), (test_texts, gold)], args, log
        )
        fold_cache: dict[bytes, np.ndarray] = {}
        fold_seconds: list[float] = []  # tuning time of each fold encoder (as measured when it was tuned)
        fold_wall: list[float] = []  # time spent getting them in this run (cache hits are quick)

        def fold_embeddings(mask: np.ndarray) -> np.ndarray:
            """Embeddings of every training text from an encoder tuned on the fold's training part only."""
            key = np.packbits(mask).tobytes()
            if key not in fold_cache:
                started = time.perf_counter()
                sub = [i for i, m in enumerate(mask) if m]
                X_fold, secs = tuned_embeddings(
                    [train_texts[i] for i in sub],
                    [train_labels[i] for i in sub],
                    [(train_texts, train_labels)],
                    args,
                    log,
                )
                fold_cache[key] = X_fold
                fold_seconds.append(secs)
                fold_wall.append(time.perf_counter() - started)
            return fold_cache[key]

        for method in args.finetune_methods:
            variants = [("", None)] + ([(" (fold-tuned CV)", fold_embeddings)] if args.finetune_cv else [])
            for suffix, cv_embeddings in variants:
                t, waited = time.perf_counter(), sum(fold_wall)
                clf = SemanticClassifier.fit(
                    train_texts,
                    train_labels,
                    method=method,
                    oos_label=OOS,
                    embeddings=X_train_t,
                    cv_embeddings=cv_embeddings,
                )
                fit_s = tune_s + time.perf_counter() - t - (sum(fold_wall) - waited)
                if cv_embeddings is not None:  # the fold encoders' tuning, whether run now or earlier (cached)
                    fit_s += sum(fold_seconds)
                row = {"method": f"fine-tune + {method}{suffix}", **evaluate(clf, test_texts, X_test_t, gold)}
                row.update(threshold=clf.threshold, fit_seconds=fit_s, fit_cpu_seconds=float("nan"), cv=clf.cv)
                rows.append(row)
                log(f"fine-tune + {method}{suffix}: {_fmt_row(row)}")

    return {
        "dataset": "CLINC150 (data_full)",
        "shots": args.shots,
        "model": args.model,
        "seed": args.seed,
        "train_examples": len(train_texts),
        "test_in_scope": len(data["test"]),
        "test_oos": len(data["oos_test"]),
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        "rows": rows,
    }


def tuned_embeddings(
    tune_texts: list[str],
    tune_labels: list[str],
    targets: list[tuple[list[str], list[str]]],
    args: argparse.Namespace,
    log,
) -> tuple:
    """Embeddings of each target (texts, labels) from an encoder fine-tuned on (tune_texts, tune_labels).

    The tuned encoder's name is known before tuning, so when every target is already in the embedding cache the
    (slow) tuning is skipped. Returns (*embeddings, tuning seconds as measured when it ran).
    """
    name = finetuned_model_name(tune_texts, tune_labels, epochs=args.epochs, seed=args.seed)
    timing = CACHE / f"{name}.seconds.json"
    paths = [CACHE / f"routing-{cache_key(texts, labels, name)}.npz" for texts, labels in targets]
    if timing.is_file() and all(p.is_file() for p in paths):
        seconds = float(json.loads(timing.read_text())["seconds"])
        log(f"cached fine-tuned embeddings {name} (tuning took {seconds:.0f}s)")

        def not_needed(texts: list[str]):
            raise RuntimeError("cache entry vanished")

        encoder = not_needed
    else:
        t = time.perf_counter()
        encoder = contrastive_finetune(tune_texts, tune_labels, epochs=args.epochs, seed=args.seed, progress=log)
        seconds = time.perf_counter() - t
        CACHE.mkdir(parents=True, exist_ok=True)
        timing.write_text(json.dumps({"seconds": seconds}))
        log(f"fine-tuned {name} on {len(tune_texts)} examples in {seconds:.0f}s")
    return (*[embed_cached(texts, encoder, name, CACHE, labels) for texts, labels in targets], seconds)


def _fmt_row(r: dict[str, Any]) -> str:
    return (
        f"acc {r['accuracy']:.3f} raw {r['raw_accuracy']:.3f} oos-recall {r['oos_recall']:.3f} "
        f"rejected {r['in_scope_rejected']:.3f} macro-F1 {r['macro_f1']:.3f}"
    )


def _pct(x: float) -> str:
    return "—" if x != x else f"{100 * x:.1f}%"


COLUMNS = [
    "method",
    "in-scope acc",
    "raw acc",
    "OOS recall",
    "in-scope rejected",
    "macro-F1",
    "threshold",
    "fit s (CPU s)",
]


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    out = []
    for r in result["rows"]:
        cpu = "" if r["fit_cpu_seconds"] != r["fit_cpu_seconds"] else f" ({r['fit_cpu_seconds']:.1f})"
        out.append(
            [
                r["method"],
                _pct(r["accuracy"]),
                _pct(r["raw_accuracy"]),
                _pct(r["oos_recall"]),
                _pct(r["in_scope_rejected"]),
                f"{r['macro_f1']:.3f}",
                f"{r['threshold']:.3f}",
                f"{r['fit_seconds']:.1f}{cpu}",
            ]
        )
    for name, acc, rec, note in ANCHORS:
        out.append([f"{name} ({note})", "—", acc, rec, "—", "—", "—", "—"])
    return out


def results_path(model: str) -> Path:
    """The shared model's table is ``clinc150.md``; another model's gets its own file."""
    if model == DEFAULT_MODEL:
        return RESULTS
    return RESULTS.with_name(f"clinc150-{Path(model.rstrip('/')).name}.md")


def markdown(result: dict[str, Any]) -> str:
    model = result.get("model", DEFAULT_MODEL)
    flag = "" if model == DEFAULT_MODEL else f" --model {Path(model.rstrip('/')).name}"
    lines = [
        "# CLINC150 few-shot routing benchmark" + ("" if model == DEFAULT_MODEL else f" ({Path(model).name})"),
        "",
        f"Generated by `benchmarks/clinc150.py --shots {result['shots']} --seed {result['seed']}{flag}` on "
        f"{result['date']} ({result['machine']}). {result['train_examples']} training examples "
        f"({result['shots']} per intent), test: {result['test_in_scope']} in-scope + {result['test_oos']} "
        "out-of-scope. Threshold from cross-validation on the training examples only; no out-of-scope training "
        "data. In-scope accuracy counts a rejected in-scope query as wrong; raw accuracy ignores rejection "
        "(the published few-shot anchor is raw accuracy). *Fine-tune*: SetFit-style supervised contrastive tuning of "
        "a private copy of MiniLM on the same examples (3 epochs); *fold-tuned CV*: the threshold's cross-validation "
        "uses, for each fold, an encoder tuned without that fold (the plain variant cross-validates on the encoder "
        "tuned on all examples, which has seen the held-out ones). Fit seconds include the tuning, on 2 CPU cores "
        "shared with other work (one tune of 1,200-1,500 examples: ~70 s on a quiet machine, 2-6 min under load).",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(result)]
    lines += [
        "",
        f"Targets: in-scope accuracy ≥ {TARGETS['accuracy']:.0%}, OOS recall ≥ {TARGETS['oos_recall']:.0%} with "
        f"in-scope rejection ≤ {TARGETS['in_scope_rejected']:.0%}.",
        "",
        DEV_NOTES,
    ]
    return "\n".join(lines)


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"CLINC150, {result['shots']}-shot, seed {result['seed']}")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col == "method" else "right")
    for row in table_rows(result):
        table.add_row(*row)
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset_dir", nargs="?", default=str(DEFAULT_DIR))
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help="embedding model: package name or directory (default: the shared one)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the results as JSON only")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated; default all")
    parser.add_argument("--finetune", action="store_true", help="add the contrastive fine-tune (slow on CPU)")
    parser.add_argument("--finetune-methods", default="lr,centroid")
    parser.add_argument("--epochs", type=int, default=3, help="fine-tune epochs")
    parser.add_argument(
        "--no-finetune-cv",
        dest="finetune_cv",
        action="store_false",
        help="skip the variant whose threshold comes from encoders tuned per cross-validation fold (5 more tunes)",
    )
    parser.add_argument(
        "--no-write", action="store_true", help=f"do not write {RESULTS.relative_to(ROOT)} (or the model's own file)"
    )
    args = parser.parse_args(argv)
    args.methods = [m for m in args.methods.split(",") if m]
    args.finetune_methods = [m for m in args.finetune_methods.split(",") if m]
    result = run(args)
    if not args.no_write:
        path = results_path(args.model)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown(result), encoding="utf-8")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
