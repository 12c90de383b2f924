"""A station process for kill -9 tests: runs an OcppClient and takes station inputs on stdin.

Commands (one per line): ``plug <evse> <0|1>``, ``token <evse> <id>``, ``charge <evse> <state>``,
``meter <evse> <Wh>``. Prints ``ok <n>`` after each command has been applied (and persisted).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from josev.ocpp.config import OcppConfig
from josev.ocpp.connection import OcppClient


async def main(cfg_path: str) -> None:
    cfg = OcppConfig.model_validate(json.loads(Path(cfg_path).read_text()))  # noqa: ASYNC240
    client = OcppClient(cfg)
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    loop = asyncio.get_running_loop()
    n = 0
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        cmd, *args = line.split()
        st = client.station
        if cmd == "plug":
            await client.feed(st.plug, int(args[0]), 1, args[1] == "1")
        elif cmd == "token":
            await client.feed(st.present_token, int(args[0]), {"idToken": args[1], "type": "ISO14443"})
        elif cmd == "charge":
            await client.feed(st.charging_state, int(args[0]), args[1])
        elif cmd == "meter":
            await client.feed(st.meter, int(args[0]), {"Energy.Active.Import.Register": float(args[1])})
        n += 1
        print(f"ok {n}", flush=True)
    stop.set()
    await task


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
