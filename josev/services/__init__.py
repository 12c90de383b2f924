"""Built-in services that belong to no protocol (the ``system`` service)."""
