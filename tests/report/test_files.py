"""The station's V2G log with reports (ReportingRecorder): real EXI frames of a shared capture recorded as the
SECC records them, the pcapng and both reports written next to each other, rotation, station actions, and the
station CLI's ``--report/--no-report`` switch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from josev.observability.v2glog import V2gRecorder
from josev.report.decode import frames_from_capture
from josev.report.files import ReportingRecorder, report_paths
from josev.report.model import StationAction
from josev.v2g.codec import exi_available
from tests.conftest import SHARED

CAPTURE = SHARED / "captures" / "ISO-2_DC_DS5366.pcapng"
pytestmark = [
    pytest.mark.skipif(not CAPTURE.exists(), reason="../shared captures are not present"),
    pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built"),
]


def _replay(rec: V2gRecorder, session: str, shift: float = 0.0) -> Path | None:
    """Record the capture's SDP and first TCP connection as the SECC would, then end the session."""
    for f in frames_from_capture(CAPTURE.read_bytes()):
        if f.kind == "sdp" or (f.kind == "tcp" and f.connection == 1):
            rec.record("rx" if f.from_ev else "tx", f.data, f.t + shift, 1, session, udp=f.kind == "sdp")
    return rec.end_session(1, session)


def test_report_next_to_the_pcapng(tmp_path: Path) -> None:
    pytest.importorskip("plotly")  # the HTML report needs the `report` extra
    seen: list[tuple[int, str]] = []

    def actions(evse: int, session: str) -> list[StationAction]:
        seen.append((evse, session))
        return [StationAction(1.0, "drop_link", "", {"note": "synthetic"})]

    rec = ReportingRecorder(directory=tmp_path, actions=actions)
    path = _replay(rec, "c1")
    assert path is not None and rec.flush(30)
    j, h = report_paths(path)
    assert path.exists() and j.exists() and h.exists()
    assert {oct(p.stat().st_mode & 0o777) for p in (path, j, h)} == {"0o600"}
    data = json.loads(j.read_text())
    assert data["session"]["capture"] == path.name and data["session"]["evse"] == 1
    assert data["session"]["connection"] == "c1" and data["session"]["protocol"] == "ISO 15118-2"
    names = [m["name"] for m in data["messages"]]
    assert names[:3] == ["SECCDiscoveryReq", "SECCDiscoveryRes", "supportedAppProtocolReq"]
    assert names[-1] == "SessionStopRes" and names.count("CurrentDemandReq") > 100
    assert seen == [(1, "c1")] and data["actions"][0]["kind"] == "drop_link"
    assert data["reactions"][0]["rule"] == "ev-silent-after-link-drop"
    assert "<html" in h.read_text()[:200] and rec.reports_written == 1 and rec.reports_failed == 0
    rec.close()


def test_reports_follow_the_log_rotation(tmp_path: Path) -> None:
    pytest.importorskip("plotly")  # the HTML report needs the `report` extra
    rec = ReportingRecorder(directory=tmp_path, max_files=2, max_html=1)
    paths = [_replay(rec, f"c{i}", shift=100.0 * i) for i in range(3)]
    assert rec.flush(60)
    assert all(p is not None for p in paths)
    left = sorted(p.name for p in tmp_path.iterdir())
    first, second, third = (report_paths(p) for p in paths if p is not None)
    assert not paths[0].exists() and not first[0].exists() and not first[1].exists()  # type: ignore[union-attr]
    assert second[0].exists() and not second[1].exists(), left  # only the newest HTML is kept
    assert third[0].exists() and third[1].exists(), left
    rec.close()


def test_station_cli_switch(tmp_path: Path) -> None:
    """``josev station --v2g-log-dir D [--no-report]`` is ``[secc] v2g_log_dir`` + ``v2g_log_reports``."""
    from josev.secc.refstation import build_real

    def recorder(**secc: object) -> object:
        return build_real("lo", kind="dc", slac=False, workdir=tmp_path, secc=secc, lite=True).secc.recorder

    on = recorder(v2g_log_dir=str(tmp_path), v2g_log_reports=True)
    off = recorder(v2g_log_dir=str(tmp_path), v2g_log_reports=False)
    none = recorder()
    assert isinstance(on, ReportingRecorder)
    assert type(off) is V2gRecorder and type(none) is V2gRecorder


def test_a_capture_with_a_scenario_record_gets_its_reactions(tmp_path: Path) -> None:
    """``josev v2g report`` / the demo's folder on a session of ``josev station --scenario``: the record next to
    the pcapng (``.scenario.json``) gives the report its actions; a broken record leaves them out, nothing else."""
    from josev.report.files import report_folder, write_report
    from josev.v2g.codec import make_codec

    rec = V2gRecorder(directory=tmp_path / "logs")
    path = _replay(rec, "c1")
    assert path is not None and rec.flush(30)
    rec.close()
    first = json.loads(write_report(path, make_codec("exi"), html=False)[0].read_text())
    assert first["actions"] == []
    t_stop = (
        next(m["t"] for m in first["messages"] if m["name"] == "CurrentDemandRes")
        + first["session"]["start_epoch"]
    )
    record = {
        "scenario": "pause",
        "actions": [
            {"t": t_stop, "kind": "notify", "request": "CurrentDemand", "detail": "EVSENotification StopCharging",
             "data": {"notification": "StopCharging", "max_delay_s": 0}}
        ],
    }  # fmt: skip
    path.with_name(path.name.removesuffix(".pcapng") + ".scenario.json").write_text(json.dumps(record))
    data = json.loads(write_report(path, make_codec("exi"), html=False)[0].read_text())
    (a,) = data["actions"]
    assert (a["kind"], a["request"], a["detail"]["scenario"]) == (
        "stop_charging",
        "CurrentDemandReq",
        "notify",
    )
    (f,) = data["reactions"]
    # the captured EV did not stop after its first CurrentDemandRes (nobody had asked it to): a violation
    assert (f["severity"], f["rule"], f["limit"]) == ("error", "ev-stops-when-asked", 2.0), f
    assert "next request was CurrentDemandReq" in f["text"], f
    out = report_folder(tmp_path / "logs", tmp_path / "kept", make_codec("exi"))
    assert [v for *_, v in out] == ["fail"]  # the record went along with the copy
    path.with_name(path.name.removesuffix(".pcapng") + ".scenario.json").write_text("{not json")
    data = json.loads(write_report(path, make_codec("exi"), html=False)[0].read_text())
    assert data["actions"] == [] and data["summary"]["verdict"] == first["summary"]["verdict"]
