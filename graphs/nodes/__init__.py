"""Node functions: plain, documented, unit-testable. Wiring lives in graphs/supervisor.py."""
