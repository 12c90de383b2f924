"""The cross-built wheels of `make dist` (skipped before a `make dist`): one per board architecture, each with
the native EXI module for its CPU, needing no glibc newer than 2.17, abi3 for CPython >= 3.11."""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

DIST = ROOT / "dist"
# wheel platform tag -> the ELF machine readelf names
MACHINES = {
    "armv7l": "ARM",
    "aarch64": "AArch64",
    "i686": "Intel 80386",
    "x86_64": "Advanced Micro Devices X86-64",
}
GLIBC_MIN = (2, 17)


def wheels() -> dict[str, Path]:
    found = {}
    for whl in DIST.glob("josev-*.whl"):
        for arch in MACHINES:
            if whl.name.endswith(f"_{arch}.whl"):
                found[arch] = whl
    return found


pytestmark = pytest.mark.skipif(len(wheels()) < len(MACHINES), reason="no complete dist/ (make dist)")


@pytest.mark.parametrize("arch", sorted(MACHINES))
def test_wheel_has_the_native_module_for_its_cpu_and_an_old_glibc(arch: str, tmp_path: Path) -> None:
    whl = wheels()[arch]
    assert re.match(rf"josev-[\d.]+-cp311-abi3-manylinux2014_{arch}\.manylinux_2_17_{arch}\.whl$", whl.name)
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        assert (
            "josev/_exi.abi3.so" in names and "josev/cli/__init__.py" in names and "hal/__init__.py" in names
        )
        z.extract("josev/_exi.abi3.so", tmp_path)
    so = tmp_path / "josev" / "_exi.abi3.so"
    header = subprocess.run(["readelf", "-h", str(so)], capture_output=True, text=True, check=True).stdout
    assert re.search(rf"Machine:\s+{re.escape(MACHINES[arch])}", header), header
    versions = subprocess.run(["readelf", "-V", str(so)], capture_output=True, text=True, check=True).stdout
    needed = {tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_([\d.]+)", versions)}
    assert needed and max(needed) <= GLIBC_MIN, sorted(needed)
    dynamic = subprocess.run(["readelf", "-d", str(so)], capture_output=True, text=True, check=True).stdout
    assert "libpython" not in dynamic  # abi3 extension: no link to one Python's library


def test_host_round_trip_of_the_corpus() -> None:
    corpus = ROOT.parent / "shared" / "vectors" / "captured_exi.jsonl"
    if not corpus.exists():
        pytest.skip("../shared vectors not present")
    out = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "scripts/dist_roundtrip.py", str(corpus)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert re.match(r"exi round trip: 786 ok, 0 failed, decoded sha256 [0-9a-f]{16}$", out.stdout.strip())
