"""Subprocess client of the EXIficient oracle (EXICodec.jar from the PyPI package ``iso15118``).

Test peer only: the jar is looked up in ``.venv-peers`` (or $JOSEV_EXICODEC_JAR) and driven through the
small Java program ``oracle/ExiOracle.java`` over stdin/stdout, one request per line.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
JAVA_SRC = Path(__file__).resolve().parent / "oracle" / "ExiOracle.java"

NAMESPACES = {
    "sap": "urn:iso:15118:2:2010:AppProtocol",
    "din": "urn:din:70121:2012:MsgDef",
    "iso2": "urn:iso:15118:2:2013:MsgDef",
    "iso20-cm": "urn:iso:std:iso:15118:-20:CommonMessages",
    "iso20-ac": "urn:iso:std:iso:15118:-20:AC",
    "iso20-dc": "urn:iso:std:iso:15118:-20:DC",
    "iso20-wpt": "urn:iso:std:iso:15118:-20:WPT",
    "iso20-acdp": "urn:iso:std:iso:15118:-20:ACDP",
}


def find_jar() -> str | None:
    env = os.environ.get("JOSEV_EXICODEC_JAR")
    if env and os.path.exists(env):
        return env
    hits = glob.glob(
        str(
            ROOT
            / ".venv-peers"
            / "lib"
            / "python3*"
            / "site-packages"
            / "iso15118"
            / "shared"
            / "EXICodec.jar"
        )
    )
    return hits[0] if hits else None


def available() -> bool:
    return find_jar() is not None and shutil.which("java") is not None


class OracleError(Exception):
    """EXIficient rejected the request."""


class Oracle:
    """A running EXIficient oracle process."""

    def __init__(self) -> None:
        jar = find_jar()
        if jar is None:
            raise RuntimeError("EXICodec.jar not found (install iso15118 into .venv-peers)")
        self.proc = subprocess.Popen(
            ["java", "--add-opens", "java.base/java.lang=ALL-UNNAMED", "-cp", jar, str(JAVA_SRC)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
        )

    def _ask(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line.replace("\n", " ") + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline()
        if not out:
            raise RuntimeError("oracle process died")
        out = out.rstrip("\n")
        if out.startswith("OK "):
            return out[3:]
        if out == "OK":
            return ""
        raise OracleError(out[4:])

    def version(self) -> str:
        return self._ask("V")

    def encode(self, schema: str, message: dict[str, Any]) -> bytes:
        return bytes.fromhex(
            self._ask(f"E {NAMESPACES[schema]} {json.dumps(message, separators=(',', ':'))}")
        )

    def encode_xml(self, schema: str, xml: str, fragment: bool = False) -> bytes:
        """Plain EXIficient (no JAXB) on XML text, with the jar's grammars and factory settings."""
        return bytes.fromhex(self._ask(f"X {schema} {1 if fragment else 0} {xml}"))

    def decode(self, schema: str, data: bytes) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self._ask(f"D {NAMESPACES[schema]} {data.hex()}"))
        return result

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
