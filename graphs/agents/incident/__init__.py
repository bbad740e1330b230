"""Incident agent: decision-tree flow (flow.py), report details (details.py), trigger-word branches (kinds.py)."""
