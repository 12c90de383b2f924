"""Footprint per board architecture, in the Debian roots of ``make dist-test`` (``bench/footprint.py --boards``).

For each architecture whose root is cached (``/var/cache/josev-roots/trixie-ARCH``; ``scripts/dist-test.sh
ARCH`` builds it, amd64 included as the native reference) and whose wheel is in ``dist/`` (``make dist``):

* the artifacts' sizes: the cross-built wheel, the ``.deb`` (file, and its ``Installed-Size``) and the bundle
  (``tar.gz``, and unpacked), as ``make dist-test`` last left them in ``dist/``;
* the board install (``scripts/board_install.py --system-site-packages``, run in the root by the root's Python
  from the cross-built wheel): the venv (stripped, bytecode only), plus the Debian packages it uses instead of
  building them (``python3-cryptography`` on the system OpenSSL, cffi, cbor2, rpds-py, libgpiod's bindings),
  counted by their ``Installed-Size``. Both are "besides Python": Debian's python3.13 and its standard
  library are not counted;
* ``josev run`` from that board install on the simulator board (the services ``bench/footprint.py`` measures on
  the host, 1 EVSE): time until every service is ready (seen from the host on the root's broker) and the peak
  RSS/PSS of its process tree, sampled from the host's ``/proc``.

Under qemu-user (armhf, arm64) each guest process is a qemu process for the kernel: its RSS is the guest's
touched pages *plus* qemu's own (the translator, the cache of translated code, its heap and page tables of the
guest), so it is an upper bound, not comparable with a native figure; the breakdown printed separates the
file-backed pages of the guest's own files (interpreter, libraries, native modules) from the rest. i386 and
amd64 run natively: their figures are the real ones (i386 is 32-bit like armv7, amd64 64-bit like aarch64).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tarfile
import threading
import time
from pathlib import Path

from bench.footprint import MB, ROOT, Peak, _toml, _wait_ready, sample_until, station_data, tree

ROOTS = Path(os.environ.get("JOSEV_ROOTS", "/var/cache/josev-roots"))
SUITE = "trixie"
ARCHES = ("armhf", "arm64", "i386", "amd64")
WHEEL_ARCH = {"armhf": "armv7l", "arm64": "aarch64", "i386": "i686", "amd64": "x86_64"}
EMULATED = {"armhf": "qemu-arm", "arm64": "qemu-aarch64"}
#: Debian's builds that the board install uses (PyPI lacks wheels of some for armv7/i686), and strip for it
DEBIAN = ("python3-cryptography", "python3-cffi", "python3-cbor2", "python3-rpds-py", "python3-libgpiod")
TOOLS = ("binutils",)
FP = "/tmp/footprint"


class Root:
    """A Debian root of ``scripts/dist-test.sh``, entered with chroot (as its ``in_root``)."""

    def __init__(self, arch: str) -> None:
        self.arch = arch
        self.path = ROOTS / f"{SUITE}-{arch}"
        self.mounts: list[Path] = []

    def __enter__(self) -> Root:
        shutil.copy(Path("/etc/resolv.conf").resolve(), self.path / "etc" / "resolv.conf")
        ca = (
            os.environ.get("PIP_CERT")
            or os.environ.get("SSL_CERT_FILE")
            or "/etc/ssl/certs/ca-certificates.crt"
        )
        shutil.copy(Path(ca).resolve(), self.path / "etc" / "ssl" / "host-ca.crt")
        for sub, how in (
            ("proc", ["-t", "proc", "proc"]),
            ("dev", ["--bind", "/dev"]),
            ("dev/pts", ["--bind", "/dev/pts"]),
        ):
            where = self.path / sub
            if subprocess.run(["mountpoint", "-q", str(where)]).returncode != 0:
                subprocess.run(["mount", *how, str(where)], check=True)
                self.mounts.append(where)
        return self

    def __exit__(self, *exc: object) -> None:
        for where in reversed(self.mounts):
            subprocess.run(["umount", str(where)], check=False)

    def command(self, *cmd: str) -> list[str]:
        pre = ["setarch", "i686"] if self.arch == "i386" else []
        env = [
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/root",
            "LANG=C.UTF-8",
            "PIP_CERT=/etc/ssl/host-ca.crt",
            "PIP_DISABLE_PIP_VERSION_CHECK=1",
            "PIP_CACHE_DIR=/var/cache/pip",
            "CBOR2_BUILD_C_EXTENSION=0",
        ]
        if self.arch == "arm64":  # qemu-aarch64 as a Cortex-A53, as scripts/dist-test.sh (docs/deployment.md)
            pre = ["env", "QEMU_CPU=cortex-a53"]
            env.append("QEMU_CPU=cortex-a53")
        return [*pre, "chroot", str(self.path), "/usr/bin/env", "-i", *env, *cmd]

    def run(self, *cmd: str, timeout: float = 1800) -> str:
        out = subprocess.run(self.command(*cmd), capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"{self.arch}: {' '.join(cmd)} exited {out.returncode}: {out.stderr[-1500:]}")
        return out.stdout


# ---------------------------------------------------------------------------------------------- sizes


def artifacts(arch: str) -> dict[str, object]:
    """Sizes of the wheel, .deb and bundle of ``arch`` in dist/ (None where not built)."""
    dist = ROOT / "dist"
    wheel = next(iter(sorted(dist.glob(f"josev-*_{WHEEL_ARCH[arch]}.whl"))), None)
    deb = next(iter(sorted(dist.glob(f"josev_*_{arch}.deb"))), None)
    bundle = dist / f"josev-bundle-{arch}.tar.gz"
    out: dict[str, object] = {"wheel": wheel, "wheel_bytes": wheel.stat().st_size if wheel else None}
    out["deb_bytes"] = deb.stat().st_size if deb else None
    if deb:
        kb = subprocess.run(["dpkg-deb", "-f", str(deb), "Installed-Size"], capture_output=True, text=True)
        out["deb_installed_bytes"] = int(kb.stdout.strip()) * 1024 if kb.returncode == 0 else None
    out["bundle_bytes"] = bundle.stat().st_size if bundle.is_file() else None
    if bundle.is_file():
        with tarfile.open(bundle) as tf:
            out["bundle_unpacked_bytes"] = sum(m.size for m in tf.getmembers() if m.isfile())
    return out


def board_install(root: Root, wheel: Path) -> dict[str, object]:
    """``scripts/board_install.py --system-site-packages`` in the root from ``wheel``; its figures plus the
    Debian packages it uses (by Installed-Size)."""
    missing = [p for p in (*DEBIAN, *TOOLS) if "ok installed" not in _status(root, p)]
    if missing:
        root.run(
            "sh",
            "-c",
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
            f"--no-install-recommends {' '.join(missing)} >/dev/null",
        )
    where = root.path / FP.lstrip("/")
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "board_install.py", where)
    shutil.copy(wheel, where)
    if not (
        root.path / "opt/josev-wheel/bin/pip"
    ).exists():  # pip to run the installer with (dist-test's venv)
        root.run("python3", "-m", "venv", "--system-site-packages", "/opt/josev-wheel")
    t0 = time.monotonic()
    out = root.run(
        "/opt/josev-wheel/bin/python",
        f"{FP}/board_install.py",
        "--prefix",
        f"{FP}/board",
        "--wheel",
        f"{FP}/{wheel.name}",
        "--python",
        "/usr/bin/python3",
        "--system-site-packages",
        "--json",
    )
    figures: dict[str, object] = json.loads(out)
    figures["seconds"] = time.monotonic() - t0
    outside = figures.get("outside")
    assert isinstance(outside, dict)
    owners: set[str] = set()
    for path in outside.values():
        found = subprocess.run(root.command("dpkg", "-S", path), capture_output=True, text=True)
        if found.returncode == 0:
            owners.add(found.stdout.split(":", 1)[0].strip())
    owners = _with_python_depends(root, owners)
    sizes = {p: _installed_size(root, p) for p in sorted(owners)}
    figures["debian_packages"] = sizes
    figures["debian_bytes"] = sum(sizes.values())
    figures["python"] = root.run("python3", "--version").strip()
    return figures


def _with_python_depends(root: Root, packages: set[str]) -> set[str]:
    """``packages`` and the installed ``python3-*`` packages they depend on in Debian (e.g. python3-bcrypt and
    python3-cffi-backend, through its virtual python3-cffi-backend-api-*, under python3-cryptography),
    recursively; not python3 itself."""
    provider: dict[str, str] = {}
    for line in root.run("dpkg-query", "-W", "-f=${Package} ${Status}|${Provides}\n").splitlines():
        head, _, provides = line.partition("|")
        if "ok installed" not in head:
            continue
        name = head.split()[0]
        provider[name] = name
        for virtual in provides.split(","):
            provider.setdefault(virtual.split("(")[0].split(":")[0].strip(), name)
    todo, seen = list(packages), set(packages)
    while todo:
        depends = root.run("dpkg-query", "-W", "-f=${Depends}", todo.pop())
        for alt in depends.split(","):
            wanted = alt.split("|")[0].split("(")[0].split(":")[0].strip()
            name = provider.get(wanted, "")
            if name.startswith("python3-") and name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def _status(root: Root, package: str) -> str:
    out = subprocess.run(
        root.command("dpkg-query", "-W", "-f=${Status}", package), capture_output=True, text=True
    )
    return out.stdout


def _installed_size(root: Root, package: str) -> int:
    return int(root.run("dpkg-query", "-W", "-f=${Installed-Size}", package).strip() or 0) * 1024


# ---------------------------------------------------------------------------------------------- memory


def breakdown(pids: set[int], root: Path) -> dict[str, int]:
    """RSS of ``pids`` by mapping: the root's files (the guest's own binaries), qemu's binary, the rest."""
    out = {"guest_files": 0, "qemu_binary": 0, "other": 0}
    for pid in pids:
        kind = "other"
        with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps") as fh:
            for line in fh:
                head = line.split()
                if not head:
                    continue
                if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                    path = head[5] if len(head) > 5 else ""
                    if path.startswith(str(root)):
                        kind = "guest_files"
                    elif "qemu" in path:
                        kind = "qemu_binary"
                    else:
                        kind = "other"
                elif head[0] == "Rss:":
                    out[kind] += int(head[1]) * 1024
    return out


def run_station(root: Root, services: list[str], settle: float) -> dict[str, object]:
    """``josev run`` of the board install on the simulator board (1 EVSE): ready time and peak memory."""
    from josev.broker.run import free_port_pair

    port = free_port_pair()
    guest = Path(FP) / "run"
    host = root.path / str(guest).lstrip("/")
    shutil.rmtree(host, ignore_errors=True)
    host.mkdir(parents=True)
    (host / "station.toml").write_text(_toml(station_data(1, guest, port, services)))
    t0 = time.monotonic()
    proc = subprocess.Popen(
        root.command(f"{FP}/board/bin/josev", "run", "--config", str(guest / "station.toml")),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak, stop = Peak(), threading.Event()
    sampler = threading.Thread(target=sample_until, args=(proc.pid, stop, peak, 0.1), daemon=True)
    sampler.start()
    parts: dict[str, int] = {}
    try:
        ready = asyncio.run(_wait_ready(host / "broker" / "credentials", port, services, t0, timeout=300.0))
        time.sleep(settle)
        parts = breakdown(tree(proc.pid), root.path)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        stop.set()
        sampler.join()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    return {"peak": peak, "ready_s": ready, "rc": proc.returncode, "stderr": err[-1500:], "parts": parts}


# ---------------------------------------------------------------------------------------------- report


def _mb(v: object) -> str:
    return f"{v / MB:.1f}" if isinstance(v, int) else "-"


def main(arches: list[str], settle: float, services: list[str]) -> int:
    """Measure and print the per-architecture figures; 1 if an architecture could not be measured."""
    if os.geteuid() != 0:
        print("--boards needs root (chroot into the Debian roots of make dist-test)")
        return 1
    rows: list[tuple[str, dict[str, object], dict[str, object] | None, dict[str, object] | None]] = []
    rc = 0
    print(f"boards: josev run with services {', '.join(services)}, 1 EVSE, simulator board; roots in {ROOTS}")
    for arch in arches:
        sizes = artifacts(arch)
        wheel = sizes["wheel"]
        root = Root(arch)
        if not isinstance(wheel, Path) or not (root.path / "usr/bin/python3").exists():
            why = "no wheel in dist/ (make dist)" if not isinstance(wheel, Path) else f"no root {root.path}"
            print(f"  {arch}: skipped, {why} (scripts/dist-test.sh {arch} builds the root)")
            rows.append((arch, sizes, None, None))
            continue
        how = f"under {EMULATED[arch]} (qemu-user)" if arch in EMULATED else "natively"
        with root:
            try:
                board = board_install(root, wheel)
            except (RuntimeError, subprocess.SubprocessError) as exc:
                print(f"  {arch}: board install failed: {exc}")
                rows.append((arch, sizes, None, None))
                rc = 1
                continue
            print(
                f"  {arch} ({board['python']}, {how}): board install {_mb(board['bytes'])} MB + Debian packages "
                f"{_mb(board['debian_bytes'])} MB {board['debian_packages']} in {board['seconds']:.0f} s"
            )
            run = run_station(root, services, settle)
        peak = run["peak"]
        assert isinstance(peak, Peak)
        ready = run["ready_s"]
        parts = run["parts"]
        assert isinstance(parts, dict)
        print(
            f"  {arch}: josev run {how}: ready in "
            f"{f'{ready:.1f} s' if isinstance(ready, float) else 'NOT OBSERVED'}, peak RSS {peak.rss / MB:.1f} MB "
            f"(PSS {peak.pss / MB:.1f} MB) over {peak.processes} processes [{', '.join(sorted(peak.names))}]; "
            f"after start-up: {', '.join(f'{k} {v / MB:.1f} MB' for k, v in parts.items())}; exit {run['rc']}"
        )
        if not isinstance(ready, float):
            print(f"    stderr: {run['stderr']}")
            rc = 1
        rows.append((arch, sizes, board, run))
    print(
        "\narch   | wheel MB | .deb MB (installed) | bundle MB tar.gz / unpacked | board install MB: venv + Debian"
        " pkgs = besides Python | josev run: ready s, peak RSS MB (PSS) | how"
    )
    for arch, sizes, done, result in rows:
        deb = f"{_mb(sizes.get('deb_bytes'))} ({_mb(sizes.get('deb_installed_bytes'))})"
        bundle = f"{_mb(sizes.get('bundle_bytes'))} / {_mb(sizes.get('bundle_unpacked_bytes'))}"
        if done is not None:
            venv, debs = done["bytes"], done["debian_bytes"]
            assert isinstance(venv, int) and isinstance(debs, int)
            inst = f"{_mb(venv)} + {_mb(debs)} = {_mb(venv + debs)}"
        else:
            inst = "-"
        mem, how = "-", "-"
        if result is not None:
            peak, ready = result["peak"], result["ready_s"]
            assert isinstance(peak, Peak)
            r = f"{ready:.1f}" if isinstance(ready, float) else "-"
            mem = f"{r} s, {peak.rss / MB:.1f} ({peak.pss / MB:.1f})"
            how = "qemu-user: RSS of the qemu processes, not comparable" if arch in EMULATED else "native"
        print(
            f"{arch:<6} | {_mb(sizes.get('wheel_bytes')):>8} | {deb:>19} | {bundle:>27} | {inst:>40} | {mem:>24} | {how}"
        )
    return rc


def wanted(spec: str) -> list[str]:
    """The architectures of ``--boards`` (``all`` or a comma-separated list)."""
    names = list(ARCHES) if spec in ("", "all") else [a.strip() for a in spec.split(",") if a.strip()]
    bad = [a for a in names if a not in ARCHES]
    if bad:
        raise SystemExit(f"--boards: unknown architecture(s) {', '.join(bad)}; known: {', '.join(ARCHES)}")
    return names
