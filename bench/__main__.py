"""Run every benchmark (``bench/*.py`` with a ``main()``), or the ones named: ``python -m bench bus exi``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    wanted = [n for n in names if not argv or any(n.startswith(a) for a in argv)]
    failed = []
    for name in wanted:
        mod = importlib.import_module(f"bench.{name}")
        if not hasattr(mod, "main"):
            continue
        print(f"\n=== bench/{name}.py ===", flush=True)
        t0 = time.perf_counter()
        try:
            mod.main()
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"--- {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
