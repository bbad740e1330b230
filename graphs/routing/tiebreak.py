"""Layer 4: when the classifier is unsure, the small LM picks among its top routes (JSON-schema constrained)."""

from __future__ import annotations

import json
import logging

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage

from app.prompts import render_prompt

log = logging.getLogger(__name__)


class TieBreaker:
    def __init__(self, model: BaseChatModel, descriptions: dict[str, str]):
        self.model = model
        self.descriptions = descriptions

    def choose(self, text: str, candidates: list[str]) -> str | None:
        """One of ``candidates``, or None if the model fails or answers outside them (never trusted blindly)."""
        options = "\n".join(f"- {c}: {self.descriptions.get(c, c)}" for c in candidates)
        prompt = render_prompt("route_tiebreak", options=options, message=text[:500])
        schema = {
            "type": "object",
            "properties": {"category": {"type": "string", "enum": candidates}},
            "required": ["category"],
        }
        try:
            out = self.model.invoke([HumanMessage(prompt)], response_format={"type": "json_object", "schema": schema})
            choice = json.loads(str(out.content)).get("category")
        except Exception:  # a tie-break is optional: any failure falls through to the confidence gate
            log.warning("route tie-break failed", exc_info=True)
            return None
        return choice if choice in candidates else None
