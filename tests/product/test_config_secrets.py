"""`josev systemd install` writes station.toml (where the OCPP password goes) readable by root and the josev
group only, and a tmpfiles.d entry that keeps it so. Before the fix it was 0644 (umask 022)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from josev.cli.systemd import install


def test_station_toml_is_not_world_readable(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        root = tmp_path / "root"
        written = install(root, "all-in-one", josev_bin="/usr/bin/josev", mosquitto="/usr/sbin/mosquitto")
        cfg = root / "etc/josev/station.toml"
        assert cfg in written
        assert stat.S_IMODE(cfg.stat().st_mode) == 0o640, oct(cfg.stat().st_mode)
        tmpfiles = (root / "lib/tmpfiles.d/josev.conf").read_text()
        assert "z /etc/josev/station.toml 0640 root josev -" in tmpfiles.splitlines()
        assert not list(cfg.parent.glob("*.tmp"))

        cfg.chmod(0o644)  # an older install: --force-config rewrites it private
        install(
            root,
            "per-service",
            josev_bin="/usr/bin/josev",
            mosquitto="/usr/sbin/mosquitto",
            force_config=True,
        )
        assert stat.S_IMODE(cfg.stat().st_mode) == 0o640
        assert "[broker]" in cfg.read_text()
    finally:
        os.umask(old)
