"""The post-switch check that the Python installation stays readable: a frozen bundle has no stdlib folder on disk
(its modules live in the bundle's archive), so only a real installation is checked (the i386 bundle refused to
start as root with "the Python installation at .../_internal/lib/python3.13 is not readable by uid 0")."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import pytest

from josev.services import privileges


def test_missing_stdlib_folder_is_reported_outside_a_bundle(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gone = tmp_path / "lib" / "python3.13"
    monkeypatch.setattr(sysconfig, "get_paths", lambda: {"stdlib": str(gone)})
    monkeypatch.delattr(sys, "frozen", raising=False)
    (problem,) = privileges.check_code()
    assert problem.startswith(f"the Python installation at {gone} is not readable by uid")


def test_a_frozen_bundle_is_not_asked_for_a_stdlib_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sysconfig, "get_paths", lambda: {"stdlib": str(tmp_path / "lib" / "python3.13")})
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert privileges.check_code() == []
