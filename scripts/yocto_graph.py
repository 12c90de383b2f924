"""Print and check a recipe's dependencies in the task graph of `bitbake -g` (task-depends.dot).

Usage: python3 scripts/yocto_graph.py task-depends.dot [RECIPE]   (default RECIPE: josev)

Prints the recipes RECIPE depends on directly, with version and layer, split into build-time (native tools,
cross toolchain) and run-time (RDEPENDS, whose packages are written by do_package_write_*), and exits 1 when
one of the recipes josev's RDEPENDS name is missing from the graph. Standard library only: it runs with the
host's python3 next to bitbake.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# Recipes that must be in josev's run-time graph: the broker, the board HAL's GPIO binding and the Python
# dependencies that meta-openembedded scarthgap lacks (this layer provides them).
REQUIRED = (
    "mosquitto",
    "python3",
    "python3-gpiod",
    "python3-ocpp",
    "python3-paho-mqtt",
    "python3-pydantic",
    "python3-pydantic-settings",
    "python3-dotenv",
    "python3-typer-slim",
    "python3-cryptography",
)

_NODE = re.compile(r'^"(?P<task>[^"]+)" \[label="(?P<label>[^"]*)"\]')
_EDGE = re.compile(r'^"(?P<src>[^"]+)" -> "(?P<dst>[^"]+)"')


def _recipe(task: str) -> str:
    return task.rsplit(".", 1)[0]


def parse(dot: str) -> tuple[dict[str, tuple[str, str]], dict[str, set[str]]]:
    """Return ({recipe: (version, recipe file)}, {recipe: {task of another recipe it depends on}})."""
    info: dict[str, tuple[str, str]] = {}
    edges: dict[str, set[str]] = {}
    for line in dot.splitlines():
        line = line.strip()
        node = _NODE.match(line)
        if node:
            parts = node["label"].split("\\n")
            version = parts[1].lstrip(":") if len(parts) > 1 else "?"
            path = parts[2] if len(parts) > 2 else "?"
            info.setdefault(_recipe(node["task"]), (version, path))
            continue
        edge = _EDGE.match(line)
        if edge and _recipe(edge["src"]) != _recipe(edge["dst"]):
            edges.setdefault(_recipe(edge["src"]), set()).add(edge["dst"])
    return info, edges


def _layer(path: str) -> str:
    parts = Path(path).parts
    for i, part in enumerate(parts):
        if part.startswith(("recipes-", "classes")) and i > 0:
            return parts[i - 1]
    return "?"


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    recipe = argv[1] if len(argv) > 1 else "josev"
    info, edges = parse(Path(argv[0]).read_text())
    if recipe not in info:
        print(f"{recipe}: not in the graph {argv[0]}", file=sys.stderr)
        return 1
    direct = edges.get(recipe, set())
    runtime = sorted({_recipe(t) for t in direct if ".do_package_write" in t or ".do_packagedata" in t})
    build = sorted({_recipe(t) for t in direct} - set(runtime))
    version, path = info[recipe]
    print(f"{recipe} {version} ({_layer(path)}): {len(info)} recipes in its graph")
    print(f"  build: {' '.join(build)}")
    print("  run time:")
    for dep in runtime:
        dep_version, dep_path = info.get(dep, ("?", "?"))
        print(f"    {dep:32} {dep_version:24} {_layer(dep_path)}")
    missing = [r for r in REQUIRED if r not in runtime and r not in info]
    if recipe == "josev" and missing:
        print(f"  MISSING from the graph: {' '.join(missing)}", file=sys.stderr)
        return 1
    python = sorted(r for r in info if r.startswith("python3-") and not r.endswith("-native"))
    print(f"  python3-* recipes in the graph ({len(python)}): {' '.join(python)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
