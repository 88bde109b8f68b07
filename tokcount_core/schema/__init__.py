"""Pydantic v2 models of every request shape the core accepts, compiled once per process."""
