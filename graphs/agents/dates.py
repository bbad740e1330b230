"""Dates from natural language ("on the 3rd", "next Friday", "5 March", "in two weeks") with dateparser.

dateparser reads the phrase; code then applies the rules people mean: a day of the month with no month that
has already passed this month means next month's; a day and month already passed this year means next year's.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

_MONTH = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b|\d{1,2}[/.-]\d{1,2}", re.I)
_YEAR = re.compile(r"\b(19|20)\d{2}\b")
_RELATIVE = re.compile(r"\b(today|tomorrow|yesterday|now|immediately|asap|straight away|right away)\b", re.I)


def find_date(text: str, today: date) -> tuple[date, str] | None:
    """The first date mentioned (and the words that said it), or None."""
    if re.search(r"\b(immediately|right away|straight away|asap|effective now|as of now)\b", text, re.I):
        return today, "immediately"
    from dateparser.search import search_dates

    settings = {"PREFER_DATES_FROM": "future", "RELATIVE_BASE": datetime(today.year, today.month, today.day),
                "DATE_ORDER": "DMY", "RETURN_AS_TIMEZONE_AWARE": False}
    try:
        found = search_dates(text, languages=["en"], settings=settings)
    except Exception:  # dateparser raises on odd input; a date we can't read is simply not there
        return None
    for phrase, when in found or []:
        if len(phrase.strip()) <= 3 and not any(c.isdigit() for c in phrase):
            continue  # "we", "on", "sat": words, not dates
        day = when.date()
        if day < today and not _RELATIVE.search(phrase) and not _YEAR.search(phrase):
            # "5 March" after 5 March: next year's; "the 3rd" after the 3rd: next month's.
            day = _add_year(day) if _MONTH.search(phrase) else _next_month(day, today)
        return day, phrase.strip()
    return None


def _add_year(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day + timedelta(days=365)


def _next_month(day: date, today: date) -> date:
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    return day
