"""``josev config check`` validates every section: realistic mistakes in the shipped Charge Control C example
are each rejected with the key and the line of the file; the example itself passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from josev.config import ConfigError
from josev.configcheck import check_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "josev" / "data" / "examples" / "ccc-two-evse.toml"
BASE = EXAMPLE.read_text()

# (name, text to replace, replacement, text on the offending line, key in the error, words of the message)
MISTAKES = [
    (
        "ocpp key typo",
        'csms_url = "wss',
        'csms_ulr = "wss',
        "csms_ulr",
        "ocpp.csms_ulr",
        "did you mean 'csms_url'",
    ),
    (
        "missing csms_url",
        'csms_url = "wss://csms.example.com/ocpp"\n',
        "",
        "[ocpp]",
        "ocpp",
        "csms_url is missing",
    ),
    ("https", "wss://csms", "https://csms", "csms_url", "ocpp.csms_url", "not https://"),
    (
        "ws with profile 2",
        "wss://csms",
        "ws://csms",
        "csms_url",
        "ocpp.csms_url",
        "security profile 2 needs wss://",
    ),
    (
        "URL without host",
        "wss://csms.example.com/ocpp",
        "wss:///ocpp",
        "csms_url",
        "ocpp.csms_url",
        "no host in",
    ),
    (
        "profile 4",
        "security_profile = 2",
        "security_profile = 4",
        "security_profile",
        "ocpp.security_profile",
        "Input should be",
    ),
    (
        "missing certificate",
        "security_profile = 2\n",
        'security_profile = 2\ncsms_root_certificates = ["/etc/josev/csms-root.pem"]\n',
        "csms_root_certificates",
        "ocpp.csms_root_certificates[0]",
        "/etc/josev/csms-root.pem does not exist",
    ),
    (
        "short password",
        '"change-me-to-16-40-chars"',
        '"secret"',
        "basic_auth_password",
        "ocpp.basic_auth_password",
        "16-40 characters, this one has 6",
    ),
    (
        "long password",
        '"change-me-to-16-40-chars"',
        '"' + "x" * 41 + '"',
        "basic_auth_password",
        "ocpp.basic_auth_password",
        "this one has 41",
    ),
    (
        "password characters",
        '"change-me-to-16-40-chars"',
        '"change me to 16-40 chars!"',
        "basic_auth_password",
        "ocpp.basic_auth_password",
        "allows only A-Z a-z 0-9 *-_=:+|@. (found ' ' '!')",
    ),
    ("unknown board", 'board = "ccc"', 'board = "cc"', "board =", "hal.board", "unknown board 'cc'"),
    ("hal key typo", "poll_s = 0.01", "pol_s = 0.01", "pol_s", "hal.pol_s", "did you mean 'poll_s'"),
    (
        "channel key typo",
        'relay_line = "RELAY_2_ENABLE"',
        'relay_lines = "RELAY_2_ENABLE"',
        "relay_lines",
        "hal.ccc.channels[1].relay_lines",
        "did you mean 'relay_line'",
    ),
    (
        "channel for every EVSE",
        "board_channel = 1",
        "board_channel = 2",
        "board_channel = 2",
        "evse[1](id=2).board_channel",
        "channel 2, but [[hal.ccc.channels]] configures 2",
    ),
    ("meter on a missing EVSE", "evse = 2\n", "evse = 3\n", "evse = 3", "hal.meters[1].evse", "no EVSE 3"),
    (
        "unknown meter model",
        'model = "sdm630"\nunit = 2',
        'model = "sdm640"\nunit = 2',
        'model = "sdm640"',
        "hal.meters[1].model",
        "unknown meter model 'sdm640'",
    ),
    (
        "unknown section",
        "[coordinator]",
        "[coordinater]",
        "[coordinater]",
        "coordinater",
        "unknown section [coordinater]",
    ),
    (
        "coordinator key typo",
        "local_auth_list",
        "local_auth_lists",
        "local_auth_lists",
        "coordinator.local_auth_lists",
        "did you mean 'local_auth_list'",
    ),
    (
        "unknown service",
        "[services.slac]",
        "[services.slack]",
        "[services.slack]",
        "services.slack",
        "unknown service 'slack'; known: system, hal",
    ),
    (
        "service process",
        'process = "separate"',
        'process = "own"',
        'process = "own"',
        "services.slac.process",
        "Input should be",
    ),
    (
        "broker port",
        'socket = "/run/josev/mosquitto.sock"',
        "port = 70000",
        "port = 70000",
        "broker.port",
        "less than or equal to 65535",
    ),
    (
        "logging level",
        'level = "info"',
        'level = "verbose"',
        'level = "verbose"',
        "logging.level",
        "Input should be",
    ),
    (
        "log file folder",
        "json_lines = true",
        'json_lines = true\nfile = "/nonexistent/josev/station.log"',
        'file = "/nonexistent',
        "logging.file",
        "folder /nonexistent/josev does not exist",
    ),
    (
        "secc tls without pki",
        "[services.slac]",
        '[secc]\ntls = "iso2"\n\n[services.slac]',
        'tls = "iso2"',
        "secc.tls",
        "TLS needs pki_dir",
    ),
    (
        "slac timing typo",
        "[services.slac]",
        "[slac.timings]\nTT_EVSE_SLAC_int = 20.0\n\n[services.slac]",
        "TT_EVSE_SLAC_int",
        "slac.timings.TT_EVSE_SLAC_int",
        "did you mean 'TT_EVSE_SLAC_init'",
    ),
    (
        "evse phases",
        'phases = 3\nmax_current_a = 32.0\nplc_interface = "eth2"',
        'phases = 2\nmax_current_a = 32.0\nplc_interface = "eth2"',
        "phases = 2",
        "evse[1](id=2).phases",
        "Input should be 1 or 3",
    ),
]


def _line(text: str, marker: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if marker in line)


def test_the_charge_control_c_example_passes() -> None:
    report = check_file(EXAMPLE)
    assert [e.id for e in report.config.evse] == [1, 2]
    assert report.notes == []
    out = subprocess.run(
        [sys.executable, "-m", "josev", "config", "check", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "OK - station CCC-0001, EVSEs: 1 (ac, 32 A), 2 (ac, 32 A)" in out.stdout


@pytest.mark.parametrize(
    ("name", "old", "new", "marker", "key", "words"), MISTAKES, ids=[m[0] for m in MISTAKES]
)
def test_each_mistake_is_rejected_with_key_and_line(
    tmp_path: Path, name: str, old: str, new: str, marker: str, key: str, words: str
) -> None:
    assert old in BASE, name
    text = BASE.replace(old, new, 1)
    f = tmp_path / "station.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        check_file(f)
    problems = err.value.problems
    assert len(problems) == 1, err.value.explain()
    p = problems[0]
    assert p.loc == key
    assert words in p.msg
    assert p.line == _line(text, marker), err.value.explain()
    assert err.value.lines() == [f"{f}:{p.line}: {key}: {p.msg}"]


def test_cli_prints_one_line_per_error_and_exits_1(tmp_path: Path) -> None:
    text = BASE.replace("wss://csms", "https://csms").replace('board = "ccc"', 'board = "cc"')
    f = tmp_path / "station.toml"
    f.write_text(text)
    out = subprocess.run(
        [sys.executable, "-m", "josev", "config", "check", str(f)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        f"{f}:{_line(text, 'board =')}: hal.board: unknown board 'cc'; known: 'sim' (simulator), "
        "'ccc' (Charge Control C)",
        f"{f}:{_line(text, 'csms_url')}: ocpp.csms_url: the CSMS URL must start with ws:// (security profile 1) "
        "or wss:// (profiles 2 and 3), not https://",
        f"{f}: 2 problem(s)",
    ]
    assert "Traceback" not in out.stderr


def test_an_existing_certificate_passes(tmp_path: Path) -> None:
    cert = tmp_path / "root.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    f = tmp_path / "station.toml"
    f.write_text(
        BASE.replace("security_profile = 2\n", f'security_profile = 2\ncsms_root_certificates = ["{cert}"]\n')
    )
    assert check_file(f).config.ocpp["csms_root_certificates"] == [str(cert)]


def test_no_plc_and_no_ocpp_are_notes_not_errors(tmp_path: Path) -> None:
    f = tmp_path / "station.toml"
    f.write_text("[[evse]]\nid = 1\n\n[broker]\nport = 0\n")
    report = check_file(f)
    assert report.notes == [
        "no EVSE has a plc_interface (with hlc = true): basic PWM charging only, SLAC and SECC off",
        "no [ocpp] table: no CSMS, OCPP off (the station charges standalone)",
    ]


def test_show_redacts_the_password() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "josev", "config", "check", str(EXAMPLE), "--show"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "change-me-to-16-40-chars" not in out.stdout
    assert '"basic_auth_password": "<redacted>"' in out.stdout
    assert '"csms_url": "wss://csms.example.com/ocpp"' in out.stdout


def test_toml_syntax_error_has_its_line(tmp_path: Path) -> None:
    f = tmp_path / "station.toml"
    f.write_text('[station]\nid = "x"\nmodel = \n')
    with pytest.raises(ConfigError) as err:
        check_file(f)
    assert err.value.problems[0].line == 3
