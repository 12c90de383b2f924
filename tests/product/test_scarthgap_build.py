"""The native module builds with Yocto scarthgap's own Rust and maturin: cargo/rustc 1.75.0 and maturin 1.4.0.

The Yocto recipe (``recipes-yocto/meta-josev``) builds josev from this repository's ``Cargo.lock`` with the
release's toolchain; cargo 1.75 cannot read a version-4 lock file and refuses crates that declare a newer
``rust-version``. ``tests/product/test_yocto.py`` checks those declarations statically; this test builds the
wheel for real with that toolchain (``maturin build --locked``, as the recipe builds it: the lock file as it
is, no update) and round-trips the captured EXI corpus with the module it built, against the host module.

The toolchain comes from ``scripts/setup-cross.sh`` (rustup's 1.75.0, minimal profile, and maturin 1.4.0 in
``.venv-scarthgap``); without it the test skips. Cargo's build cache lives outside the repository, as for
``make dist``: a warm run only re-packs the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

RUST = "1.75.0"
MATURIN = "1.4.0"
VENV = ROOT / ".venv-scarthgap"
CORPUS = ROOT.parent / "shared" / "vectors" / "captured_exi.jsonl"


def _toolchain() -> tuple[str, Path] | None:
    """(rustup, maturin) of scarthgap's versions, or None when scripts/setup-cross.sh has not installed them."""
    rustup = shutil.which("rustup") or str(Path.home() / ".cargo" / "bin" / "rustup")
    maturin = VENV / "bin" / "maturin"
    if not Path(rustup).is_file() or not maturin.is_file():
        return None
    try:
        cargo = subprocess.run(
            [rustup, "run", RUST, "cargo", "--version"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if cargo.returncode != 0:
        return None
    return rustup, maturin


def _cache() -> Path:
    base = Path("/var/cache/josev-dist") if os.geteuid() == 0 else Path.home() / ".cache" / "josev-dist"
    return base / "scarthgap-target"


def test_wheel_builds_with_scarthgaps_cargo_and_maturin(tmp_path: Path) -> None:
    found = _toolchain()
    if found is None:
        pytest.skip(
            f"no Rust {RUST} (rustup) or maturin {MATURIN} in .venv-scarthgap: scripts/setup-cross.sh"
        )
    rustup, maturin = found
    env = dict(os.environ, RUSTUP_TOOLCHAIN=RUST, CARGO_TARGET_DIR=str(_cache()))
    env["PATH"] = f"{Path(rustup).parent}{os.pathsep}{env.get('PATH', '')}"
    versions = (
        subprocess.run(
            [str(maturin), "--version"], capture_output=True, text=True, timeout=60, env=env
        ).stdout
        + subprocess.run(["cargo", "--version"], capture_output=True, text=True, timeout=60, env=env).stdout
    )
    assert f"maturin {MATURIN}" in versions and f"cargo {RUST.rsplit('.', 1)[0]}" in versions, versions
    lock_before = (ROOT / "Cargo.lock").read_bytes()
    build = subprocess.run(
        [str(maturin), "build", "--locked", "-i", sys.executable, "-o", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    assert (ROOT / "Cargo.lock").read_bytes() == lock_before, "the build rewrote Cargo.lock"
    wheels = sorted(tmp_path.glob("josev-*-cp311-abi3-*.whl"))
    assert len(wheels) == 1, (sorted(p.name for p in tmp_path.iterdir()), build.stderr[-2000:])
    unpacked = tmp_path / "wheel"
    with zipfile.ZipFile(wheels[0]) as zf:
        zf.extractall(unpacked)
    assert (unpacked / "josev" / "_exi.abi3.so").is_file()
    if not CORPUS.is_file():
        pytest.skip(f"built {wheels[0].name}; no EXI corpus at {CORPUS} for the round trip")
    roundtrip = ROOT / "scripts" / "dist_roundtrip.py"

    def digest(pythonpath: Path | None) -> str:
        env2 = dict(os.environ)
        if pythonpath is not None:
            env2["PYTHONPATH"] = str(pythonpath)
            code = (
                "import sys, runpy, josev._exi as m; "
                f"assert m.__file__.startswith({str(pythonpath)!r}), m.__file__; "
                f"sys.argv = ['rt', {str(CORPUS)!r}]; runpy.run_path({str(roundtrip)!r}, run_name='__main__')"
            )
            cmd = [sys.executable, "-c", code]
        else:
            cmd = [sys.executable, str(roundtrip), str(CORPUS)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env2, cwd=tmp_path)
        assert out.returncode == 0, out.stdout[-1000:] + out.stderr[-2000:]
        assert " 0 failed" in out.stdout, out.stdout
        return out.stdout.strip().rsplit("decoded sha256 ", 1)[1]

    assert digest(unpacked) == digest(None)
