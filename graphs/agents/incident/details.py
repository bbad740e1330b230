"""What an incident report says: the details the service desk needs, read from free text by rules.

Five details make a report actionable — the device or app, the exact error, since when, how many people are
affected and the business impact. ``extract`` finds whichever of them a message contains (in any order);
answers to a question we asked are read by ``read_answer``, which also accepts a plain answer for the detail
that was asked. Severity (impact × urgency) follows from "how many" and "business impact".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.services.catalog import Catalog

SLOTS = ("ci", "error", "since", "affected", "business_impact")

QUESTIONS = {
    "ci": "Which device or app is it (e.g. laptop, VPN, Outlook, printer)?",
    "error": "What exactly happens, or what does the error say (the exact text or code helps)?",
    "since": "Since when has it been happening?",
    "affected": "Is it just you, or are colleagues affected too?",
    "business_impact": "How much is it stopping your work (blocked completely, slowed down, or a minor annoyance)?",
}

_QUOTED = re.compile(r"\"([^\"]{3,160})\"|(?<!\w)'([^']{6,160})'(?!\w)|“([^”]{3,160})”")
_ERROR = re.compile(
    r"(\b(?:error|code)\s*:?\s*[A-Z0-9x-]{3,20}\b|\b0x[0-9a-f]{6,8}\b|"
    r"\bAADSTS\d+\b|\berror (message )?(says|saying|said)\b[^.!?]{3,120}|\b(says|saying)\s+[^.!?]{3,120}|"
    r"\b(crash(es|ed|ing)?|freez(es|ing)|froze|frozen|won'?t (start|open|turn on|connect|load|print|charge|sync)|"
    r"doesn'?t (start|open|work|connect|load|print|charge|sync)|(is|are|keeps?|keep) (disconnecting|dropping|"
    r"crashing|freezing)|not (working|connecting|loading|printing|charging|syncing|detect\w*|showing)|no (sound|"
    r"signal|display|picture|power|internet|connection)|black screen|blue screen|very slow|really slow|"
    r"so slow|slow|flicker\w*|can'?t (connect|open|log ?in|sign ?in|print|send|receive|access|hear|see))\b)",
    re.I,
)
_SINCE = re.compile(
    r"\b(since [^,.!?]{2,40}|for (the (last|past) )?(\d+|a|an|few|couple of|several) (minutes?|hours?|days?|weeks?)|"
    r"(this|yesterday) (morning|afternoon|evening)|yesterday|today|last (night|week|monday|tuesday|wednesday|"
    r"thursday|friday)|(\d+|a|an|few) (minutes?|hours?|days?|weeks?) ago|just now|all (day|week)|"
    r"(after|since) (the|an?) (update|upgrade|restart|reboot)|on (monday|tuesday|wednesday|thursday|friday)|"
    r"started [^,.!?]{2,30}|began [^,.!?]{2,30}|a while|ages)\b",
    re.I,
)
_MANY = re.compile(
    r"\b(everyone|everybody|every one|all (of )?(us|users|staff|employees)|whole (office|company|floor|building|"
    r"department|site)|entire (office|company|floor|building|department)|nobody (can|is able)|no one (can|is able)|"
    r"company[- ]wide|all (the )?(offices|sites)|(\d{2,}|dozens of|hundreds of|lots of|many) (people|users|"
    r"colleagues|of us))\b",
    re.I,
)
_TEAM = re.compile(
    r"\b((my|our|the|whole|entire) (whole |entire )?team|several (people|colleagues|of us)|"
    r"a few (people|colleagues|of us)|"
    r"colleagues? (too|as well|also)|(others|other people|colleagues) (too|as well|also|have|are|can'?t)|"
    r"(\d|two|three|four|five|six|seven|eight|nine) (people|colleagues|users|of us)|not just me|others too)\b",
    re.I,
)
_JUST_ME = re.compile(r"\b(just me|only me|only mine|just mine|only (affects|happening to) me|only my|"
                      r"nobody else|no one else|only one|i think it'?s just me|just my)\b", re.I)
_BLOCKED = re.compile(
    r"\b(can'?t work|cannot work|can'?t do (my|any) (job|work)|unable to work|blocked|block(ing|s) (me|us|my work)|"
    r"completely|urgent|urgently|asap|deadline|customers?|clients?|critical|stopping (me|us)|at a standstill|"
    r"can'?t do anything|nothing works|presentation (in|at)|(nobody|no one|none of us) can (work|do anything))\b",
    re.I,
)
_DEGRADED = re.compile(r"\b(slow(s|ed)? (me|us|things) down|slowing|slowed|workaround|can still|annoying|"
                       r"inconvenient|frustrating|mostly works|sometimes|intermittent\w*|some(what)?)\b", re.I)
_MINOR = re.compile(r"\b(minor|not urgent|no rush|whenever|low priority|cosmetic|small thing|not a big deal|"
                    r"doesn'?t matter much)\b", re.I)
_SYSTEM = (r"(e-?mail|network|internet|wi-?fi|vpn|servers?|systems?|website|site|intranet|teams|outlook|"
           r"salesforce|workday|concur|crm|erp|sap|phones?|printing|production|prod|database|app|application|service)")
_OUTAGE = re.compile(
    r"\b(outage|data breach|breach|ransomware|(data|customer data|passwords?) (leaked|leak)|hacked|"
    rf"(?<!my )(?<!my own )\b{_SYSTEM} (is |are )?(down|offline|unreachable)( for| across| in)?|"
    rf"(?<!my )\b{_SYSTEM} (went|has gone|have gone|goes) down|down for (everyone|all)|"
    r"no (internet|network|wi-?fi|e-?mail) (for|in|across) (everyone|all|the (whole|entire) (office|building|floor|"
    r"company)))\b",
    re.I,
)


@dataclass
class Details:
    ci: str | None = None  # catalog item id
    error: str | None = None
    since: str | None = None
    affected: str | None = None  # me | team | many
    business_impact: str | None = None  # blocked | degraded | minor

    def missing(self) -> list[str]:
        return [s for s in SLOTS if not getattr(self, s)]

    def as_dict(self) -> dict[str, str | None]:
        return {s: getattr(self, s) for s in SLOTS}


def affected_level(text: str) -> str | None:
    if _MANY.search(text):
        return "many"
    if _JUST_ME.search(text):
        return "me"
    if _TEAM.search(text):
        return "team"
    return None


def impact_level(text: str) -> str | None:
    if _MINOR.search(text):
        return "minor"
    if _BLOCKED.search(text):
        return "blocked"
    if _DEGRADED.search(text):
        return "degraded"
    return None


def extract(text: str, catalog: Catalog) -> dict[str, str]:
    """The details a message states outright (never guesses)."""
    found: dict[str, str] = {}
    item = catalog.find(text)
    if item is not None:
        found["ci"] = item.id
    if m := _QUOTED.search(text):  # the exact error text, when quoted, beats a paraphrase
        found["error"] = next(g for g in m.groups() if g).strip()
    elif m := _ERROR.search(text):
        found["error"] = m.group(0).strip()
    if m := _SINCE.search(text):
        found["since"] = m.group(0).strip()
    if level := affected_level(text):
        found["affected"] = level
    if level := impact_level(text):
        found["business_impact"] = level
    return found


def states_a_detail(text: str) -> bool:
    """Whether a message states an error, a time, who is affected or the impact (no catalog needed)."""
    return bool(_QUOTED.search(text) or _ERROR.search(text) or _SINCE.search(text) or affected_level(text)
                or impact_level(text))


def read_answer(text: str, asked: list[str], catalog: Catalog) -> dict[str, str]:
    """Read an answer to the questions in ``asked``: whatever it states, and a plain answer for an open question."""
    found = extract(text, catalog)
    open_questions = [s for s in asked if s not in found]
    cleaned = text.strip()
    if len(asked) == 1 and open_questions and cleaned:
        slot = open_questions[0]
        if slot == "affected":
            found[slot] = "me" if re.search(r"\b(me|i|just|only|no)\b", cleaned, re.I) else "team"
        elif slot == "business_impact":
            found[slot] = "degraded"
        elif slot == "ci":
            found[slot] = "other:" + cleaned[:60]
        else:
            found[slot] = cleaned[:300]
    elif open_questions and not found and cleaned:
        # Nothing recognisable: take it as the answer to the first question rather than ask it again.
        found[open_questions[0]] = "other:" + cleaned[:60] if open_questions[0] == "ci" else cleaned[:300]
    return found


def is_critical(text: str, details: Details) -> bool:
    """Outage, many people affected, production down or a data breach: never auto-resolved."""
    return (bool(_OUTAGE.search(text)) and details.affected != "me") or details.affected == "many"


def severity(text: str, details: Details) -> tuple[int, int]:
    """(impact, urgency), 1 = high … 3 = low, for the priority matrix."""
    impact = {"many": 1, "team": 2, "me": 3}.get(details.affected or "", 3)
    urgency = {"blocked": 1, "degraded": 2, "minor": 3}.get(details.business_impact or "", 2)
    if _OUTAGE.search(text) and details.affected != "me":
        impact, urgency = 1, 1
    elif details.affected == "many":
        impact, urgency = 1, min(urgency, 2)
    return impact, urgency
