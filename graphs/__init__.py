"""LangGraph graphs: the supervisor, its agents and the workflow engine. Builders are exported uncompiled."""
