#!/usr/bin/env python3
"""Install josev the way it goes onto a board's root filesystem, and report what it weighs.

``pip install josev`` from PyPI wheels is the developer's install. A board image differs in three ways, each of
which is what the embedded build systems do by default:

1. **cryptography is linked against the system OpenSSL.** The PyPI wheel of ``cryptography`` carries its own
   static copy of OpenSSL (about 9 MB) although the Python interpreter on the board already links
   ``libssl``/``libcrypto`` for its ``ssl`` module. Yocto (oe-core's ``python3-cryptography``), Buildroot and
   Debian all build it from source against that shared OpenSSL; so does this script (``--no-binary
   cryptography``; it needs Rust, ``pkg-config`` and the OpenSSL headers, which ``scripts/setup.sh`` installs).
2. **Native modules are stripped** (``strip --strip-unneeded``), as Yocto's ``do_package`` and Buildroot do.
   Several PyPI wheels ship their extension modules with symbols or debug info.
3. **Python modules are installed as compiled bytecode only** (``.pyc`` in place of ``.py``), which is
   Buildroot's default (``BR2_PACKAGE_PYTHON3_PYC_ONLY``). The bytecode is compiled at optimisation level 0,
   so docstrings (the CLI's help texts) and asserts stay. Type stubs (``.pyi``) are left out.

The board extras (``josev[board]``: ``gpiod``, without which the Charge Control C driver cannot switch a
relay) are installed with it.

The result is a self-contained venv (``--without-pip``) under ``--prefix`` whose ``bin/josev`` runs the station.
The figure printed is every byte under the prefix; the Python interpreter and its standard library are
outside it (the venv links to them), which is what "besides Python itself" means.

Usage: ``python scripts/board_install.py --prefix DIR [--wheel josev-*.whl] [--python PY] [--system-site-packages]
[--json]`` (``--system-site-packages``: on a distribution that has them, its own builds of cryptography, cffi,
... are used instead of building them; they are listed, and count besides Python too)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024  # as in bench/: MB means MiB


def build_wheel(out: Path) -> Path:
    """Build the josev wheel with maturin (release profile) from this checkout."""
    maturin = Path(sys.executable).with_name("maturin")
    subprocess.run(
        [str(maturin), "build", "--release", "--out", str(out)],
        cwd=ROOT,
        check=True,
        timeout=1800,
        stdout=subprocess.DEVNULL,
    )
    wheels = sorted(out.glob("josev-*.whl"))
    if not wheels:
        raise RuntimeError("maturin produced no wheel")
    return wheels[-1]


def site_packages(prefix: Path) -> Path:
    found = sorted(prefix.glob("lib/python3*/site-packages"))
    if not found:
        raise RuntimeError(f"no site-packages under {prefix}")
    return found[0]


def is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def strip_native(site: Path) -> int:
    """Strip every ELF shared object under ``site``; return the bytes saved."""
    strip = shutil.which("strip")
    if strip is None:
        raise RuntimeError("'strip' (binutils) is required")
    saved = 0
    for so in sorted(site.rglob("*.so*")):
        if so.is_file() and not so.is_symlink() and is_elf(so):
            before = so.stat().st_size
            subprocess.run([strip, "--strip-unneeded", str(so)], check=True)
            saved += before - so.stat().st_size
    return saved


def bytecode_only(python: Path, site: Path) -> int:
    """Compile every module in place (``foo.py`` -> ``foo.pyc``), then drop sources, caches and stubs."""
    subprocess.run(
        [str(python), "-m", "compileall", "-q", "-b", "-j", "0", "-o", "0", str(site)],
        check=True,
        timeout=600,
    )
    removed = 0
    for cache in sorted(site.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    for path in sorted(site.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".pyi"):
            if path.suffix == ".py" and not path.with_suffix(".pyc").is_file():
                raise RuntimeError(f"{path} did not compile")
            removed += path.stat().st_size
            path.unlink()
    return removed


def tree_bytes(path: Path) -> int:
    """Bytes of every regular file under ``path`` (symlinks count as nothing: they point at Python itself)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def per_distribution(site: Path) -> dict[str, int]:
    """Bytes per top-level entry of site-packages (package directories, modules, dist-info)."""
    out: dict[str, int] = {}
    for entry in sorted(site.iterdir()):
        name = entry.name
        key = "(metadata)" if name.endswith(".dist-info") else name.split(".")[0]
        size = tree_bytes(entry) if entry.is_dir() else entry.stat().st_size
        out[key] = out.get(key, 0) + size
    return out


def size_table(sizes: dict[str, int], top: int = 12) -> str:
    """The ``top`` largest entries of ``sizes``, one indented line each, in MB."""
    rows = sorted(sizes.items(), key=lambda kv: -kv[1])[:top]
    return "\n".join(f"  {name:<26} {size / MB:6.2f} MB" for name, size in rows)


BOARD_EXTRAS = ("board",)
"""The pyproject extras a board needs besides the core (``board``: gpiod for the Charge Control C)."""


#: cryptography is built from its sdist here (against the system OpenSSL). Its Rust dependencies come from the
#: crate registry; cryptography 51 needs asn1 0.25, which the registry this project builds from does not serve
#: yet, so the build stays on the newest release whose crates it has. Raise this when the registry catches up.
CRYPTOGRAPHY_BUILDABLE = "cryptography<51"


def requirement(wheel: Path) -> str:
    """What pip installs: the wheel with the board extras (``josev-*.whl[board]``)."""
    return f"{wheel}[{','.join(BOARD_EXTRAS)}]"


_OUTSIDE = r"""
import importlib.metadata as md, json, re, sys
todo, seen, out = [("josev", set(sys.argv[1:]))], set(), {}
while todo:
    name, extras = todo.pop()
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in seen:
        continue
    seen.add(key)
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        continue  # not installed: a dependency whose marker excludes this platform
    if not str(dist.locate_file("")).startswith(sys.prefix):
        out[dist.metadata["Name"]] = str(getattr(dist, "_path", dist.locate_file("")))
    for req in dist.requires or []:
        spec, _, marker = req.partition(";")
        extra = re.search(r"extra\s*==\s*[\"']([^\"']+)", marker)
        if extra is None or extra.group(1) in extras:
            todo.append((re.split(r"[\s\[<>=!~(]", spec.strip(), maxsplit=1)[0], set()))
json.dump(out, sys.stdout)
"""


def outside_distributions(python: Path) -> dict[str, str]:
    """The dependencies of josev (with the board extras) that ``python`` (a venv's interpreter) imports from
    outside its venv: name -> metadata path."""
    out = subprocess.run(
        [str(python), "-c", _OUTSIDE, *BOARD_EXTRAS], check=True, capture_output=True, text=True, timeout=300
    )
    found: dict[str, str] = json.loads(out.stdout)
    return found


def install(
    prefix: Path, wheel: Path | None = None, python: Path | None = None, system_site_packages: bool = False
) -> dict[str, object]:
    """Build the board install under ``prefix`` (which must not exist yet) for the interpreter ``python``
    (default: the one running this); return its figures.

    ``system_site_packages``: the venv sees the distribution's Python packages, and pip installs only what they
    lack (a Debian board: its ``python3-cryptography`` is already built on the system OpenSSL, so nothing is
    built from source). Those packages are then part of the footprint besides Python: the figures list them
    (``outside``) for the caller to add up with the distribution's package manager."""
    if prefix.exists():
        raise RuntimeError(f"{prefix} exists; give a new directory")
    with tempfile.TemporaryDirectory(prefix="josev-wheel-") as tmp:
        if wheel is None:
            wheel = build_wheel(Path(tmp))
        base = str(python) if python else sys.executable
        venv = [base, "-m", "venv", "--without-pip", str(prefix)]
        if system_site_packages:
            venv.insert(3, "--system-site-packages")
        subprocess.run(venv, check=True, timeout=300)
        target = prefix / "bin" / "python"
        env = dict(os.environ, CARGO_PROFILE_RELEASE_STRIP="symbols")
        env["PATH"] = f"{Path.home() / '.cargo' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        from_source = [] if system_site_packages else ["--no-binary", "cryptography"]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(target),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                *from_source,
                requirement(wheel),
                CRYPTOGRAPHY_BUILDABLE,
            ],
            check=True,
            timeout=3600,
            env=env,
        )
    site = site_packages(prefix)
    as_installed = tree_bytes(prefix)
    stripped = strip_native(site)
    sources = bytecode_only(target, site)
    total = tree_bytes(prefix)
    return {
        "prefix": str(prefix),
        "wheel": wheel.name,
        "bytes": total,
        "bytes_before_bytecode_and_strip": as_installed,
        "stripped_bytes": stripped,
        "source_bytes_removed": sources,
        "per_package": per_distribution(site),
        "outside": outside_distributions(target) if system_site_packages else {},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--prefix", type=Path, required=True, help="new directory to install into")
    ap.add_argument("--wheel", type=Path, help="an already built josev wheel (default: build one)")
    ap.add_argument(
        "--python", type=Path, help="the board's Python 3.11+ interpreter (default: the one running this)"
    )
    ap.add_argument(
        "--system-site-packages",
        action="store_true",
        help="use the distribution's Python packages where they fit (e.g. Debian's cryptography) and list them",
    )
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    figures = install(args.prefix.resolve(), args.wheel, args.python, args.system_site_packages)
    if args.json:
        json.dump(figures, sys.stdout, indent=2)
        print()
        return 0
    total = figures["bytes"]
    per = figures["per_package"]
    assert isinstance(total, int) and isinstance(per, dict)
    print(f"board install at {figures['prefix']}: {total / MB:.1f} MB besides Python")
    print(size_table(per))
    return 0


if __name__ == "__main__":
    sys.exit(main())
