"""A self-contained bundle (PyInstaller, ``sys.frozen``) has no ``python -m``: josev's re-executions go through
the bundle's own program, and a missing system tool gives a message naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from josev import netlab, reexec
from tests.conftest import ROOT

ENTRY = ROOT / "scripts" / "bundle" / "josev_main.py"


@pytest.fixture
def frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the bundle's program: an executable that knows only the bundle's argv (no -m)."""
    exe = tmp_path / "josev-bundle"
    exe.write_text(
        "#!/bin/sh\n"
        f"exec {sys.executable} -c \"import sys, runpy; sys.frozen = True; sys.argv[0] = '{exe}'; "
        f"runpy.run_path('{ENTRY}', run_name='__main__')\" \"$@\"\n"
    )
    exe.chmod(0o755)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    return exe


def test_module_command_of_an_install() -> None:
    assert reexec.module_command("josev.netlab") == [sys.executable, "-m", "josev.netlab"]


def test_frozen_bundle_reruns_the_cli_and_modules(frozen: Path) -> None:
    cmd = reexec.module_command("josev")
    assert cmd == [str(frozen), "--run-module", "josev"]
    out = subprocess.run([*cmd, "version"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("josev ")
    # a module's own __main__ with its arguments (the netlab offload helper the lab runs in a namespace)
    out = subprocess.run(
        [*reexec.module_command("josev.netlab"), "bogus"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 2 and "usage: python -m josev.netlab offload IFACE" in out.stderr
    # the bundle's program rejects `-m` like any unknown option: the old `sys.executable -m ...` fails
    out = subprocess.run(
        [str(frozen), "-m", "josev", "version"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert out.returncode != 0


def test_missing_ip_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `ip` anywhere
    assert netlab.can_create_namespaces() is False
    with pytest.raises(netlab.NetlabError, match=r"`ip` command \(iproute2\) is not installed"):
        netlab.ip("link", "show")
    with pytest.raises(netlab.NetlabError, match="iproute2"):
        netlab.Netns("x").run(["true"])
    assert os.environ["PATH"] == str(tmp_path)
