"""Leave dates from what employees type: "3 to 7 March", "from 28 March to 2 April", "next Friday",
"tomorrow afternoon", "next week", "the week of 3 May". Single dates go through dateparser (``dates.py``);
ranges are split here. Vague periods ("two weeks in August") are reported so the agent can ask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from graphs.agents.dates import find_date

_ORD = r"(?:st|nd|rd|th)?"
_MONTHS = ("january february march april may june july august september october november december").split()
_MONTH_RE = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|" \
            r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_SAME_MONTH = re.compile(rf"\b(\d{{1,2}}){_ORD}\s*(?:-|–|to|until|till|and|through)\s*(\d{{1,2}}){_ORD}"
                         rf"\s+(?:of\s+)?{_MONTH_RE}(?:\s+(\d{{4}}))?\b", re.I)
_SPLIT = re.compile(r"\s(?:to|until|till|through|-|–)\s", re.I)
_VAGUE = re.compile(rf"\b(a|one|two|three|four|\d+|a couple of|a few) (weeks?|days?) (in|during|sometime in) "
                    rf"{_MONTH_RE}\b", re.I)
_NEXT_WEEK = re.compile(r"\bnext week\b", re.I)
_WEEK_OF = re.compile(r"\b(the )?week (of|starting|beginning|commencing) ", re.I)


@dataclass(frozen=True)
class Dates:
    start: date
    end: date
    start_half: str = "full"  # full | am | pm (a half day: am = morning off, pm = afternoon off)
    end_half: str = "full"


def _month_number(name: str) -> int:
    name = name.lower()[:3]
    return next(i for i, m in enumerate(_MONTHS, 1) if m.startswith(name))


def _future(d: date, today: date) -> date:
    return d.replace(year=d.year + 1) if d < today else d


def _half(text: str) -> str:
    if re.search(r"\b(morning|\d{1,2}\s*a\.?m\.?)\b|\ba\.m\.", text, re.I):  # not "I am"
        return "am"
    if re.search(r"\b(afternoon|\d{1,2}\s*p\.?m\.?|half[- ]day)\b|\bp\.m\.", text, re.I):
        return "pm"
    return "full"


def vague_period(text: str) -> str | None:
    m = _VAGUE.search(text)
    return m.group(0) if m else None


def parse_dates(text: str, today: date) -> Dates | None:
    """The leave period a message names, or None."""
    if m := _SAME_MONTH.search(text):
        month = _month_number(m.group(3))
        year = int(m.group(4)) if m.group(4) else today.year
        start, end = date(year, month, int(m.group(1))), date(year, month, int(m.group(2)))
        if not m.group(4) and end < today:
            start, end = start.replace(year=year + 1), end.replace(year=year + 1)
        return Dates(start, end) if end >= start else None
    if _NEXT_WEEK.search(text):
        monday = today + timedelta(days=7 - today.weekday())
        return Dates(monday, monday + timedelta(days=4))
    if _WEEK_OF.search(text):
        found = find_date(_WEEK_OF.split(text, maxsplit=1)[-1], today)
        if found:
            monday = found[0] - timedelta(days=found[0].weekday())
            return Dates(monday, monday + timedelta(days=4))
    # "10 August to 14 August", "Monday to Wednesday": any " to " with a date on both sides; the end is read
    # relative to the start ("to Wednesday" after "Monday" is that week's).
    for sep in _SPLIT.finditer(text):
        left, right = text[: sep.start()], text[sep.end():]
        first = find_date(left, today)
        second = find_date(right, first[0]) if first else None
        if first and second:
            start, end = first[0], second[0]
            if end < start and not re.search(r"\d{4}", right):
                end = _future(end.replace(year=start.year), start)
            if end >= start:
                return Dates(start, end, _half(left) if "morning" not in left else "full", "full")
    found = find_date(text, today)
    if found is None or found[1] == "immediately":
        return None
    if re.fullmatch(r"(next|this|last|the) (year|month)|(next|this) (january|february|march|april|may|june|july|"
                    r"august|september|october|november|december)", found[1].strip(), re.I):
        return None  # a period, not a day: "carry over to next year"
    half = _half(text)
    return Dates(found[0], found[0], half, half)
