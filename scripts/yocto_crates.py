"""Write recipes-yocto/meta-josev/recipes-josev/josev/josev-crates.inc from Cargo.lock.

The same content as `bitbake -c update_crates josev` (poky's cargo-update-recipe-crates) writes: one
`crate://crates.io/<name>/<version>` SRC_URI entry and its sha256 per registry crate of the lock file, so that
bitbake fetches the crates and cargo builds offline. Without a build of python3-native, which update_crates
needs. Usage: python3 scripts/yocto_crates.py [--check]   (--check: exit 1 when the committed file is stale)
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "Cargo.lock"
INC = ROOT / "recipes-yocto" / "meta-josev" / "recipes-josev" / "josev" / "josev-crates.inc"
REGISTRY = "registry+https://github.com/rust-lang/crates.io-index"


def render(lock_text: str) -> str:
    lock = tomllib.loads(lock_text)
    crates = sorted(
        (p["name"], p["version"], p["checksum"]) for p in lock["package"] if p.get("source") == REGISTRY
    )
    lines = [
        "# Generated from Cargo.lock by scripts/yocto_crates.py (the output of `bitbake -c update_crates josev`):",
        "# the Rust crates of exi-codec-rs, fetched by bitbake so that cargo builds offline.",
        "# Regenerate after every Cargo.lock change: python3 scripts/yocto_crates.py",
        "",
        "# from Cargo.lock",
        'SRC_URI += "\\',
    ]
    lines += [f"    crate://crates.io/{name}/{version} \\" for name, version, _ in crates]
    lines.append('"')
    lines.append("")
    lines += [f'SRC_URI[{name}-{version}.sha256sum] = "{checksum}"' for name, version, checksum in crates]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = render(LOCK.read_text())
    if argv == ["--check"]:
        if INC.read_text() != text:
            print(f"{INC.relative_to(ROOT)} is stale: run python3 scripts/yocto_crates.py", file=sys.stderr)
            return 1
        return 0
    INC.write_text(text)
    print(f"wrote {INC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
