"""The bus's AsyncAPI document is valid for the AsyncAPI Initiative's parser (``@asyncapi/parser``, npm,
installed by scripts/setup-peers.sh): no error (165 before: qos/retain in message bindings), the EVSE state
and fault codes are enumerations, the reply headers and the broker's security are declared."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from josev.api import asyncapi
from josev.coordinator.states import St
from tests.conftest import ROOT

HERE = Path(__file__).parent / "asyncapi"
DOC = ROOT / "docs" / "api" / "asyncapi.json"


def test_the_parser_reports_no_error() -> None:
    if shutil.which("node") is None or not (HERE / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail("@asyncapi/parser is not installed: run scripts/setup-peers.sh (needs node and npm)")
    out = subprocess.run(
        ["node", "validate.mjs", str(DOC)], cwd=HERE, capture_output=True, text=True, timeout=120
    )
    print(out.stdout)  # the CI log shows the parser's verdict
    summary = out.stdout.strip().splitlines()[-1]
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert summary.startswith("asyncapi-parser: 0 error(s), 0 warning(s)"), summary
    assert "document parsed" in summary


def test_the_committed_document_is_generated() -> None:
    assert asyncapi.drift(ROOT / "docs" / "api") == []


def test_enums_headers_and_security() -> None:
    doc = json.loads(DOC.read_text())
    status = doc["components"]["schemas"]["EvseStatus"]["properties"]
    assert status["state"]["enum"] == [s.value for s in St]
    assert "rcd_trip" in status["faults"]["items"]["anyOf"][0]["enum"]
    schema_file = json.loads((ROOT / "docs/api/schemas/coordinator.state.evse_status.json").read_text())
    assert schema_file["properties"]["state"]["enum"] == [s.value for s in St]
    reply = doc["components"]["messages"]["coordinator.cmd.present_token.reply"]
    assert reply["headers"]["properties"]["status"]["enum"] == ["ok", "error"]
    assert doc["components"]["messages"]["ErrorReply"]["headers"]["properties"]["status"]["const"] == "error"
    assert doc["servers"]["station"]["security"] == [{"$ref": "#/components/securitySchemes/userPassword"}]
    assert doc["components"]["securitySchemes"]["userPassword"]["type"] == "userPassword"
    # qos/retain belong to the operations' MQTT bindings, not to the messages'
    for msg in doc["components"]["messages"].values():
        assert not {"qos", "retain"} & set(msg.get("bindings", {}).get("mqtt", {}))
    op = doc["operations"]["coordinator.state.evse_status.send"]["bindings"]["mqtt"]
    assert op["qos"] == 1 and op["retain"] is True
    assert doc["operations"]["coordinator.event.session.send"]["bindings"]["mqtt"]["retain"] is False
