"""Reusable test helpers (network namespaces, ...)."""
