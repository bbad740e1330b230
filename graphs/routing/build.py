"""Build the process's router from the configured (company-editable) routing files."""

from __future__ import annotations

from app.models.registry import Models
from app.settings import Settings
from graphs.routing.examples import load_examples
from graphs.routing.router import Router, RouterPolicy
from graphs.routing.tiebreak import TieBreaker


def build_router(settings: Settings, models: Models | None = None) -> Router:
    """Fit the classifier (example embeddings cached under data_dir/cache) and load the triggers."""
    tiebreak = None
    if settings.routing_tiebreak and models is not None:
        _, _, descriptions = load_examples(settings.routing_examples)
        tiebreak = TieBreaker(models.small(), descriptions)
    return Router.from_files(
        settings.routing_examples,
        settings.routing_triggers,
        cache_dir=settings.cache_path,
        model_name=settings.embedding_model,  # the shared model: a bigger one configured for the KB routes too
        policy=RouterPolicy(),
        tiebreak=tiebreak,
    )
