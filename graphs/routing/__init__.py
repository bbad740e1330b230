"""Layered routing of employee messages to the supervisor's routes."""
