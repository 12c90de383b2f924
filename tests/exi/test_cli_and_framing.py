"""The ``josev exi`` command group, V2GTP framing, the Josev codec class, the generated typed models and
the generator's reproducibility."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from josev import exi
from josev.cli.exi import app
from josev.exi import types as exi_types
from josev.exi.codec import JosevExiCodec
from josev.exi.types import din, iso20_cm, sap
from josev.v2g import v2gtp

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
SAP_RES_HEX = "80400040"
SAP_RES = {"supportedAppProtocolRes": {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 1}}
AC_CPD_REQ = "801004121319d232ca97fb0b3f3f7c706288300b220019088300b220019080"  # -20 AC (payload 0x8003)


def test_cli_decode_hex() -> None:
    r = runner.invoke(app, ["decode", "--schema", "sap", SAP_RES_HEX])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == SAP_RES


def test_cli_decode_stdin_and_namespace_schema() -> None:
    r = runner.invoke(app, ["decode", "-s", "urn:iso:15118:2:2010:AppProtocol", "-"], input="8040 0040\n")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == SAP_RES


def test_cli_encode_and_frame_round_trip() -> None:
    r = runner.invoke(app, ["encode", "--schema", "sap", json.dumps(SAP_RES)])
    assert r.exit_code == 0 and r.output.strip() == SAP_RES_HEX
    r = runner.invoke(app, ["encode", "--schema", "sap", "--frame", "-"], input=json.dumps(SAP_RES))
    assert r.output.strip() == "01fe800100000004" + SAP_RES_HEX
    r = runner.invoke(app, ["decode", "--frame", "--schema", "sap", r.output.strip()])
    assert json.loads(r.output) == SAP_RES


def test_cli_frame_takes_schema_from_payload_type() -> None:
    frame = v2gtp.frame(0x8003, bytes.fromhex(AC_CPD_REQ)).hex()
    r = runner.invoke(app, ["decode", "--frame", frame])
    assert r.exit_code == 0, r.output
    assert "AC_ChargeParameterDiscoveryReq" in json.loads(r.output)
    # 0x8001 is ambiguous: the schema is required
    r = runner.invoke(app, ["decode", "--frame", "01fe800100000004" + SAP_RES_HEX])
    assert r.exit_code == 1
    assert "schema must be given" in r.output
    # a contradicting schema is an error
    r = runner.invoke(app, ["decode", "--frame", "--schema", "iso20-dc", frame])
    assert r.exit_code == 1


def test_cli_errors_are_clear() -> None:
    r = runner.invoke(app, ["decode", "--schema", "sap", "80400041"])
    assert r.exit_code == 1 and "padding" in r.output
    r = runner.invoke(app, ["decode", "--schema", "sap", "zz"])
    assert r.exit_code == 1 and "not hex" in r.output
    r = runner.invoke(app, ["encode", "--schema", "sap", "{"])
    assert r.exit_code == 1 and "invalid JSON" in r.output
    r = runner.invoke(app, ["encode", "--schema", "nope", "{}"])
    assert r.exit_code == 1 and "no EXI schema" in r.output
    r = runner.invoke(app, ["decode", SAP_RES_HEX])
    assert r.exit_code == 1 and "--schema is required" in r.output


def test_cli_module_is_lazy_and_lists_every_schema() -> None:
    from josev.cli import exi as cli_exi

    assert cli_exi.SCHEMA_NAMES == exi.SCHEMAS
    code = "import sys, josev.cli.exi; print('josev._exi' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.stdout.strip() == "False", r.stderr


def test_cli_schemas_lists_payload_types() -> None:
    r = runner.invoke(app, ["schemas"])
    assert r.exit_code == 0
    assert "iso20-dc    0x8004" in r.output
    assert len(r.output.strip().splitlines()) == 9
    assert "xmldsig" in r.output


def test_cli_decode_as_xml() -> None:
    r = runner.invoke(app, ["decode", "--schema", "sap", "--xml", SAP_RES_HEX])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("<n")
    assert "<ResponseCode>OK_SuccessfulNegotiation</ResponseCode>" in r.output


def test_frame_helpers() -> None:
    frame = v2gtp.encode_frame("sap", SAP_RES)
    assert frame.hex() == "01fe800100000004" + SAP_RES_HEX
    assert v2gtp.decode_frame(frame, "sap") == ("sap", SAP_RES)
    ac = v2gtp.frame(0x8003, bytes.fromhex(AC_CPD_REQ))
    name, msg = v2gtp.decode_frame(ac)
    assert name == "iso20-ac" and "AC_ChargeParameterDiscoveryReq" in msg
    with pytest.raises(v2gtp.V2gtpError):
        v2gtp.encode_frame("xmldsig", {})


def test_v2gtp_frames() -> None:
    f = v2gtp.parse_frame(bytes.fromhex("01fe800100000004" + SAP_RES_HEX))
    assert f.payload_type == 0x8001 and f.payload.hex() == SAP_RES_HEX
    for bad in ("01fe8001000000058040004", "02fd800100000004" + SAP_RES_HEX, "01fe80"):
        with pytest.raises(v2gtp.V2gtpError):
            v2gtp.parse_frame(bytes.fromhex(bad if len(bad) % 2 == 0 else bad + "0"))
    assert v2gtp.schema_for_payload_type(0x8006) == "iso20-wpt"
    assert v2gtp.schema_for_payload_type(0x8005) == "iso20-acdp"
    with pytest.raises(v2gtp.V2gtpError):
        v2gtp.schema_for_payload_type(0x9000)
    with pytest.raises(v2gtp.V2gtpError):
        v2gtp.schema_for_payload_type(0x8001, "iso20-cm")


def test_josev_codec_errors_and_namespaces() -> None:
    codec = JosevExiCodec()
    assert codec.decode(bytes.fromhex(SAP_RES_HEX), "urn:iso:15118:2:2010:AppProtocol") == json.dumps(
        SAP_RES, separators=(",", ":")
    )
    with pytest.raises(exi.ExiError):
        codec.decode(b"\x80", "urn:iso:15118:2:2010:AppProtocol")
    with pytest.raises(exi.ExiError):
        codec.encode('{"supportedAppProtocolRes": {"SchemaID": 1.5}}', "urn:iso:15118:2:2010:AppProtocol")
    with pytest.raises(ValueError, match="no EXI schema"):
        codec.encode("{}", "urn:nope")


def test_typed_models_describe_the_messages() -> None:
    res: sap.supportedAppProtocolRes_Anon = {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 1}
    assert exi.encode("sap", {"supportedAppProtocolRes": dict(res)}).hex() == SAP_RES_HEX
    assert sap.ROOTS["supportedAppProtocolRes"] is sap.supportedAppProtocolRes_Anon
    assert din.ROOTS["V2G_Message"] is din.V2G_Message_Anon
    assert iso20_cm.ROOTS["SessionSetupReq"] is iso20_cm.SessionSetupReqType
    assert din.PhysicalValueType.__required_keys__ == frozenset({"Multiplier", "Value"})
    assert "Unit" in din.PhysicalValueType.__optional_keys__
    # every schema the codec knows has a typed module whose ROOTS are TypedDicts with declared keys
    for schema in exi.SCHEMAS:
        mod = importlib.import_module(f"{exi_types.__name__}.{schema.replace('-', '_')}")
        assert mod.ROOTS, schema
        typed = {n: td for n, td in mod.ROOTS.items() if hasattr(td, "__required_keys__")}
        keyed = [n for n, td in typed.items() if td.__required_keys__ | td.__optional_keys__]
        assert keyed, schema
        # the rest are simple-typed roots (str, int, ...) or abstract bodies without members
        for name in set(mod.ROOTS) - set(keyed):
            assert name in typed or mod.ROOTS[name] in (str, int, float, bool, bytes), (schema, name)
    # a decoded message's shape matches its typed model
    doc = exi.decode("sap", bytes.fromhex(SAP_RES_HEX))
    body = doc["supportedAppProtocolRes"]
    assert set(body) <= sap.supportedAppProtocolRes_Anon.__required_keys__ | (
        sap.supportedAppProtocolRes_Anon.__optional_keys__
    )
    assert sap.supportedAppProtocolRes_Anon.__required_keys__ <= set(body)


def test_generated_files_are_up_to_date() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "exi-codec-rs" / "generator" / "gen.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr


def test_native_stub_matches_module() -> None:
    """josev/_exi.pyi describes the native module exactly (mypy.stubtest)."""
    r = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "josev._exi"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stdout + r.stderr
