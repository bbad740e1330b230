"""Per-turn latency of the specialist flows on the real stack (router, retrieval, SQLite, checkpointer), with a
scripted chat model so the figures show Concierge's own overhead, not the language model's.

    .venv/bin/python benchmarks/flows_bench.py [--runs N] [--json]

Each scenario is a short conversation replayed ``--runs`` times on fresh threads of one seeded database in a
temporary data directory (the knowledge base is ingested once). Reported per scenario: the median and p95 of
the per-turn time in milliseconds, and the turns per scenario. The Markdown goes to
``benchmarks/results/flows.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from app.conversation import ConversationService  # noqa: E402
from app.db.engine import Database  # noqa: E402
from app.models.fake import FakeChatModel  # noqa: E402
from app.models.registry import Models  # noqa: E402
from app.services.seed import seed  # noqa: E402
from app.settings import load_settings  # noqa: E402
from app.stats import percentile  # noqa: E402

SCENARIOS: dict[str, tuple[str, list[str]]] = {
    "knowledge answer": ("alice", ["how do I set up the VPN on a Mac?"]),
    "incident, 3 turns to a ticket": ("alice", ["my monitor keeps flickering", "since yesterday, just me",
                                                "it's annoying but I can work"]),
    "ticket status": ("alice", ["what's the status of INC0000001?"]),
    "password reset to code": ("erin", ["I forgot my password", "text please"]),
    "leave request to confirmation": ("alice", ["I want annual leave from 8 to 10 March 2027"]),
    "leave balance": ("alice", ["how many vacation days do I have left?"]),
    "onboarding, one message to confirm": ("hannah", [
        "please onboard Sam Taylor as an accountant, employee in finance, Manchester, starting 3 March 2027, "
        "reporting to Frank"]),
}


async def run(runs: int) -> list[dict]:
    from knowledge.ingest import ingest

    data = Path(tempfile.mkdtemp(prefix="concierge-bench-"))
    settings = load_settings(data_dir=data, model="fake", small_model="fake", _env_file=None)
    ingest(settings)
    db = Database.open(settings)
    seed(db)
    models = Models(settings, answer_model=FakeChatModel(responses=["ok"]), small_model=FakeChatModel(responses=["s"]))
    rows = []
    async with ConversationService.open(settings, models=models, db=db) as svc:
        await svc.ask(svc.services.people.get("alice"), "warm-up", "hello")  # load the router and embeddings
        for name, (user_id, turns) in SCENARIOS.items():
            user = svc.services.people.get(user_id)
            times = []
            for _ in range(runs):
                thread = f"bench-{uuid.uuid4().hex[:8]}"
                for text in turns:
                    started = time.perf_counter()
                    out = await svc.ask(user, thread, text)
                    times.append((time.perf_counter() - started) * 1000)
                    assert not out.get("error"), out
            rows.append({"scenario": name, "turns": len(turns), "median_ms": round(statistics.median(times), 1),
                         "p95_ms": round(percentile(times, 95), 1), "samples": len(times)})
    db.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = asyncio.run(run(args.runs))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("scenario", "turns", "median ms/turn", "p95 ms/turn", "samples")
    for r in rows:
        table.add_row(r["scenario"], str(r["turns"]), f"{r['median_ms']:.1f}", f"{r['p95_ms']:.1f}", str(r["samples"]))
    Console().print(table)
    lines = [
        "# Specialist flows: per-turn latency (scripted model)", "",
        f"Measured {dt.date.today()} on {platform.machine()}, {os.cpu_count()} cores, `--runs {args.runs}`; "
        "real router, retrieval, SQLite and checkpointer; the chat model is scripted, so this is Concierge's "
        "own overhead per turn.", "",
        "| scenario | turns | median ms/turn | p95 ms/turn | samples |", "|---|---|---|---|---|",
        *[f"| {r['scenario']} | {r['turns']} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['samples']} |"
          for r in rows], "",
    ]
    out = ROOT / "benchmarks" / "results" / "flows.md"
    out.write_text("\n".join(lines))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
