"""PII redaction applied before text reaches logs, audit trails or a model prompt."""

from __future__ import annotations

import re
from dataclasses import dataclass


def _luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# Order matters: secrets first (they may contain anything), then long numbers before short ones.
_SECRET = re.compile(
    r"(?i)\b(pass(?:word|wd|code|phrase)?|pwd|pin|secret|token|api[ _-]?key)"
    r"(\s*(?:is|was|=|:|->)\s*|\s+)(?P<value>[^\s,;]{4,})"
)
# Something that looks like a password: 8+ characters without spaces with letters *and* digits, plus a symbol
# and a lower-case letter, or mixed case when it is the whole message or follows "typed", "tried", "is"...
# IDs (asset tags, error codes, versions, our ticket numbers) and product names are not passwords.
_TOKEN = re.compile(r"(?<!\S)[^\s]{8,64}(?!\S)")
_PW_SYMBOLS = set("!@#$%^&*?~+=_-.")
_REFERENCE = re.compile(r"(INC|APR|HND|WF|REQ|RITM|CHG|REF-)[0-9A-F]{4,10}")  # our own record numbers
_NOT_SECRET = re.compile(
    r"(?i)(v?\d+(\.\d+)+([-+][a-z0-9.]+)?|(iphone|ipad|office|windows|win|thinkpad|galaxy|pixel|surface|macbook|"
    r"outlook|teams|error|code|kb|build)[\w.#:-]*)"
)
_CUE = re.compile(r"(?i)\b(typed|tried|entered|used|using|is|was|it'?s|its|pw|pwd|password|passwort)\W*$")
_EMAIL = re.compile(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_NINO = re.compile(r"\b[A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b")
_SORT_CODE = re.compile(r"(?i)\b(sort\s*code\s*:?\s*)\d{2}-?\d{2}-?\d{2}\b")
_ACCOUNT = re.compile(r"(?i)\b(account\s*(?:number|no\.?|#)?\s*:?\s*)\d{6,12}\b")
_PHONE = re.compile(
    r"(?<![\w-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){2,4}(?![\w-])"
)
_WORDS_NOT_SECRETS = {
    "reset",
    "expired",
    "expire",
    "expires",
    "policy",
    "change",
    "changed",
    "locked",
    "manager",
}


@dataclass(frozen=True)
class Redaction:
    text: str
    kinds: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.kinds)


def redact(text: str) -> Redaction:
    """Replace personal data and secrets with ``[KIND]`` markers; report which kinds were found."""
    found: list[str] = []

    def sub(pattern: re.Pattern[str], repl, label: str, s: str) -> str:
        def _r(m: re.Match[str]) -> str:
            out = repl(m)
            if out != m.group(0):
                found.append(label)
            return out

        return pattern.sub(_r, s)

    def secret(m: re.Match[str]) -> str:
        value = m.group("value")
        if value.lower().strip(".!?") in _WORDS_NOT_SECRETS or (value.isalpha() and value.islower()):
            # "password reset", "password expired", "my password please": not a secret.
            return m.group(0)
        return f"{m.group(1)}{m.group(2)}[SECRET]"

    def password_like(m: re.Match[str]) -> str:
        raw = m.group(0)
        token = raw.rstrip(".,;:?)")
        if _REFERENCE.fullmatch(token) or _NOT_SECRET.fullmatch(token) or any(c in token for c in "/\\[]*`"):
            return raw  # record numbers, versions, product names, URLs, paths, markdown and our own markers
        if re.fullmatch(r"[\w.+-]+@[\w-]+(\.[a-z]{2,})+", token, re.I):
            return raw  # an e-mail address (handled as PII below)
        letters, digits = any(c.isalpha() for c in token), any(c.isdigit() for c in token)
        lower, upper = any(c.islower() for c in token), any(c.isupper() for c in token)
        symbol = any(c in _PW_SYMBOLS for c in token.strip(".-"))
        if not (letters and digits):
            return raw
        alone = raw == text.strip()
        cued = bool(_CUE.search(text[: m.start()]))
        if (symbol and lower) or (lower and upper and (alone or cued)):
            return "[SECRET]"
        return raw

    def card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return "[CARD]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else m.group(0)

    def phone(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        raw = m.group(0)
        if not 9 <= len(digits) <= 15 or re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw.strip()):
            return raw
        return "[PHONE]"

    text = sub(_SECRET, secret, "secret", text)
    text = sub(_TOKEN, password_like, "secret", text)
    text = sub(_EMAIL, lambda m: "[EMAIL]", "email", text)
    text = sub(_IBAN, lambda m: "[IBAN]", "iban", text)
    text = sub(_CARD, card, "card", text)
    text = sub(_SSN, lambda m: "[NATIONAL_ID]", "national_id", text)
    text = sub(_NINO, lambda m: "[NATIONAL_ID]", "national_id", text)
    text = sub(_SORT_CODE, lambda m: f"{m.group(1)}[BANK]", "bank", text)
    text = sub(_ACCOUNT, lambda m: f"{m.group(1)}[BANK]", "bank", text)
    text = sub(_PHONE, phone, "phone", text)
    return Redaction(text, tuple(dict.fromkeys(found)))


def redact_text(text: str) -> str:
    return redact(text).text


def redact_obj(value):
    """Redact every string inside a JSON-like structure (for audit details)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_obj(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_obj(v) for v in value]
    return value
