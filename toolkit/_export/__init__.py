"""Exports (sinks of the *export* stage)."""
