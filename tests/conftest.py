"""Shared fixtures: a real mosquitto per test, connected bus clients, root and ../shared checks."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from josev.broker import PrivateBroker
from josev.bus import Bus

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root (network namespaces, raw sockets)")
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared (vectors, captures) is not present")


@pytest.fixture
def shared_dir() -> Path:
    """The ../shared folder (skips the test when absent)."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    """A real mosquitto with the generated configuration (auth + ACL) on a free loopback port.

    ``broker.settings(service)`` gives the BusSettings of a service; ``broker.restart()``/``kill()`` exist.
    """
    b = PrivateBroker(tmp_path / "broker", unix_socket=True)
    b.start()
    try:
        yield b
    finally:
        b.close()


BusFactory = Callable[..., Awaitable[Bus]]


@pytest.fixture
async def bus_factory(broker: PrivateBroker) -> AsyncIterator[BusFactory]:
    """``await bus_factory("hal")`` -> a connected Bus for that service; all are closed after the test."""
    made: list[Bus] = []

    async def make(service: str, **overrides: object) -> Bus:
        bus = Bus(service, broker.settings(service, **overrides))
        await bus.connect()
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.close()


# -- tiers --------------------------------------------------------------------------------------------------
# Each test is marked by what it starts, so `make test-fast` runs the fast tier alone in under a minute:
#   broker  - a real mosquitto (the `broker`/`bus_factory` fixtures, or a PrivateBroker of its own)
#   process - another process (josev run, peers, tshark, cargo ...)
#   netns   - network namespaces (root)
#   fast    - none of these, nor interop/slow: the sans-IO cores and in-process loopback tests
_BROKER_FIXTURES = {"broker", "bus_factory"}
_SPAWN_WORDS = ("subprocess", "Popen", "create_subprocess", "PrivateBroker", "netlab", "start_station")
_module_words: dict[str, set[str]] = {}


def _words(path: Path) -> set[str]:
    key = str(path)
    if key not in _module_words:
        try:
            text = path.read_text()
        except OSError:
            text = ""
        _module_words[key] = {w for w in _SPAWN_WORDS if w in text}
    return _module_words[key]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        words = _words(Path(str(item.fspath)))
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & _BROKER_FIXTURES or "PrivateBroker" in words:
            item.add_marker(pytest.mark.broker)
        if words - {"PrivateBroker"}:
            item.add_marker(pytest.mark.process)
        marks = {m.name for m in item.iter_markers()}
        if not marks & {"broker", "process", "netns", "interop", "slow"}:
            item.add_marker(pytest.mark.fast)
