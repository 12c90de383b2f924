"""A ``csms_url`` edited after the first start is not silently ignored: ``josev run`` warns at every start
and keeps the persisted profile; ``josev ocpp reprovision`` applies the configuration. Real files, real
restarts of ``josev run``, real CSMS websocket servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from josev.broker import free_port
from josev.ocpp.store import Store
from tests.conftest import ROOT
from tests.product.stationproc import CsmsThread, Station

IDENTITY = "CS-REPRO"


def _config(tmp: Path, url: str, port: int, profile: int = 1) -> str:
    return f"""
[station]
id = "{IDENTITY}"

[[evse]]
id = 1

[ocpp]
csms_url = "{url}"
security_profile = {profile}
basic_auth_password = "0123456789abcdef0123"
database = "{tmp / "ocpp.sqlite"}"
workdir = "{tmp / "ocpp"}"

[broker]
port = {port}
directory = "{tmp / "broker"}"
"""


def _boots(sim: object) -> int:
    return sim.actions(IDENTITY).count("BootNotification")  # type: ignore[attr-defined]


def test_changed_csms_url_warns_and_reprovision_applies_it(tmp_path: Path) -> None:
    csms = CsmsThread(2)
    a, b = csms.sims
    cfg = tmp_path / "station.toml"
    port = free_port()
    try:
        # First start: the configured CSMS A becomes network profile slot 1 in the store.
        cfg.write_text(_config(tmp_path, a.url, port))
        st = Station(cfg, tmp_path / "run1.log")
        assert st.wait_for(lambda: _boots(a) >= 1), st.text()
        assert st.stop() == 0
        assert "NOT in effect" not in st.text()
        store = Store(tmp_path / "ocpp.sqlite")
        assert store.get("network_profiles")["1"]["ocppCsmsUrl"] == a.url
        store.close()

        # The operator moves the station to CSMS B in the file: warned, still on A (the store wins).
        cfg.write_text(_config(tmp_path, b.url, port))
        st = Station(cfg, tmp_path / "run2.log")
        assert st.wait_for(lambda: _boots(a) >= 2), st.text()
        assert st.stop() == 0
        warning = f"csms_url {a.url} -> {b.url}"
        assert warning in st.text() and "josev ocpp reprovision" in st.text()
        assert _boots(b) == 0

        # Dry run shows, reprovision applies.
        dry = subprocess.run(
            [sys.executable, "-m", "josev", "ocpp", "reprovision", "-c", str(cfg), "--dry-run"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert dry.returncode == 0 and f"would change {warning}" in dry.stdout, dry.stderr
        out = subprocess.run(
            [sys.executable, "-m", "josev", "ocpp", "reprovision", "-c", str(cfg)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0 and f"changed {warning}" in out.stdout, out.stderr
        store = Store(tmp_path / "ocpp.sqlite")
        assert store.get("network_profiles")["1"]["ocppCsmsUrl"] == b.url
        assert any("reprovisioned from the configuration" in (t or "") for _, _, t in store.security_log())
        store.close()

        # Next start: on CSMS B, no warning.
        st = Station(cfg, tmp_path / "run3.log")
        assert st.wait_for(lambda: _boots(b) >= 1), st.text()
        assert st.stop() == 0
        assert "NOT in effect" not in st.text()
        assert _boots(a) == 2
    finally:
        csms.close()


def test_changed_security_profile_warns(tmp_path: Path) -> None:
    """ws:// profile 1 first; the file then says wss:// profile 2: the station warns about both settings."""
    csms = CsmsThread(1)
    (a,) = csms.sims
    cfg = tmp_path / "station.toml"
    port = free_port()
    try:
        cfg.write_text(_config(tmp_path, a.url, port))
        st = Station(cfg, tmp_path / "run1.log")
        assert st.wait_for(lambda: _boots(a) >= 1), st.text()
        assert st.stop() == 0
        wss = a.url.replace("ws://", "wss://")
        cfg.write_text(_config(tmp_path, wss, port, profile=2))
        st = Station(cfg, tmp_path / "run2.log")
        assert st.wait_for(lambda: "NOT in effect" in st.text()), st.text()
        assert st.stop() == 0
        assert f"csms_url {a.url} -> {wss}; security_profile 1 -> 2" in st.text()
    finally:
        csms.close()
