"""Analytical memory-hierarchy model (numpy + pyyaml only)."""
