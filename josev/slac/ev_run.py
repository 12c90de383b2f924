"""EV-side SLAC over a raw socket: ``python -m josev.slac.ev_run --iface IF`` matches and prints JSON.

Exit status 0 when matched (the JSON carries the NMK/NID received), 1 when matching failed or timed out.
Used by the integration tests (run inside the EV's network namespace) and handy against a real EVSE.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys

from josev.slac.driver import CoreDriver
from josev.slac.ev import EvSlac, EvSlacConfig, Validate
from josev.slac.events import SlacEvent, SlacStatus, StatusChanged, ToggleRequest
from josev.slac.rawsocket import RawSocket


async def match(ifname: str, validate: Validate, limit_s: float, pev_id: bytes) -> dict[str, object]:
    """Run one matching on ``ifname``; the result as a dict."""
    sock = RawSocket(ifname)
    core = EvSlac(EvSlacConfig(mac=sock.mac, pev_id=pev_id, validate=validate))
    done = asyncio.Event()
    result: dict[str, object] = {"status": "timeout", "mac": sock.mac.hex(":")}

    def on_event(ev: SlacEvent) -> None:
        if isinstance(ev, StatusChanged) and ev.status in (SlacStatus.MATCHED, SlacStatus.FAILED):
            result["status"] = ev.status.value
            result["reason"] = ev.reason
            done.set()
        if isinstance(ev, ToggleRequest):
            result["toggle_request"] = ev.count

    driver = CoreDriver(core, sock, on_event)
    stop = asyncio.Event()
    task = asyncio.create_task(driver.run(stop))
    await driver.apply(core.probe_modem(driver.now()))
    await asyncio.sleep(0.1)
    await driver.apply(core.start(driver.now()))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), limit_s)
    stop.set()
    await task
    result.update(
        vendor=core.modem.vendor.value if core.modem.vendor else None,
        nmk=core.nmk.hex() if core.nmk else None,
        nid=core.nid.hex() if core.nid else None,
        evse_mac=core.chosen.mac.hex(":") if core.chosen else None,
        counters=dict(core.counters),
    )
    return result


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--iface", required=True)
    ap.add_argument("--validate", default="never", choices=[v.value for v in Validate])
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--pev-id", default="JOSEVEVSIMULATOR0")
    args = ap.parse_args(argv)
    pev_id = args.pev_id.encode()[:17].ljust(17, b"\x00")
    res = asyncio.run(match(args.iface, Validate(args.validate), args.timeout, pev_id))
    print(json.dumps(res), flush=True)
    sys.exit(0 if res["status"] == "matched" else 1)


if __name__ == "__main__":  # pragma: no cover
    main()
