"""Specialist agents the supervisor routes to. Each module holds node functions only; wiring is elsewhere."""
