"""The board install (scripts/board_install.py) is complete and runs the station without root.

It builds the wheel from this checkout and installs it the way a board image holds it (cryptography built
against the system OpenSSL, native modules stripped, bytecode only), for the distribution's own Python
(``/usr/bin/python3``) where there is one, as on a board. It checks each of those properties on the files, then
runs ``josev demo`` from that install alone, as the unprivileged user ``nobody`` when the tests run as root: a
private mosquitto, every service, the CSMS stand-in and EVs on two EVSEs, every protocol, with no ``.py``
source anywhere under the prefix and no access to the checkout or to root's files.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import board_install

pytestmark = pytest.mark.slow


def readelf(*args: str) -> str:
    return subprocess.run(["readelf", *args], check=True, capture_output=True, text=True).stdout


def system_python() -> Path | None:
    """The distribution's Python if it is 3.11+ (a board has one; ours may live under root's home)."""
    for cand in ("/usr/bin/python3.11", "/usr/bin/python3"):
        path = Path(cand)
        if path.is_file():
            ok = subprocess.run([cand, "-c", "import sys; sys.exit(sys.version_info < (3, 11))"], check=False)
            if ok.returncode == 0:
                return path
    return None


@pytest.fixture(scope="module")
def board() -> Iterator[dict[str, object]]:
    if shutil.which("readelf") is None or shutil.which("strip") is None:
        pytest.fail("binutils (strip, readelf) missing: scripts/setup.sh installs them")
    # world-readable, unlike pytest's tmp_path, so that an unprivileged user can run it
    top = Path(tempfile.mkdtemp(prefix="josev-board-"))
    top.chmod(0o755)
    try:
        yield board_install.install(top / "josev", python=system_python())
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_no_sources_and_everything_compiled(board: dict[str, object]) -> None:
    prefix = Path(str(board["prefix"]))
    site = board_install.site_packages(prefix)
    assert not [p for p in site.rglob("*.py")], "a .py source was left"
    assert not [p for p in site.rglob("__pycache__")]
    assert (site / "josev" / "cli" / "__init__.pyc").is_file()
    assert (site / "hal" / "__init__.pyc").is_file()
    assert int(str(board["source_bytes_removed"])) > 1_000_000


def test_native_modules_are_stripped(board: dict[str, object]) -> None:
    site = board_install.site_packages(Path(str(board["prefix"])))
    sos = [p for p in site.rglob("*.so") if board_install.is_elf(p)]
    assert len(sos) >= 4  # our codec, cryptography, pydantic-core, cbor2, ...
    for so in sos:
        assert ".symtab" not in readelf("-S", "-W", str(so)), f"{so.name} keeps its symbol table"


def test_cryptography_uses_the_system_openssl(board: dict[str, object]) -> None:
    site = board_install.site_packages(Path(str(board["prefix"])))
    (rust,) = site.glob("cryptography/hazmat/bindings/_rust*.so")
    needed = readelf("-d", str(rust))
    assert "libssl.so" in needed and "libcrypto.so" in needed, needed


def test_size_is_under_the_target(board: dict[str, object]) -> None:
    total = int(str(board["bytes"]))
    assert total == board_install.tree_bytes(Path(str(board["prefix"])))
    assert total < 30 * board_install.MB, f"board install is {total / board_install.MB:.1f} MB"
    per = board["per_package"]
    assert isinstance(per, dict)
    for heavy in ("rich", "pygments", "pip", "setuptools"):
        assert heavy not in per, f"{heavy} is in the board install"


def test_the_board_extras_are_installed(board: dict[str, object]) -> None:
    """gpiod (josev[board]): without it the Charge Control C driver cannot switch a relay."""
    assert board_install.requirement(Path("josev.whl")) == "josev.whl[board]"
    python = Path(str(board["prefix"])) / "bin" / "python"
    out = subprocess.run(
        [str(python), "-c", "import gpiod; print(gpiod.__version__)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split(".")[0]) >= 2


def test_the_demo_runs_from_the_board_install_without_root(board: dict[str, object]) -> None:
    josev = Path(str(board["prefix"])) / "bin" / "josev"
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
    }
    drop: list[str] = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        drop = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    version = subprocess.run(
        [*drop, str(josev), "version"], capture_output=True, text=True, env=env, timeout=60
    )
    assert version.returncode == 0, version.stderr
    assert "exi-codec" in version.stdout
    with tempfile.TemporaryDirectory(prefix="josev-demo-") as cwd:
        os.chmod(cwd, 0o777)
        demo = subprocess.run(
            [*drop, str(josev), "demo", "--evses", "2", "--no-live", "--loops", "1"],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=240,
        )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    done = re.search(r"(\d+) of (\d+) sessions completed", demo.stdout)
    assert done is not None and done[1] == done[2] and int(done[2]) >= 8, demo.stdout[-3000:]  # every session
    for protocol in ("IEC 61851 PWM", "din", "iso2-ac", "iso2-dc", "iso20-ac-bpt", "iso20-dc-bpt"):
        assert protocol in demo.stdout, protocol


def test_systemd_units_from_the_board_install_run_its_josev(board: dict[str, object], tmp_path: Path) -> None:
    """`josev systemd install` run from the board install points the units at that install's josev, even with
    another josev earlier on PATH (the developer's venv here)."""
    josev = Path(str(board["prefix"])) / "bin" / "josev"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    out = subprocess.run(
        [str(josev), "systemd", "install", "--prefix", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    unit = (tmp_path / "lib" / "systemd" / "system" / "josev.service").read_text()
    assert f"ExecStart={josev} run --config /etc/josev/station.toml" in unit, unit
