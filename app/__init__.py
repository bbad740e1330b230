"""Concierge application: channels, services, CLI."""
