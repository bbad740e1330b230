"""Benchmark the two embedded models on speed and on Concierge's own three small-model tasks.

    .venv/bin/python benchmarks/models_bench.py [--runs N] [--json] [--models qwen2.5-0.5b,smollm2-135m]

Speed (median over ``--runs``): load time of a fresh ``llama_cpp.Llama`` with the app's arguments, prompt
processing tokens/s, generation tokens/s, and time to first token of a short streamed answer through the
app's own ``get_chat_model`` (cold prompt: the KV cache is cleared first).

Quality (temperature 0, so one pass): 8 cases each of
  a) answering from a retrieved knowledge-base paragraph — the expected fact is in the answer and no number
     that is absent from the paragraph/question appears;
  b) JSON extraction under a JSON-schema grammar — valid JSON and every field as expected;
  c) a 2-sentence summary of a support transcript — at most 2 sentences and all key entities mentioned.

The table is printed (rich) and written as Markdown to ``benchmarks/results/models.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langchain_core.messages import HumanMessage, SystemMessage  # noqa: E402

from app.models.embedded import cpu_threads, llama_kwargs, load_llama  # noqa: E402
from app.models.factory import get_chat_model  # noqa: E402
from app.models.gguf import resolve_gguf  # noqa: E402
from app.prompts import render_prompt  # noqa: E402
from app.settings import EMBEDDED_MODELS, load_settings  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "models.md"
LOAD_AT_START = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else 0.0
TODAY = dt.date(2025, 2, 20)  # a Thursday; fixed so the extraction cases have one right answer

# --------------------------------------------------------------------------------------------------------
# a) Answer from a retrieved paragraph. ``expect``: every inner list needs one of its alternatives.
# --------------------------------------------------------------------------------------------------------
QA_CASES: list[dict[str, Any]] = [
    {
        "id": "vpn-timeout",
        "doc": "VPN: connect with the GlobalProtect client to portal vpn.northwind.example. Sessions end "
        "automatically after 12 hours; reconnect to continue. If the client shows error 809, switch the "
        "portal to vpn2.northwind.example.",
        "q": "How long can I stay connected to the VPN before it drops me?",
        "expect": [["12 hours", "12-hour", "twelve hours"]],
    },
    {
        "id": "vpn-error",
        "doc": "VPN: connect with the GlobalProtect client to portal vpn.northwind.example. Sessions end "
        "automatically after 12 hours; reconnect to continue. If the client shows error 809, switch the "
        "portal to vpn2.northwind.example.",
        "q": "My VPN says error 809, what do I do?",
        "expect": [["vpn2.northwind.example"]],
    },
    {
        "id": "meal-limit",
        "doc": "Expenses: submit claims in Concur within 30 days of the purchase. A receipt is required for "
        "any item over 25 EUR. Meals while travelling are reimbursed up to 45 EUR per day.",
        "q": "What is the daily meal limit when I travel?",
        "expect": [["45"]],
    },
    {
        "id": "lockout",
        "doc": "Passwords must have at least 14 characters and are changed every 180 days. After 5 failed "
        "sign-in attempts the account is locked for 15 minutes.",
        "q": "How long am I locked out after too many wrong passwords?",
        "expect": [["15 minutes", "15 min", "fifteen minutes"]],
    },
    {
        "id": "carry-over",
        "doc": "Annual leave: full-time employees get 28 days per year including bank holidays. Up to 5 unused "
        "days can be carried over to the next year and must be taken by 31 March.",
        "q": "How many unused leave days can I carry over?",
        "expect": [["5", "five"]],
    },
    {
        "id": "it-desk",
        "doc": "Laptops are replaced every 4 years. A broken screen is repaired within 3 working days; a loan "
        "laptop is available at the IT desk on floor 2 of the Leeds office.",
        "q": "Where can I get a loan laptop?",
        "expect": [["floor 2", "2nd floor", "second floor", "floor two"]],
    },
    {
        "id": "parental-pay",
        "doc": "Parental leave: parents get 16 weeks of paid leave, at full pay for the first 8 weeks and at 60% "
        "of pay after that. Request it at least 8 weeks before it starts.",
        "q": "What pay do I get after the first 8 weeks of parental leave?",
        "expect": [["60%", "60 %", "60 percent", "sixty percent"]],
    },
    {
        "id": "home-office",
        "doc": "Remote work: employees may work from home up to 3 days per week with their manager's approval. "
        "A one-off home-office allowance of 300 EUR is paid, plus 20 EUR per month towards internet.",
        "q": "How much is the one-off home office allowance?",
        "expect": [["300"]],
    },
]

# --------------------------------------------------------------------------------------------------------
# b) JSON extraction under a grammar built from a JSON schema.
# --------------------------------------------------------------------------------------------------------
DATE = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
LEAVE_SCHEMA = {
    "type": "object",
    "properties": {
        "leave_type": {"type": "string", "enum": ["annual", "sick", "parental", "unpaid", "other"]},
        "start": DATE,
        "end": DATE,
    },
    "required": ["leave_type", "start", "end"],
}
INCIDENT_SCHEMA = {
    "type": "object",
    "properties": {
        "device": {"type": "string", "maxLength": 60},
        "error_text": {"type": "string", "maxLength": 100},
        "since": {"type": "string", "maxLength": 40},
        "users_affected": {"type": "integer"},
    },
    "required": ["device", "error_text", "since", "users_affected"],
}
LEAVE_SYSTEM = (
    f"Today is {TODAY:%A} {TODAY.isoformat()}. Extract the leave request as JSON: leave_type, start and end "
    "(first and last day off, YYYY-MM-DD)."
)
INCIDENT_SYSTEM = (
    "Extract the incident report as JSON: device (the broken device or app), error_text (the error message "
    "quoted), since (when it started, as written), users_affected (number of people affected)."
)
# ``expect``: exact values, or for strings a list of acceptable substrings (case-insensitive).
EXTRACT_CASES: list[dict[str, Any]] = [
    {
        "id": "leave-march",
        "kind": "leave",
        "text": "I want annual leave from 3 to 7 March, back on the 10th.",
        "expect": {"leave_type": "annual", "start": "2025-03-03", "end": "2025-03-07"},
    },
    {
        "id": "leave-sick",
        "kind": "leave",
        "text": "I'm off sick today and tomorrow, sorry.",
        "expect": {"leave_type": "sick", "start": "2025-02-20", "end": "2025-02-21"},
    },
    {
        "id": "leave-unpaid",
        "kind": "leave",
        "text": "Please book unpaid leave 14-18 April 2025 for my house move.",
        "expect": {"leave_type": "unpaid", "start": "2025-04-14", "end": "2025-04-18"},
    },
    {
        "id": "leave-parental",
        "kind": "leave",
        "text": "Our baby is due in May, so I'd like parental leave from 1 June to 31 August 2025.",
        "expect": {"leave_type": "parental", "start": "2025-06-01", "end": "2025-08-31"},
    },
    {
        "id": "inc-printer",
        "kind": "incident",
        "text": "Since this morning the HP LaserJet printer on floor 3 shows 'Paper jam in tray 2' for all "
        "12 of us in finance.",
        "expect": {
            "device": ["printer", "laserjet"],
            "error_text": ["paper jam"],
            "since": ["morning"],
            "users_affected": 12,
        },
    },
    {
        "id": "inc-bitlocker",
        "kind": "incident",
        "text": "My laptop has asked for 'BitLocker recovery key required' at every start since Monday. Only me.",
        "expect": {
            "device": ["laptop"],
            "error_text": ["bitlocker recovery"],
            "since": ["monday"],
            "users_affected": 1,
        },
    },
    {
        "id": "inc-teams",
        "kind": "incident",
        "text": "Since 9:30 the whole sales floor, about 40 people, can't join Teams calls - it says "
        "'We couldn't connect the call'.",
        "expect": {
            "device": ["teams"],
            "error_text": ["couldn't connect", "could not connect"],
            "since": ["9:30"],
            "users_affected": 40,
        },
    },
    {
        "id": "inc-outlook",
        "kind": "incident",
        "text": "Outlook on my phone says 'Cannot sync mailbox' since yesterday. My colleague Ana has the "
        "same problem, so that's 2 of us.",
        "expect": {
            "device": ["outlook", "phone"],
            "error_text": ["cannot sync"],
            "since": ["yesterday"],
            "users_affected": 2,
        },
    },
]

# --------------------------------------------------------------------------------------------------------
# c) Two-sentence summary of a support transcript; every inner list needs one alternative.
# --------------------------------------------------------------------------------------------------------
SUMMARY_SYSTEM = (
    "Write a ticket summary of this support chat in exactly 2 short sentences. Sentence 1: the problem "
    "(include names, numbers, error codes). Sentence 2: the outcome."
)
SUMMARY_CASES: list[dict[str, Any]] = [
    {
        "id": "vpn-809",
        "text": "User: The VPN won't connect from my hotel, it shows error 809.\nAgent: Please change the "
        "portal to vpn2.northwind.example and try again.\nUser: That worked, thanks!",
        "expect": [["vpn"], ["809"], ["vpn2", "portal"]],
    },
    {
        "id": "payslip",
        "text": "User: My March payslip is missing in Workday.\nAgent: Payroll had an upload problem; they "
        "will re-upload all March payslips by Friday.\nUser: OK, I'll check on Friday.",
        "expect": [["payslip"], ["workday"], ["friday"]],
    },
    {
        "id": "screen",
        "text": "User: I dropped my laptop and the screen is cracked.\nAgent: Bring it to the IT desk on floor 2; "
        "the repair takes 3 working days and you get a loan laptop meanwhile.\nUser: Great, coming now.",
        "expect": [["screen"], ["loan"], ["floor 2", "it desk"]],
    },
    {
        "id": "lockout",
        "text": "User: I'm locked out after typing my password wrong too many times.\nAgent: The lock lifts after "
        "15 minutes, or you can reset it now at the self-service portal.\nUser: I reset it, I'm in.",
        "expect": [["locked", "lockout", "lock"], ["self-service", "reset"]],
    },
    {
        "id": "new-starter",
        "text": "Manager: Tom Baker joins my team on Monday and needs Jira and GitHub access.\nAgent: I've "
        "raised access request REQ-4471 for both; it will be ready by Monday 9am.\nManager: Perfect.",
        "expect": [["tom"], ["jira"], ["github"]],
    },
    {
        "id": "expense",
        "text": "User: Why was my taxi expense of 42 EUR rejected?\nAgent: The claim had no receipt attached. "
        "Upload the receipt in Concur and resubmit it.\nUser: Will do today.",
        "expect": [["taxi", "expense", "claim"], ["receipt"], ["concur", "resubmit"]],
    },
    {
        "id": "printer",
        "text": "User: The printer on floor 3 keeps jamming.\nAgent: I've sent a technician, who will be there "
        "within the hour. Please use the floor 4 printer until then.\nUser: Thanks.",
        "expect": [["printer"], ["technician"], ["floor 3"]],
    },
    {
        "id": "leave-balance",
        "text": "User: How many leave days do I have left this year?\nAgent: You have 12 days left, and up to 5 "
        "can be carried over until 31 March.\nUser: Good to know.",
        "expect": [["12"], ["leave", "days"], ["carr"]],
    },
]

# --------------------------------------------------------------------------------------------------------
# Scoring helpers
# --------------------------------------------------------------------------------------------------------
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")


def numbers(text: str) -> set[str]:
    """Numbers written in digits, with thousands separators removed ("1,000" -> "1000")."""
    out = set()
    for m in _NUMBER.findall(text):
        out.add(m.replace(",", ""))
        out.update(re.split(r"[.,:]", m))  # "31.03" also contains "31" and "03"
    return {n.lstrip("0") or "0" for n in out}


def has_any(text: str, alternatives: list[str]) -> bool:
    low = text.lower().replace("’", "'")
    return any(alt.lower() in low for alt in alternatives)


def score_qa(case: dict[str, Any], answer: str) -> tuple[bool, str]:
    missing = [alts[0] for alts in case["expect"] if not has_any(answer, alts)]
    invented = numbers(answer) - numbers(case["doc"] + " " + case["q"])
    ok = not missing and not invented
    why = "; ".join(
        ([f"missing {', '.join(missing)}"] if missing else [])
        + ([f"invented {', '.join(sorted(invented))}"] if invented else [])
    )
    return ok, why


def score_extract(case: dict[str, Any], output: str) -> tuple[bool, float, str]:
    try:
        data = json.loads(output)
    except ValueError:
        return False, 0.0, "invalid JSON"
    if not isinstance(data, dict):
        return False, 0.0, "not an object"
    wrong = []
    for key, want in case["expect"].items():
        got = data.get(key)
        ok = (isinstance(got, str) and has_any(got, want)) if isinstance(want, list) else got == want
        if not ok:
            wrong.append(f"{key}={got!r}")
    fields = len(case["expect"])
    return not wrong, (fields - len(wrong)) / fields, "; ".join(wrong)


def sentences(text: str) -> list[str]:
    text = re.sub(r"\s+", " ", text.strip())
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])", text)
    return [p for p in parts if re.search(r"\w", p)]


def score_summary(case: dict[str, Any], summary: str) -> tuple[bool, str]:
    n = len(sentences(summary))
    missing = [alts[0] for alts in case["expect"] if not has_any(summary, alts)]
    ok = 0 < n <= 2 and not missing
    why = "; ".join(
        ([f"{n} sentences"] if n > 2 or n == 0 else []) + ([f"missing {', '.join(missing)}"] if missing else [])
    )
    return ok, why


# --------------------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------------------
@dataclass
class CaseResult:
    task: str
    case: str
    ok: bool
    seconds: float
    output: str
    note: str = ""
    field_accuracy: float | None = None


@dataclass
class ModelResult:
    model: str
    gguf: str
    size_mb: float
    threads: int
    load_s: list[float] = field(default_factory=list)
    prompt_tps: list[float] = field(default_factory=list)
    gen_tps: list[float] = field(default_factory=list)
    ttft_s: list[float] = field(default_factory=list)
    ttft_prompt_tokens: int = 0
    load_avg: list[float] = field(default_factory=list)  # 1-min load average after each speed run
    cases: list[CaseResult] = field(default_factory=list)

    def passed(self, task: str) -> tuple[int, int]:
        rows = [c for c in self.cases if c.task == task]
        return sum(c.ok for c in rows), len(rows)

    def median_case_s(self, task: str) -> float:
        rows = [c.seconds for c in self.cases if c.task == task]
        return statistics.median(rows) if rows else float("nan")

    def field_accuracy(self) -> float:
        rows = [c.field_accuracy for c in self.cases if c.field_accuracy is not None]
        return statistics.mean(rows) if rows else float("nan")

    def summary(self) -> dict[str, Any]:
        med = statistics.median
        out: dict[str, Any] = {
            "model": self.model,
            "gguf": self.gguf,
            "size_mb": round(self.size_mb, 1),
            "threads": self.threads,
            "load_s": round(med(self.load_s), 3),
            "prompt_tok_s": round(med(self.prompt_tps), 1),
            "gen_tok_s": round(med(self.gen_tps), 1),
            "ttft_s": round(med(self.ttft_s), 3),
            # Best of the runs: the closest figure to an idle machine when other work competes for the cores.
            "load_s_best": round(min(self.load_s), 3),
            "prompt_tok_s_best": round(max(self.prompt_tps), 1),
            "gen_tok_s_best": round(max(self.gen_tps), 1),
            "ttft_s_best": round(min(self.ttft_s), 3),
            "ttft_prompt_tokens": self.ttft_prompt_tokens,
        }
        for task in ("qa", "extract", "summary"):
            ok, n = self.passed(task)
            if n:
                out[f"{task}_passed"] = ok
                out[f"{task}_cases"] = n
                out[f"{task}_median_s"] = round(self.median_case_s(task), 2)
        if any(c.task == "extract" for c in self.cases):
            out["extract_field_accuracy"] = round(self.field_accuracy(), 3)
        return out


def qa_messages(case: dict[str, Any]) -> list:
    """The app's system prompt; the retrieved article goes next to the question in the user turn (small models
    follow it better there than at the end of the system prompt: Qwen 8/8 vs 7/8 in a trial)."""
    system = render_prompt("assistant", today=TODAY.isoformat(), user_name="Sam", department="Finance")
    user = f"Knowledge-base article:\n{case['doc']}\n\nUsing only the article, answer: {case['q']}"
    return [SystemMessage(system), HumanMessage(user)]


@dataclass
class SpeedConfig:
    """One (model, thread count) to time, with its loaded llama.cpp instance and app chat model."""

    name: str
    path: Path
    settings: Any
    result: ModelResult
    llm: Any = None
    lock: Any = None
    model: Any = None
    prompt: list[int] = field(default_factory=list)
    short: list[int] = field(default_factory=list)
    messages: list = field(default_factory=list)


SPEED_TEXT = " ".join(c["doc"] for c in QA_CASES[::2]) + " " + " ".join(c["text"] for c in SUMMARY_CASES[:2])


def prepare_speed(cfg: SpeedConfig) -> None:
    cfg.llm, cfg.lock = load_llama(cfg.path, cfg.settings.llm_context, cfg.settings.llm_threads)
    cfg.prompt = cfg.llm.tokenize(SPEED_TEXT.encode())
    cfg.short = cfg.llm.tokenize(b"Write a short note to employees about the new VPN portal.")
    cfg.model = get_chat_model(f"embedded:{cfg.name}", cfg.settings, max_tokens=80)
    cfg.messages = qa_messages(QA_CASES[2])
    usage = cfg.model.invoke(cfg.messages, max_tokens=1).usage_metadata or {}
    cfg.result.ttft_prompt_tokens = int(usage.get("input_tokens", 0))  # with the chat template applied


def speed_run(cfg: SpeedConfig) -> None:
    """One timing of each figure: load, prompt tokens/s, generation tokens/s, time to first token."""
    from llama_cpp import Llama

    r = cfg.result
    started = time.perf_counter()
    fresh = Llama(**llama_kwargs(cfg.path, cfg.settings.llm_context, cfg.settings.llm_threads))
    r.load_s.append(time.perf_counter() - started)
    del fresh

    with cfg.lock:
        cfg.llm.reset()
        started = time.perf_counter()
        cfg.llm.eval(cfg.prompt)
        r.prompt_tps.append(len(cfg.prompt) / (time.perf_counter() - started))

        cfg.llm.reset()
        n, first = 0, 0.0
        for _tok in cfg.llm.generate(cfg.short, temp=0.0):
            n += 1
            if n == 1:
                first = time.perf_counter()
            if n == 65:  # 64 timed tokens after the first (generate() itself does not stop at EOS)
                break
        r.gen_tps.append((n - 1) / (time.perf_counter() - first))
        cfg.llm.reset()  # cold prompt for the TTFT run: no KV-cache reuse

    started = time.perf_counter()
    for chunk in cfg.model.stream(cfg.messages):
        if chunk.content:
            r.ttft_s.append(time.perf_counter() - started)
            break


def measure_speed(configs: list[SpeedConfig], runs: int, log) -> None:
    """Round-robin over the configurations so that each one sees the same machine load."""
    for cfg in configs:
        prepare_speed(cfg)
    for i in range(runs):
        for cfg in configs:
            speed_run(cfg)
            r = cfg.result
            r.load_avg.append(round(os.getloadavg()[0], 2))
            log(
                f"  run {i + 1} {r.model} x{r.threads}: load {r.load_s[-1]:.2f}s, prompt {r.prompt_tps[-1]:.0f} "
                f"tok/s, gen {r.gen_tps[-1]:.1f} tok/s, TTFT {r.ttft_s[-1]:.2f}s, load avg {r.load_avg[-1]:.1f}"
            )


def measure_quality(name: str, settings, result: ModelResult, log) -> None:
    answer = get_chat_model(f"embedded:{name}", settings, max_tokens=80)
    small = get_chat_model(f"embedded:{name}", settings, max_tokens=96)

    for case in QA_CASES:
        started = time.perf_counter()
        out = str(answer.invoke(qa_messages(case)).content).strip()
        ok, why = score_qa(case, out)
        result.cases.append(CaseResult("qa", case["id"], ok, time.perf_counter() - started, out, why))
        log(f"  qa {case['id']}: {'ok' if ok else 'FAIL ' + why}")

    for case in EXTRACT_CASES:
        system, schema = (LEAVE_SYSTEM, LEAVE_SCHEMA) if case["kind"] == "leave" else (INCIDENT_SYSTEM, INCIDENT_SCHEMA)
        bound = small.bind(response_format={"type": "json_object", "schema": schema})
        started = time.perf_counter()
        out = str(bound.invoke([SystemMessage(system), HumanMessage(case["text"])]).content).strip()
        ok, acc, why = score_extract(case, out)
        result.cases.append(CaseResult("extract", case["id"], ok, time.perf_counter() - started, out, why, acc))
        log(f"  extract {case['id']}: {'ok' if ok else 'FAIL ' + why}")

    for case in SUMMARY_CASES:
        started = time.perf_counter()
        prompt = [SystemMessage(SUMMARY_SYSTEM), HumanMessage("Conversation:\n" + case["text"])]
        out = str(small.invoke(prompt).content).strip()
        ok, why = score_summary(case, out)
        result.cases.append(CaseResult("summary", case["id"], ok, time.perf_counter() - started, out, why))
        log(f"  summary {case['id']}: {'ok' if ok else 'FAIL ' + why}")


# --------------------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------------------
COLUMNS = [
    ("Model", "model"),
    ("GGUF MB", "size_mb"),
    ("Threads", "threads"),
    ("Load s", "load_s"),
    ("Prompt tok/s", "prompt_tok_s"),
    ("Gen tok/s", "gen_tok_s"),
    ("TTFT s", "ttft_s"),
    ("a) Answer", "qa"),
    ("b) Extract", "extract"),
    ("c) Summary", "summary"),
]


def cell(summary: dict[str, Any], key: str) -> str:
    if key in ("qa", "extract", "summary"):
        if f"{key}_cases" not in summary:
            return "-"
        text = f"{summary[f'{key}_passed']}/{summary[f'{key}_cases']} ({summary[f'{key}_median_s']:.1f}s)"
        if key == "extract":
            text += f", fields {summary['extract_field_accuracy']:.0%}"
        return text
    text = _num(summary[key])
    if f"{key}_best" in summary:
        text += f" ({_num(summary[f'{key}_best'])})"
    return text


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if value < 10 else f"{value:.0f}"
    return str(value)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    from importlib.metadata import version

    return {
        "cores": cores,
        "cpu": cpu,
        "gpu": "none",
        "python": platform.python_version(),
        "llama_cpp_python": version("llama_cpp_python"),
        "load_avg_1m": round(load[0], 2),
        "load_avg_start": LOAD_AT_START,
    }


def markdown(results: list[ModelResult], info: dict[str, Any], runs: int, started: dt.datetime) -> str:
    lines = [
        "# Embedded model benchmark",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} (local time)",
        f"- Machine: {info['cores']} cores ({info['cpu']}), no GPU; 1-min load average {info['load_avg_start']} at "
        f"the start, {info['load_avg_1m']} at the end (other work on the machine slows llama.cpp a lot)",
        f"- llama-cpp-python {info['llama_cpp_python']}, Python {info['python']}; app Llama arguments "
        "(n_threads = n_threads_batch = Threads column, n_batch 256, n_ctx 2048)",
        f"- Speed: median of {runs} run(s), best run in brackets. Quality: temperature 0, 8 cases per task, "
        "scored automatically (`benchmarks/models_bench.py`); case time in brackets is the median seconds per case.",
        "",
        "| " + " | ".join(title for title, _ in COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for r in results:
        s = r.summary()
        lines.append("| " + " | ".join(cell(s, key) for _, key in COLUMNS) + " |")
    lines += [
        "",
        "TTFT = time to the first streamed token of a short answer through `get_chat_model` (system prompt + "
        f"article + question, ~{results[0].ttft_prompt_tokens if results else 0} tokens, KV cache cleared).",
        "",
        *reading(results),
        *speed_runs(results),
        "## Cases",
        "",
        "| Model | Task | Case | Result | Seconds | Output |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        for c in r.cases:
            out = c.output.replace("|", "\\|").replace("\n", " ")
            if len(out) > 160:
                out = out[:157] + "..."
            verdict = "pass" if c.ok else f"fail: {c.note}"
            lines.append(f"| {r.model} | {c.task} | {c.case} | {verdict} | {c.seconds:.1f} | {out} |")
    return "\n".join(lines) + "\n"


TASKS = {"qa": "a) answer from a paragraph", "extract": "b) JSON extraction", "summary": "c) 2-sentence summary"}


def reading(results: list[ModelResult]) -> list[str]:
    """Plain-language lines: the better model per task, and the thread-count effect when both were timed."""
    lines = ["## Reading", ""]
    scored = [r for r in results if r.cases]
    for task, title in TASKS.items():
        rows = sorted(((*r.passed(task), r.model) for r in scored if r.passed(task)[1]), reverse=True)
        if rows:
            lines.append(f"- {title}: " + ", ".join(f"{m} {ok}/{n}" for ok, n, m in rows))
    for model in dict.fromkeys(r.model for r in results):
        timed = sorted((r for r in results if r.model == model), key=lambda r: r.threads)
        if len(timed) > 1:
            parts = [
                f"{r.threads} thread(s) {statistics.median(r.gen_tps):.0f} tok/s generation, "
                f"TTFT {statistics.median(r.ttft_s):.1f}s"
                for r in timed
            ]
            lines.append(f"- {model}: " + "; ".join(parts))
    lines.append(
        "- One llama.cpp thread per core (the app default) is fastest on an idle machine. Its threads busy-wait "
        "for each other, so when other processes compete for the cores it collapses: in an interleaved run on "
        "this machine at load average 2-5, Qwen generated 0.8-22 tok/s with 2 threads against a steady "
        "28-30 tok/s with 1 thread. On a shared 2-core box set CONCIERGE_LLM_THREADS=1."
    )
    return [*lines, ""]


def speed_runs(results: list[ModelResult]) -> list[str]:
    """Every timing with the machine's load average, run by run (configurations were interleaved)."""
    lines = [
        "## Speed runs",
        "",
        "| Run | Model | Threads | Load s | Prompt tok/s | Gen tok/s | TTFT s | Load avg |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i in range(max((len(r.gen_tps) for r in results), default=0)):
        for r in results:
            if i < len(r.gen_tps):
                lines.append(
                    f"| {i + 1} | {r.model} | {r.threads} | {r.load_s[i]:.2f} | {r.prompt_tps[i]:.0f} | "
                    f"{r.gen_tps[i]:.1f} | {r.ttft_s[i]:.2f} | {r.load_avg[i] if i < len(r.load_avg) else ''} |"
                )
    return [*lines, ""]


def print_table(results: list[ModelResult], info: dict[str, Any], runs: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Embedded models — {info['cores']} cores, no GPU, median (best) of {runs} run(s)", show_lines=False
    )
    for title, _ in COLUMNS:
        table.add_column(title, justify="left" if title == "Model" else "right")
    for r in results:
        s = r.summary()
        table.add_row(*(cell(s, key) for _, key in COLUMNS))
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="speed runs per model (median is reported)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--models", default=",".join(EMBEDDED_MODELS), help="comma-separated embedded names")
    parser.add_argument("--no-quality", action="store_true", help="speed only")
    parser.add_argument(
        "--threads",
        default="0",
        help="comma-separated llama.cpp thread counts to time (0 = the app default, all cores); "
        "quality is scored with the first",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="Markdown file to write")
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    started = dt.datetime.now()
    data_dir = Path(os.environ.get("CONCIERGE_TEST_MODELS_DIR", ROOT / "data"))
    thread_counts = [int(t) for t in args.threads.split(",") if t.strip()] or [0]
    configs: list[SpeedConfig] = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        for threads in thread_counts:
            settings = load_settings(data_dir=data_dir, llm_threads=threads)
            path = resolve_gguf(name, settings.data_dir / "models", None)
            result = ModelResult(name, path.name, path.stat().st_size / 1e6, threads or cpu_threads())
            configs.append(SpeedConfig(name, path, settings, result))
    log("speed: " + ", ".join(f"{c.name} x{c.result.threads}" for c in configs))
    measure_speed(configs, max(args.runs, 1), log)
    if not args.no_quality:
        done: set[str] = set()
        for cfg in configs:  # quality with the first thread count of each model
            if cfg.name not in done:
                done.add(cfg.name)
                log(f"quality: {cfg.name}")
                measure_quality(cfg.name, cfg.settings, cfg.result, log)
    results = [c.result for c in configs]

    info = machine()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown(results, info, args.runs, started), encoding="utf-8")
    if args.json:
        payload = {
            "date": started.isoformat(timespec="seconds"),
            "machine": info,
            "runs": args.runs,
            "models": [r.summary() for r in results],
            "cases": {r.model: [c.__dict__ for c in r.cases] for r in results if r.cases},
        }
        print(json.dumps(payload, indent=2))
    else:
        print_table(results, info, args.runs)
        log(f"written {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
