"""The CLI against real processes: broker config + a real mosquitto, bus tail, api documents, version."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from josev.api import asyncapi
from josev.api.system import StationInfo
from josev.broker import PrivateBroker, find_mosquitto, free_port, free_port_pair
from josev.bus import Bus, BusSettings
from josev.cli import app
from tests.conftest import ROOT

runner = CliRunner()


def test_version() -> None:
    r = runner.invoke(app, ["version"])
    assert r.exit_code == 0
    assert r.output.startswith("josev ") and "exi-codec" in r.output


def test_help_everywhere() -> None:
    for args in ([], ["bus"], ["api"], ["broker"], ["config"], ["run"], ["demo"], ["bus", "tail"]):
        r = runner.invoke(app, [*args, "--help"])
        assert r.exit_code == 0, (args, r.output)
        assert "Usage" in r.output


def test_committed_asyncapi_matches_models() -> None:
    problems = asyncapi.drift(ROOT / "docs" / "api")
    assert problems == [], "run `josev api asyncapi --out docs/api`"
    r = runner.invoke(app, ["api", "asyncapi", "--out", str(ROOT / "docs" / "api"), "--check"])
    assert r.exit_code == 0


def test_asyncapi_document_shape(tmp_path: Path) -> None:
    r = runner.invoke(app, ["api", "asyncapi", "--out", str(tmp_path)])
    assert r.exit_code == 0
    doc = asyncapi.build()
    assert doc["asyncapi"] == "3.0.0"
    ping = doc["operations"]["system.cmd.ping.receive"]
    assert ping["reply"]["address"]["location"] == "$message.header#/responseTopic"
    info = doc["channels"]["system.state.station_info"]
    assert info["address"] == "josev/v1/system/station/state/station_info"
    # Every $ref resolves.
    import json

    text = json.dumps(doc)
    for ref in {p.split('"')[0] for p in text.split('"$ref": "#/')[1:]}:
        node = doc
        for part in ref.split("/"):
            node = node[part]
    assert (tmp_path / "schemas" / "system.cmd.ping.json").exists()
    (tmp_path / "schemas" / "stale.json").write_text("{}")
    assert any("stale" in p for p in asyncapi.drift(tmp_path))


@pytest.mark.skipif(os.geteuid() != 0, reason="starts mosquitto as root, which drops to user mosquitto")
def test_broker_config_runs_in_real_mosquitto() -> None:
    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        pytest.skip("no mosquitto user")
    port = free_port_pair()
    top = Path(tempfile.mkdtemp(prefix="josev-brokercfg-"))  # /tmp: traversable by the mosquitto user
    top.chmod(0o755)
    d = top / "broker"
    try:
        r = runner.invoke(
            app, ["broker", "config", "--dir", str(d), "--port", str(port), "--user", "mosquitto"]
        )
        assert r.exit_code == 0, r.output
        for name in ("credentials", "passwd", "acl"):
            assert stat.S_IMODE((d / name).stat().st_mode) == 0o600
        assert (d / "passwd").stat().st_uid == pwd.getpwnam("mosquitto").pw_uid
        conf = (d / "mosquitto.conf").read_text()
        assert "allow_anonymous false" in conf and f"listener {port} 127.0.0.1" in conf
        proc = subprocess.Popen([find_mosquitto(), "-c", str(d / "mosquitto.conf")], stderr=subprocess.PIPE)
        try:

            async def check() -> None:
                settings = BusSettings(port=port, credentials_file=d / "credentials")
                for _ in range(50):
                    bus = Bus("system", settings)
                    try:
                        await bus.connect(timeout=0.5)
                        break
                    except ConnectionError:
                        assert proc.poll() is None, "mosquitto exited"
                else:
                    pytest.fail("could not connect to the configured mosquitto")
                got: list[StationInfo] = []
                bus.subscribe(StationInfo, lambda m, e: got.append(m))
                await bus.publish(
                    StationInfo(station_id="x", vendor="v", model="m", evse_count=1, josev_version="1")
                )
                for _ in range(100):
                    if got:
                        break
                    await asyncio.sleep(0.02)
                assert got and got[0].station_id == "x"
                await bus.close()
                wrong = Bus("system", BusSettings(port=port, password="wrong"))
                with pytest.raises(ConnectionError):
                    await wrong.connect(timeout=1.0)

            asyncio.run(check())
        finally:
            proc.terminate()
            proc.wait(10)
            if proc.stderr:
                proc.stderr.close()
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_bus_tail_shows_decoded_traffic(broker: PrivateBroker) -> None:
    async def publish() -> None:
        bus = Bus("system", broker.settings("system"))
        await bus.connect()
        await bus.publish(
            StationInfo(station_id="tail-test", vendor="v", model="m", evse_count=2, josev_version="1")
        )
        await asyncio.sleep(0.1)
        await bus.close(publish_status=False)

    asyncio.run(publish())
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "josev",
            "bus",
            "tail",
            "--host",
            broker.host,
            "--port",
            str(broker.port),
            "--credentials",
            str(broker.files.credentials),
            "--service",
            "system",
            "--kind",
            "state",
            "--count",
            "1",
            "--seconds",
            "15",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert "system/station state station_info: station_id=tail-test" in out.stdout


def test_bus_tail_without_broker_fails_clearly(tmp_path: Path) -> None:
    creds = tmp_path / "c"
    creds.write_text("cli:x\n")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "josev",
            "bus",
            "tail",
            "--port",
            str(free_port()),
            "--credentials",
            str(creds),
            "--seconds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert out.returncode == 1
    assert "no broker connection" in out.stderr


def test_broker_add_service_grants_exactly_what_was_asked(tmp_path: Path) -> None:
    """Issue 19: an integrator's own service gets a user and ACL (borrowing `cli` granted contactor control)."""
    import json
    import signal

    from josev.api import coordinator as capi
    from josev.api import hal as halapi
    from josev.api.base import Ack, CommandError

    d = tmp_path / "broker"
    me = pwd.getpwuid(os.geteuid()).pw_name
    add = [
        "broker", "add-service", "acme", "--dir", str(d), "--user", me,
        "--publish", "reading", "--subscribe", "josev/v1/coordinator/+/state/#", "--call", "coordinator.authorize",
    ]  # fmt: skip
    r = runner.invoke(app, add)
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE((d / "acme.credentials").stat().st_mode) == 0o600
    for bad, why in (
        (["--call", "coordinator.hlc_power_delivery"], "contactor"),
        (["--call", "hal.set_contactor"], "contactor"),
        (["--call", "coordinator.nope"], "unknown command"),
        (["--subscribe", "other/#"], "invalid subscription"),
    ):
        r = runner.invoke(app, ["broker", "add-service", "evil", "--dir", str(d), "--user", me, *bad])
        assert r.exit_code == 2 and why in r.output, (bad, r.output)
    r = runner.invoke(app, ["broker", "add-service", "coordinator", "--dir", str(d), "--user", me])
    assert r.exit_code == 2 and "josev's own" in r.output
    assert json.loads((d / "services.json").read_text()).keys() == {"acme"}

    async def check(broker: PrivateBroker) -> None:
        coord = Bus("coordinator", broker.settings("coordinator"))
        watcher = Bus("cli", broker.settings("cli"))
        acme = Bus("acme", broker.settings("acme"))
        for b in (coord, watcher, acme):
            await b.connect()
        seen: list[str] = []
        watcher.subscribe_raw("josev/v1/#", lambda t, o, m: seen.append(t))
        got_states: list[str] = []
        acme.subscribe_raw("josev/v1/#", lambda t, o, m: got_states.append(t))
        coord.serve(capi.Authorize, lambda c, e: Ack())
        await asyncio.sleep(0.2)
        # It may call what it was granted, and nothing else (no contactor, no HAL).
        assert await acme.request(capi.Authorize(id_token="acme-1"), 1) == Ack()
        for cmd in (capi.HlcPowerDelivery(on=True), halapi.SetContactor(closed=True), capi.ClearFault()):
            with pytest.raises(CommandError) as err:
                await acme.request(cmd, 1)  # type: ignore[arg-type]
            assert err.value.code == "forbidden"
        # It publishes its own `reading` (state or event), nothing else.
        for topic in (
            "josev/v1/acme/station/state/reading",
            "josev/v1/acme/evse1/event/reading",
            "josev/v1/acme/station/state/other",
            "josev/v1/hal/evse1/state/cp",
            "josev/v1/coordinator/evse1/state/evse_status",
        ):
            acme._client.publish(topic, b"{}", qos=1)
        # It reads what it subscribed to (coordinator state), not the rest of the bus.
        await coord.publish(capi.EvseStatus.model_validate(_evse_status()), 1)
        await asyncio.sleep(0.5)
        acme_pubs = [t for t in seen if t.startswith("josev/v1/acme/") and "/reply/" not in t]
        assert sorted(acme_pubs) == [
            "josev/v1/acme/evse1/event/reading",
            "josev/v1/acme/station/state/reading",
        ]
        assert "josev/v1/hal/evse1/state/cp" not in seen
        assert "josev/v1/coordinator/evse1/state/evse_status" in got_states
        assert not [
            t for t in got_states if t.startswith(("josev/v1/hal/", "josev/v1/cli/", "josev/v1/system/"))
        ]
        for b in (coord, watcher, acme):
            await b.close()

    with PrivateBroker(d) as broker:  # regenerates the configuration: the integration is kept
        asyncio.run(check(broker))
        # Removed, and the running broker reloads: the user is gone.
        r = runner.invoke(app, ["broker", "remove-service", "acme", "--dir", str(d), "--user", me])
        assert r.exit_code == 0, r.output
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGHUP)

        async def refused() -> None:
            await asyncio.sleep(0.5)
            gone = Bus("acme", BusSettings(port=broker.port, password="x"))
            with pytest.raises(ConnectionError):
                await gone.connect(timeout=1.0)

        asyncio.run(refused())
        assert "acme" not in (d / "passwd").read_text()


def _evse_status() -> dict[str, object]:
    return {
        "state": "idle",
        "ocpp_status": "Available",
        "detailed_status": "Available",
        "charging_state": "Idle",
        "limit_a": None,
        "pilot_mode": "x1",
        "contactor_closed": False,
    }
