"""Language models by name: ``embedded`` (llama.cpp in-process), ``ollama:<model>``, ``fake``."""
