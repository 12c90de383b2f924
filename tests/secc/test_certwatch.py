"""Certificate expiry of the SECC's PKI, published on a real broker."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

import pytest

from josev.api.secc import CertificateExpiry
from josev.pki import create
from josev.secc import certwatch
from tests.conftest import BusFactory


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    create(out, ("iso2",))
    return out


def test_report_counts_days_and_flags_expired(pki_dir: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    state = certwatch.report(pki_dir, now)
    names = {c.name for c in state.certificates}
    assert any(n.endswith("secc_leaf") for n in names) and any("v2g_root" in n for n in names)
    assert state.soonest_days_left is not None and state.soonest_days_left > 0 and state.expired == []
    leaf = next(c for c in state.certificates if c.name.endswith("secc_leaf"))
    later = certwatch.report(pki_dir, leaf.not_after + dt.timedelta(days=3))
    assert any(n.endswith("secc_leaf") for n in later.expired)
    assert later.soonest_days_left is not None and later.soonest_days_left < 0


async def test_published_on_the_bus_and_warned(
    pki_dir: Path, bus_factory: BusFactory, caplog: pytest.LogCaptureFixture
) -> None:
    secc = await bus_factory("secc")
    cli = await bus_factory("cli")
    got: list[CertificateExpiry] = []
    cli.subscribe(CertificateExpiry, lambda m, e: got.append(m))
    await asyncio.sleep(0.05)
    stop = asyncio.Event()
    soonest = certwatch.report(pki_dir, dt.datetime.now(dt.UTC)).soonest_days_left
    assert soonest is not None
    with caplog.at_level(logging.WARNING, logger="josev.secc"):
        task = asyncio.create_task(certwatch.run(secc, pki_dir, stop, warn_days=soonest + 1))
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await task
    assert got and got[0].certificates and got[0].warn_days == soonest + 1
    assert "expires in" in caplog.text
