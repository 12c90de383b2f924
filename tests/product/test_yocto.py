"""Sanity of the Yocto layer without bitbake: the recipe's syntax (assignments, continuations, shell function
braces), the variables a maturin/systemd recipe needs, and that everything it references exists."""

from __future__ import annotations

import hashlib
import re
import subprocess
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from packaging.requirements import Requirement
from packaging.version import Version

from josev.config import SERVICE_NAMES
from tests.conftest import ROOT

LAYER = ROOT / "recipes-yocto" / "meta-josev"
RECIPE = LAYER / "recipes-josev" / "josev" / "josev_git.bb"
ASSIGN = re.compile(
    r"^(?P<name>[A-Za-z0-9_\-${}:.\[\]]+)\s*(?P<op>\?\?=|\?=|:=|\+=|=\+|\.=|=\.|=)\s*(?P<value>.*)$"
)


def parse_bb(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(variables, shell functions) of a BitBake file; raises AssertionError on a line it cannot parse."""
    variables: dict[str, str] = {}
    functions: dict[str, str] = {}
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith(("inherit ", "require ", "include ")):
            variables.setdefault(line.split()[0], "")
            variables[line.split()[0]] += " " + " ".join(line.split()[1:])
            continue
        if line.startswith("def "):  # a Python function: its indented body
            body = [line]
            while i < len(lines) and (lines[i].startswith((" ", "\t")) or not lines[i].strip()):
                body.append(lines[i])
                i += 1
            functions[line[4:].split("(")[0]] = "\n".join(body)
            continue
        fn = re.match(r"^([A-Za-z0-9_:\-]+)\(\)\s*\{\s*$", line)
        if fn:
            body = []
            while i < len(lines) and lines[i] != "}":
                body.append(lines[i])
                i += 1
            assert i < len(lines), f"{path.name}: function {fn.group(1)} is not closed"
            i += 1
            functions[fn.group(1)] = "\n".join(body)
            continue
        m = ASSIGN.match(line)
        assert m, f"{path.name}: cannot parse line {i}: {line!r}"
        value = m.group("value")
        while value.endswith("\\"):
            assert i < len(lines), f"{path.name}: continuation at end of file"
            value = value[:-1] + " " + lines[i].strip()
            i += 1
        assert value.count('"') == 2 and value.startswith('"') and value.rstrip().endswith('"'), (
            f"{path.name}: value of {m.group('name')} must be one double-quoted string: {value!r}"
        )
        variables[m.group("name")] = value.strip()[1:-1]
    return variables, functions


def runtime_requirements() -> list[Requirement]:
    """pyproject's runtime dependencies and those of the `board` extra (gpiod), if it has one."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + list(project.get("optional-dependencies", {}).get("board", []))
    return [Requirement(r) for r in reqs]


def recipe_name(req: Requirement) -> str:
    """The Yocto recipe / package of a PyPI requirement (python3-<name>)."""
    return "python3-" + req.name.lower().replace("_", "-")


def test_layer_conf() -> None:
    variables, _ = parse_bb(LAYER / "conf" / "layer.conf")
    assert variables["BBFILE_COLLECTIONS"].strip() == "josev"
    assert "${LAYERDIR}/recipes-*/*/*.bb" in variables["BBFILES"]
    assert "meta-python" in variables["LAYERDEPENDS_josev"]
    assert variables["LAYERSERIES_COMPAT_josev"].split()
    assert variables["FEATURE_PACKAGES_josev"] == "josev"  # IMAGE_FEATURES += "josev"


def test_recipe_variables_and_references() -> None:
    variables, functions = parse_bb(RECIPE)
    for name in (
        "SUMMARY",
        "LICENSE",
        "LIC_FILES_CHKSUM",
        "SRC_URI",
        "SRCREV",
        "S",
        "RDEPENDS:${PN}",
        "SYSTEMD_SERVICE:${PN}",
        "USERADD_PARAM:${PN}",
    ):
        assert variables.get(name), f"{name} missing"
    inherits = variables["inherit"].split()
    assert {"python_maturin", "systemd", "useradd"} <= set(inherits)
    rdepends = variables["RDEPENDS:${PN}"].split()
    assert "mosquitto" in rdepends
    # every runtime dependency of the package (and of the board extra) is a runtime dependency of the recipe
    assert len(runtime_requirements()) >= 10
    for req in runtime_requirements():
        assert recipe_name(req) in rdepends, req
    # the license checksum matches the line of pyproject.toml it names
    m = re.match(
        r"file://([^;]+);beginline=(\d+);endline=(\d+);md5=([0-9a-f]{32})", variables["LIC_FILES_CHKSUM"]
    )
    assert m
    lines = (ROOT / m.group(1)).read_text().splitlines(keepends=True)
    chunk = "".join(lines[int(m.group(2)) - 1 : int(m.group(3))])
    assert "Apache-2.0" in chunk and variables["LICENSE"] == "Apache-2.0"
    assert hashlib.md5(chunk.encode()).hexdigest() == m.group(4)
    # the Cargo manifest of the native module
    assert (ROOT / variables["CARGO_SRC_DIR"] / "Cargo.toml").is_file()
    assert (RECIPE.parent / variables["require"].strip()).is_file()
    # every unit and file do_install uses is shipped in the package data
    body = functions["do_install:append"]
    assert "${S}/josev/data/systemd" in body
    units = ROOT / "josev" / "data" / "systemd"
    assert (units / "station.toml").is_file() and (units / "josev.target").is_file()
    for svc in variables["JOSEV_SERVICES"].split():
        assert svc in SERVICE_NAMES and (units / f"josev-{svc}.service").is_file()
    for placeholder in ("@JOSEV@", "@MOSQUITTO@", "@WANTS@", "@BROKER_MANAGE@", "@MODE_NOTE@"):
        assert placeholder in body, f"do_install does not replace {placeholder}"
    assert variables["SYSTEMD_SERVICE:${PN}"] == "josev.target ${@josev_units(d)}"
    namespace: dict[str, Any] = {}
    exec(functions["josev_units"], namespace)
    for mode, units_of_mode in (
        ("all-in-one", "josev.service"),
        ("per-service", " ".join(["josev-broker.service", *(f"josev-{s}.service" for s in SERVICE_NAMES)])),
    ):
        fake_d = {"JOSEV_MODE": mode, "JOSEV_SERVICES": " ".join(SERVICE_NAMES)}
        assert namespace["josev_units"](SimpleNamespace(getVar=fake_d.get)) == units_of_mode


def test_do_install_shell_is_valid_and_installs_the_units(tmp_path: Path) -> None:
    """Run the recipe's do_install:append with sh, bitbake variables substituted, into a temporary ${D}."""
    variables, functions = parse_bb(RECIPE)
    for mode, expect in (
        ("all-in-one", {"josev.service", "josev.target"}),
        (
            "per-service",
            {"josev-broker.service", "josev.target", *(f"josev-{s}.service" for s in SERVICE_NAMES)},
        ),
    ):
        d = tmp_path / mode
        values = {
            "S": str(ROOT),
            "D": str(d),
            "systemd_system_unitdir": "/usr/lib/systemd/system",
            "sysconfdir": "/etc",
            "bindir": "/usr/bin",
            "sbindir": "/usr/sbin",
            "JOSEV_MODE": mode,
            "JOSEV_SERVICES": variables["JOSEV_SERVICES"],
            "JOSEV_REALTIME_PRIORITY": "",
        }
        script = re.sub(
            r"\$\{([A-Za-z_]+)\}",
            lambda m, v=values: v.get(m.group(1), m.group(0)),  # type: ignore[misc]
            functions["do_install:append"],
        )
        assert "${" not in script.replace("$(", ""), script
        out = subprocess.run(["sh", "-e", "-c", script], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        installed = {p.name for p in (d / "usr/lib/systemd/system").iterdir()}
        assert installed == expect
        target = (d / "usr/lib/systemd/system/josev.target").read_text()
        assert "@" not in target.replace("multi-user", "")
        assert set(re.search(r"^Wants=(.*)$", target, re.M).group(1).split()) == expect - {"josev.target"}  # type: ignore[union-attr]
        from josev import config

        cfg = config.load(d / "etc/josev/station.toml")
        assert cfg.broker.manage is (mode == "all-in-one")


def test_readme_explains_adding_the_layer() -> None:
    text = (ROOT / "recipes-yocto" / "README.md").read_text()
    assert "bitbake-layers add-layer" in text and "IMAGE_INSTALL" in text and "update_crates" in text


# Versions in Yocto scarthgap (5.0 LTS) of the runtime dependencies josev takes from oe-core / meta-python
# (poky 1d54d1c, meta-openembedded bec7550, as in ../shared/yocto; checked by scripts/yocto-check.sh).
SCARTHGAP = {
    "python3-pydantic": "2.7.4",
    "python3-click": "8.1.7",
    "python3-websockets": "12.0",
    "python3-pyserial": "3.5",
    "python3-cryptography": "42.0.5",
    "python3-cbor2": "5.6.4",
    "python3-pymodbus": "3.6.7",
    "python3-jsonschema": "4.21.1",
    "python3-gpiod": "2.1.3",
}


def layer_recipes() -> dict[str, tuple[str, Path]]:
    """{recipe name: (version, file)} of the recipes in our layer with a version in their file name."""
    found = {}
    for bb in LAYER.glob("recipes-*/*/*_*.bb"):
        name, version = bb.stem.rsplit("_", 1)
        found[name] = (version, bb)
    return found


def test_every_python_dependency_has_a_recipe_of_a_version_pyproject_accepts() -> None:
    """Each runtime requirement is met either by scarthgap's version or by a recipe of this layer (no release
    has ocpp or pydantic-settings; typer-slim is in none; scarthgap's paho-mqtt is 2.0), with a pinned
    sdist checksum and a license checksum."""
    ours = layer_recipes()
    for req in runtime_requirements():
        name = recipe_name(req)
        if name in ours:
            version, bb = ours[name]
            variables, _ = parse_bb(bb)
            assert re.fullmatch(r"[0-9a-f]{64}", variables["SRC_URI[sha256sum]"]), bb.name
            assert "md5=" in variables["LIC_FILES_CHKSUM"] and variables["LICENSE"], bb.name
            assert "pypi" in variables["inherit"].split(), bb.name
        else:
            assert name in SCARTHGAP, f"{req}: neither in scarthgap nor a recipe of meta-josev"
            version = SCARTHGAP[name]
        assert req.specifier.contains(Version(version), prereleases=False), (
            f"{req}: the layer's {name} is {version}, which pyproject does not accept"
        )
    # pydantic-settings needs python-dotenv, which meta-python scarthgap lacks too
    variables, _ = parse_bb(ours["python3-pydantic-settings"][1])
    assert "python3-dotenv" in variables["RDEPENDS:${PN}"].split() and "python3-dotenv" in ours


def test_recipe_unpacks_where_styhead_and_scarthgap_put_the_sources() -> None:
    variables, _ = parse_bb(RECIPE)
    assert variables["UNPACKDIR"] == "${WORKDIR}"  # a ??= default: styhead+ define UNPACKDIR themselves
    assert variables["S"] == "${UNPACKDIR}/git"
    assert re.search(r"^UNPACKDIR \?\?= ", RECIPE.read_text(), re.M)


def test_native_build_works_with_scarthgaps_rust_and_maturin() -> None:
    """scarthgap ships cargo/rustc 1.75 and maturin 1.4: Cargo.lock must be a format cargo 1.75 reads
    (version 3; version 4 needs cargo 1.78), every locked crate must declare no newer Rust nor edition 2024,
    and pyproject's build requirement must admit maturin 1.4."""
    lock = tomllib.loads((ROOT / "Cargo.lock").read_text())
    assert lock["version"] <= 3
    build = [
        Requirement(r)
        for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    ]
    maturin = next(r for r in build if r.name == "maturin")
    assert maturin.specifier.contains("1.4.0"), maturin
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--offline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert meta.returncode == 0, meta.stderr
    import json

    for pkg in json.loads(meta.stdout)["packages"]:
        assert pkg["edition"] in ("2015", "2018", "2021"), (pkg["name"], pkg["edition"])
        if pkg.get("rust_version"):
            assert Version(pkg["rust_version"]) <= Version("1.75"), (pkg["name"], pkg["rust_version"])


def test_crates_inc_lists_every_locked_crate() -> None:
    out = subprocess.run(
        ["python3", "scripts/yocto_crates.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    text = (RECIPE.parent / "josev-crates.inc").read_text()
    lock = tomllib.loads((ROOT / "Cargo.lock").read_text())
    for pkg in lock["package"]:
        if pkg.get("source", "").startswith("registry+"):
            assert f"crate://crates.io/{pkg['name']}/{pkg['version']} " in text
            assert f'SRC_URI[{pkg["name"]}-{pkg["version"]}.sha256sum] = "{pkg["checksum"]}"' in text


DOT = """digraph depends {
"josev.do_build" [label="josev do_build\\n:0.1.0+git-r0\\n/c/layers/meta-josev/recipes-josev/josev/josev_git.bb"]
"josev.do_build" -> "josev.do_package_write_rpm"
"josev.do_build" -> "python3-ocpp.do_package_write_rpm"
"josev.do_compile" -> "cargo-native.do_populate_sysroot"
"python3-ocpp.do_build" [label="python3-ocpp do_build\\n:2.1.0-r0\\n/c/layers/meta-josev/recipes-python/python3-ocpp/python3-ocpp_2.1.0.bb"]
}
"""


def test_yocto_graph_reports_dependencies_and_what_is_missing(tmp_path: Path) -> None:
    dot = tmp_path / "task-depends.dot"
    dot.write_text(DOT)
    out = subprocess.run(
        ["python3", "scripts/yocto_graph.py", str(dot), "josev"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1  # mosquitto, gpiod, ... are not in this graph
    assert "josev 0.1.0+git-r0 (meta-josev)" in out.stdout
    assert re.search(r"python3-ocpp\s+2.1.0-r0\s+meta-josev", out.stdout)
    assert "build: cargo-native" in out.stdout
    assert "MISSING from the graph: mosquitto python3 python3-gpiod" in out.stderr


def test_recipe_realtime_priority_writes_what_josev_systemd_install_writes(tmp_path: Path) -> None:
    """``JOSEV_REALTIME_PRIORITY = "12"``: the recipe's units and station.toml say what ``josev systemd install
    --realtime 12`` writes (same units byte for byte, same scheduling lines)."""
    from josev.cli.systemd import install

    variables, functions = parse_bb(RECIPE)
    assert variables["JOSEV_REALTIME_PRIORITY"] == ""
    for mode in ("all-in-one", "per-service"):
        d = tmp_path / mode / "yocto"
        values = {
            "S": str(ROOT),
            "D": str(d),
            "systemd_system_unitdir": "/lib/systemd/system",
            "sysconfdir": "/etc",
            "bindir": "/usr/bin",
            "sbindir": "/usr/sbin",
            "JOSEV_MODE": mode,
            "JOSEV_SERVICES": variables["JOSEV_SERVICES"],
            "JOSEV_REALTIME_PRIORITY": "12",
        }
        script = re.sub(
            r"\$\{([A-Za-z_]+)\}",
            lambda m, v=values: v.get(m.group(1), m.group(0)),  # type: ignore[misc]
            functions["do_install:append"],
        )
        out = subprocess.run(["sh", "-e", "-c", script], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        ref = tmp_path / mode / "install"
        install(ref, mode, josev_bin="/usr/bin/josev", mosquitto="/usr/sbin/mosquitto", realtime=12)
        units = sorted(p.name for p in (ref / "lib/systemd/system").iterdir())
        assert units == sorted(p.name for p in (d / "lib/systemd/system").iterdir())
        for name in units:
            assert (d / "lib/systemd/system" / name).read_text() == (
                ref / "lib/systemd/system" / name
            ).read_text(), name
        sched = [
            [
                x
                for x in (root / "etc/josev/station.toml").read_text().splitlines()
                if "scheduling" in x or "realtime_p" in x
            ]
            for root in (d, ref)
        ]
        assert sched[0] == sched[1], sched
        assert sched[0][0].startswith('scheduling = "rr" ') and sched[0][1].startswith(
            "realtime_priority = 12 "
        )
