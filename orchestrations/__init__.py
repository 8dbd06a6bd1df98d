"""Orchestrators: deterministic generator functions that only schedule work."""
