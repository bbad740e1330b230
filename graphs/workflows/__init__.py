"""Workflow engine: YAML task graphs with trigger predicates, persisted execution state and rollback."""
