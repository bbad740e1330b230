"""The answering model and the small classification/extraction model, created on first use."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.language_models.chat_models import BaseChatModel

from app.models.factory import get_chat_model
from app.settings import Settings


@dataclass
class Models:
    """Holds the two configured models; tests pass ready-made (fake) models instead."""

    settings: Settings
    answer_model: BaseChatModel | None = None
    small_model: BaseChatModel | None = None

    def answer(self) -> BaseChatModel:
        if self.answer_model is None:
            self.answer_model = get_chat_model(self.settings.model, self.settings)
        return self.answer_model

    def small(self) -> BaseChatModel:
        if self.small_model is None:
            self.small_model = get_chat_model(self.settings.small_model, self.settings, max_tokens=128)
        return self.small_model
