"""The OCPP database on disk: private file modes, and the BasicAuthPassword a CSMS sets is not readable from a
copy of the database.

The real OCPP client against a scripted CSMS over a real WebSocket, with the default umask (022, what a station
started by hand gets). Before the fix the database was 0644 and the password sat in it in plain text.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import stat
from pathlib import Path

from josev.ocpp.store import Store
from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import ScriptedCsms

PASSWORD = "Zq7-Secret-Passw0rd-for-CSMS"


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def db_files(db: Path) -> list[Path]:
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]


async def test_password_set_by_the_csms_is_not_in_the_database_file(tmp_path: Path) -> None:
    old = os.umask(0o022)
    csms = ScriptedCsms()
    await csms.start()
    try:
        cfg = make_config(tmp_path, csms.url)
        sut = StationUnderTest(cfg)
        await sut.start()
        await csms.wait_for("BootNotification")
        res = await csms.call(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                        "attributeValue": PASSWORD,
                    }
                ]
            },
        )
        assert res["setVariableResult"][0]["attributeStatus"] == "Accepted"
        await csms.wait_connected(count=2, timeout=10)  # A01: reconnects with the new password
        await sut.close()

        db = cfg.database
        for f in [*db_files(db), Path(f"{db}.key")]:
            assert mode(f) == 0o600, (f, oct(mode(f)))
        for f in db_files(db):
            data = f.read_bytes()
            assert PASSWORD.encode() not in data, f
            assert base64.b64encode(PASSWORD.encode()) not in data, f

        # the station still knows it: restarted, it authenticates with it
        sut = StationUnderTest(make_config(tmp_path, csms.url))
        n = len(csms.auth_headers)
        await sut.start()
        await csms.wait_connected(count=3, timeout=10)
        await sut.close()
        want = "Basic " + base64.b64encode(f"{cfg.identity}:{PASSWORD}".encode()).decode()
        assert csms.auth_headers[n] == want
    finally:
        os.umask(old)
        await csms.stop()


def test_a_database_written_by_an_older_version_is_tightened_and_encrypted(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE variables (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    con.execute("INSERT INTO variables VALUES (?, ?)", ("SecurityCtrlr/BasicAuthPassword", PASSWORD))
    con.commit()
    con.close()
    os.chmod(db, 0o644)
    assert PASSWORD.encode() in db.read_bytes()

    store = Store(db)
    assert store.variables()["SecurityCtrlr/BasicAuthPassword"] == PASSWORD
    store.close()
    assert mode(db) == 0o600
    for f in db_files(db):
        assert PASSWORD.encode() not in f.read_bytes(), f
    assert Store(db).variables()["SecurityCtrlr/BasicAuthPassword"] == PASSWORD
