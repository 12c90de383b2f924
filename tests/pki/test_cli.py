"""``josev pki create/show/check`` on real folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from josev.cli.pki import app

runner = CliRunner()


def test_create_show_check(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    res = runner.invoke(app, ["create", "--out", str(out), "--josev-layout", "--secc-id", "DE*XYZ*E1*1"])
    assert res.exit_code == 0, res.output
    assert f"PKI_PATH={out / 'josev'}/" in res.output
    assert (out / "iso2" / "manifest.json").is_file() and (out / "iso20-p521" / "manifest.json").is_file()
    assert (out / "josev" / "iso15118_2" / "certs" / "cpoCertChain.pem").is_file()

    res = runner.invoke(app, ["show", str(out), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    secc = next(r for r in rows if r["name"] == "secc_leaf" and r["profile"] == "iso2")
    assert "CN=DE*XYZ*E1*1" in secc["subject"] and 360 <= secc["days_left"] <= 365
    assert secc["chain"] == "secc_leaf <- cpo_sub_ca2 <- cpo_sub_ca1 <- v2g_root"
    assert "BEGIN" not in res.output  # never prints key or certificate material

    res = runner.invoke(app, ["show", str(out / "iso2")])
    assert res.exit_code == 0 and "secc_leaf" in res.output and "PRIVATE" not in res.output

    res = runner.invoke(app, ["check", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.strip().endswith("OK")


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    assert runner.invoke(app, ["create", "--out", str(tmp_path), "-p", "iso2"]).exit_code == 0
    before = (tmp_path / "iso2" / "keys" / "v2g_root.key").read_bytes()
    res = runner.invoke(app, ["create", "--out", str(tmp_path), "-p", "iso2"])
    assert res.exit_code == 2 and "--force" in res.output
    assert (tmp_path / "iso2" / "keys" / "v2g_root.key").read_bytes() == before
    assert runner.invoke(app, ["create", "--out", str(tmp_path), "-p", "iso2", "--force"]).exit_code == 0
    assert (tmp_path / "iso2" / "keys" / "v2g_root.key").read_bytes() != before


def test_check_fails_on_bad_pki(tmp_path: Path) -> None:
    assert runner.invoke(app, ["create", "--out", str(tmp_path), "-p", "iso20-ed448"]).exit_code == 0
    os.chmod(tmp_path / "iso20-ed448" / "keys" / "secc_leaf.key", 0o640)
    res = runner.invoke(app, ["check", str(tmp_path)])
    assert res.exit_code == 1 and "readable by group/others" in res.output
    (tmp_path / "iso20-ed448" / "certs" / "cpo_sub_ca1.pem").write_text("garbage")
    res = runner.invoke(app, ["check", str(tmp_path)])
    assert res.exit_code == 1 and "not a valid certificate" in res.output


def test_errors_are_clear(tmp_path: Path) -> None:
    res = runner.invoke(app, ["show", str(tmp_path)])
    assert res.exit_code == 2 and "not a josev PKI folder" in res.output
    res = runner.invoke(app, ["create", "--out", str(tmp_path), "-p", "iso99"])
    assert res.exit_code == 2 and "unknown profile" in res.output
