"""Fixtures of the EXI codec tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.exi.oracle import Oracle, available


@pytest.fixture(scope="session")
def oracle() -> Iterator[Oracle]:
    """A running EXIficient oracle process (skips when .venv-peers/iso15118 or java is missing)."""
    if not available():
        pytest.skip("EXIficient oracle missing")
    o = Oracle()
    try:
        yield o
    finally:
        o.close()
