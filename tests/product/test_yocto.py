"""Sanity of the Yocto layer without bitbake: the recipe's syntax (assignments, continuations, shell function
braces), the variables a maturin/systemd recipe needs, and that everything it references exists."""

from __future__ import annotations

import hashlib
import re
import subprocess
import tomllib
from pathlib import Path

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


def test_layer_conf() -> None:
    variables, _ = parse_bb(LAYER / "conf" / "layer.conf")
    assert variables["BBFILE_COLLECTIONS"].strip() == "josev"
    assert "${LAYERDIR}/recipes-*/*/*.bb" in variables["BBFILES"]
    assert "meta-python" in variables["LAYERDEPENDS_josev"]
    assert variables["LAYERSERIES_COMPAT_josev"].split()


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
    # every runtime dependency of the package is a runtime dependency of the recipe (Yocto's python3-typer
    # stands for typer-slim: the same project and import name)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = [re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0].lower() for d in pyproject["project"]["dependencies"]]
    assert len(deps) >= 10
    for dep in (d.replace("typer-slim", "typer") for d in deps):
        assert f"python3-{dep}" in rdepends, dep
    # and so is every dependency of the board extras (gpiod: the Charge Control C driver needs it)
    board = [
        re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0].lower()
        for d in pyproject["project"]["optional-dependencies"]["board"]
    ]
    assert "gpiod" in board
    for dep in board:
        assert f"python3-{dep}" in rdepends, dep
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
    assert "josev.service" in variables["SYSTEMD_SERVICE:${PN}"]


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
