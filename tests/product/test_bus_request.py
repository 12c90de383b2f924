"""``josev bus request`` against a running ``josev run``: typed commands from the shell drive a simulated
charging session (plug a car, tap a card), replies print as JSON, and errors exit non-zero with the code."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from josev.broker import free_port
from tests.conftest import ROOT
from tests.ocpp.harness import ScriptedCsms
from tests.product.test_shutdown import kill_tree, run_until_ready, write_config

pytestmark = pytest.mark.slow


async def cli(cfg: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "josev", "bus", "request", *args, "--config", str(cfg),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_bus_request_drives_a_session(tmp_path: Path) -> None:
    csms = ScriptedCsms(port=free_port())
    await csms.start()
    port = free_port()
    cfg = write_config(tmp_path, port, csms.url, separate=False)
    proc, obs = await run_until_ready(cfg, tmp_path, port)
    try:
        rc, out, err = await cli(cfg, "system", "ping", '{"seq": 5, "payload": "hi"}')
        assert rc == 0, err
        assert json.loads(out)["seq"] == 5 and json.loads(out)["payload"] == "hi"

        rc, out, err = await cli(cfg, "hal", "sim_car_control", "--evse", "1", '{"action": "plug"}')
        assert rc == 0 and json.loads(out) == {}, err
        await obs.until("session started", lambda: any(s.step == "started" for s in obs.sessions))
        rc, out, err = await cli(cfg, "coordinator", "present_token", "-e", "1", '{"id_token": "CLI-TAG"}')
        assert rc == 0, err
        await obs.until(
            "charging", lambda: bool(obs.channel) and obs.channel[-1][1].contactor_feedback, timeout=20
        )
        assert any(s.step == "authorized" and s.id_token == "CLI-TAG" for s in obs.sessions)

        # an error reply: exit 1, the code and message on stderr
        rc, out, err = await cli(cfg, "hal", "set_contactor", "--evse", "9", '{"closed": false}')
        assert rc == 1 and json.loads(err)["error"] == "invalid_request" and "no EVSE 9" in err
        # refused before anything is sent: exit 2 with what is wrong
        rc, out, err = await cli(cfg, "hal", "set_contactor", '{"closed": false}')
        assert rc == 2 and "per EVSE" in err
        rc, out, err = await cli(cfg, "hal", "set_contactor", "-e", "1", '{"closed": "maybe"}')
        assert rc == 2 and "closed:" in err
        rc, out, err = await cli(cfg, "hal", "open_sesame", "-e", "1")
        assert rc == 2 and "set_contactor" in err  # the service's commands are listed
        os.kill(proc.pid, signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        kill_tree(proc)
        if obs.bus is not None:
            await obs.bus.close(publish_status=False)
        await csms.stop()
