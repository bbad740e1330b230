"""Logging to ``data/logs/concierge.log`` with PII redacted from every record."""

from __future__ import annotations

import logging
import logging.handlers

from app.redaction import redact_text
from app.settings import Settings

_FORMATTER = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Redact the formatted message (and any traceback text) before a handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = redact_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(_FORMATTER.formatException(record.exc_info))
        return True


def configure_logging(settings: Settings, *, console_level: str = "WARNING") -> None:
    """Idempotent: a rotating file handler at ``settings.log_level`` and a quiet console handler."""
    root = logging.getLogger()
    if any(getattr(h, "_concierge", False) for h in root.handlers):
        return
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = []
    try:
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                settings.log_dir / "concierge.log", maxBytes=5_000_000, backupCount=3, encoding="utf-8"
            )
        )
        handlers[-1].setLevel(settings.log_level)
    except OSError:  # read-only or full disk: keep logging to the console rather than failing start-up
        pass
    console = logging.StreamHandler()
    console.setLevel(console_level)
    handlers.append(console)
    for h in handlers:
        h.setFormatter(fmt)
        h.addFilter(RedactingFilter())
        h._concierge = True  # type: ignore[attr-defined]
        root.addHandler(h)
    root.setLevel(min(logging.getLevelName(settings.log_level), logging.getLevelName(console_level)))
    for noisy in ("httpx", "httpcore", "chromadb", "sentence_transformers", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
