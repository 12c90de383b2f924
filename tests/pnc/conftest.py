"""Test PKIs for the Plug & Charge checks (built once per session: key generation is the slow part)."""

from __future__ import annotations

import datetime as dt

import pytest

from josev.pki import PROFILES, Override, Pki, build_pki

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def iso2_pki() -> Pki:
    return build_pki(
        PROFILES["iso2"], now=NOW, overrides={"contract_leaf": Override(common_name="DE8EOCAB123456")}
    )


@pytest.fixture(scope="session")
def iso20_pki() -> Pki:
    return build_pki(PROFILES["iso20-p521"], now=NOW)


@pytest.fixture(scope="session")
def ed448_pki() -> Pki:
    return build_pki(PROFILES["iso20-ed448"], now=NOW)


@pytest.fixture(scope="session")
def other_pki() -> Pki:
    """A second, unrelated ISO-2 PKI: its roots are not trusted by the station."""
    return build_pki(PROFILES["iso2"], now=NOW)
