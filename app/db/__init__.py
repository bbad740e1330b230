"""Relational storage: SQLite file by default, PostgreSQL by URL."""
