"""Unit tests of the bus pieces that need no broker: topics, codec, ACL, password hashes, tail rendering."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path
from typing import ClassVar

import pytest

from josev.api import base, topics
from josev.api.system import Ping, Pong, StationInfo
from josev.broker.config import acl_text, hash_password, known_services
from josev.bus import codec
from josev.bus.tail import TailFilter, render


def test_topic_round_trip() -> None:
    t = topics.message_topic("hal", "state", "cp", 3)
    assert t == "josev/v1/hal/evse3/state/cp"
    p = topics.parse(t)
    assert p == topics.ParsedTopic("hal", "state", "cp", 3)
    assert topics.parse("josev/v1/hal/station/event/x") == topics.ParsedTopic("hal", "event", "x", None)
    assert topics.parse("josev/v1/hal/status") == topics.ParsedTopic("hal", "status", None, None)
    assert topics.parse("josev/v1/cli/reply/abc/hal") == topics.ParsedTopic(
        "cli", "reply", "abc", None, "hal"
    )
    for bad in (
        "josev/v2/hal/evse1/state/cp",
        "other/v1/hal/evse1/state/cp",
        "josev/v1/hal/evseX/state/cp",
        "josev/v1/hal/evse1/blob/cp",
        "josev/v1",
    ):
        assert topics.parse(bad) is None
    with pytest.raises(ValueError):
        topics.scope(0)
    with pytest.raises(ValueError):
        topics.check_name("Bad-Name")


def test_scope_rules_enforced() -> None:
    with pytest.raises(ValueError, match="station-wide"):
        StationInfo.topic(1)
    assert Ping.topic() == "josev/v1/system/station/cmd/ping"
    assert Ping.reply is Pong


def test_duplicate_registration_rejected() -> None:
    class One(base.Event):
        service: ClassVar[str] = "hal"
        name: ClassVar[str] = "test_dup_unique"

    with pytest.raises(TypeError, match="already taken"):

        class Two(base.Event):
            service: ClassVar[str] = "hal"
            name: ClassVar[str] = "test_dup_unique"


def test_codec_json_and_cbor() -> None:
    msg = StationInfo(station_id="s", vendor="v", model="m", evse_count=2, josev_version="1")
    for fmt in ("json", "cbor"):
        props = codec.properties(fmt)  # type: ignore[arg-type]
        data = codec.encode(msg, fmt)  # type: ignore[arg-type]
        assert codec.decode(StationInfo, data, props) == msg
    with pytest.raises(codec.PayloadError, match="invalid StationInfo"):
        codec.decode(StationInfo, b'{"station_id": 1}', codec.properties("json"))
    with pytest.raises(codec.PayloadError, match="undecodable"):
        codec.decode_any(b"\x9f\x01", codec.properties("cbor"))
    props = codec.properties("json")
    props.ContentType = "text/plain"
    with pytest.raises(codec.PayloadError, match="unsupported content type"):
        codec.decode_any(b"x", props)


def test_password_hash_is_mosquitto_pbkdf2_sha512() -> None:
    salt = b"0123456789ab"
    h = hash_password("secret", salt=salt)
    _, seven, iters, salt_b64, digest_b64 = h.split("$")
    assert seven == "7" and int(iters) == 101
    assert base64.b64decode(salt_b64) == salt
    assert base64.b64decode(digest_b64) == hashlib.pbkdf2_hmac("sha512", b"secret", salt, 101, 64)


def test_acl_grants_only_own_topics_and_declared_commands() -> None:
    text = acl_text(known_services())
    blocks = {b.splitlines()[0].split()[1]: b for b in text.split("\n\n") if b.startswith("user ")}
    assert "topic write josev/v1/hal/+/state/#" in blocks["hal"]
    assert "josev/v1/ocpp/+/state/#" not in blocks["hal"]
    # Ping is for the tools only: no service's code sends it.
    for user in ("hal", "ocpp"):
        assert "josev/v1/system/+/cmd/ping" not in blocks[user]
    assert "topic write josev/v1/system/+/cmd/ping" in blocks["cli"]
    # Replies: each user writes only reply topics that name it as the responder (no reply/# for everyone).
    assert "topic write josev/v1/+/reply/+/hal" in blocks["hal"]
    assert all("reply/#" not in line for b in blocks.values() for line in b.splitlines() if "write" in line)
    # Exactly what the code calls (issue 22): ocpp has no clear_fault/present_token/set_station_limit, secc no
    # stop_charging.
    for user, absent in (
        ("ocpp", ("clear_fault", "present_token", "set_station_limit")),
        ("secc", ("stop_charging",)),
    ):
        for name in absent:
            assert f"cmd/{name}" not in blocks[user]
    assert "topic write josev/v1/coordinator/+/cmd/authorize" in blocks["ocpp"]
    assert all("anonymous" not in b for b in blocks.values())


def test_tail_render_and_filter() -> None:
    now = dt.datetime(2026, 1, 1, 10, 0, 0, 123000)
    line = render(
        "josev/v1/system/station/state/station_info",
        {"station_id": "s 1", "vendor": "v", "model": "m", "evse_count": 2, "josev_version": "1"},
        now=now,
    )
    assert line == (
        '10:00:00.123 system/station state station_info: station_id="s 1" vendor=v model=m '
        "evse_count=2 josev_version=1"
    )
    bad = render("josev/v1/system/station/state/station_info", {"station_id": 3}, now=now)
    assert bad is not None and "INVALID" in bad
    assert render("other/topic", {}, now=now) is None
    cleared = render("josev/v1/system/station/state/station_info", None, now=now)
    assert cleared is not None and cleared.endswith("(cleared)")
    p = topics.parse("josev/v1/hal/evse2/state/cp")
    assert p is not None
    assert TailFilter(service="hal", evse=2).matches(p)
    assert not TailFilter(evse=1).matches(p)
    assert not TailFilter(kind="event").matches(p)


def test_broker_config_binds_client_ids_and_sets_limits(tmp_path: Path) -> None:
    from josev.broker.config import LIMITS, write_config

    files = write_config(tmp_path, port=18830, socket_path=tmp_path / "m.sock")
    conf = files.config.read_text()
    head, *listeners = conf.split("\nlistener ")
    assert "per_listener_settings true" in head and "clientid_prefixes josev-" in head
    for key, value in LIMITS.items():
        assert f"\n{key} {value}\n" in head
    by_spec = {block.splitlines()[0]: block for block in listeners}
    assert set(by_spec) == {
        "18830 127.0.0.1",
        f"0 {tmp_path / 'm.sock'}",
        "18831 127.0.0.1",
        f"0 {tmp_path / 'm-tools.sock'}",
    }
    for spec, block in by_spec.items():
        tools = "18831" in spec or "tools" in spec
        assert ("use_username_as_clientid true" in block) is not tools
        assert f"password_file {tmp_path / ('passwd-tools' if tools else 'passwd')}" in block
        assert "allow_anonymous false" in block
    assert {line.split(":")[0] for line in (tmp_path / "passwd-tools").read_text().splitlines()} == {
        "cli",
        "bench",
        "web",  # the live view's read-only user
    }
    assert (
        "cli:" not in (tmp_path / "passwd").read_text()
        and "web:" not in (tmp_path / "passwd").read_text()
        and "coordinator:" in (tmp_path / "passwd").read_text()
    )


def test_rate_limits_per_sender_and_invented_callers_share_one_budget() -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from josev.bus import Bus, BusSettings

    bus = Bus("coordinator", BusSettings(password="x", max_rate=100.0, max_command_rate=10.0))

    def msg(topic: str, caller: str | None = None, size: int = 10) -> mqtt.MQTTMessage:
        m = mqtt.MQTTMessage(topic=topic.encode())
        m.payload = b"x" * size
        if caller is not None:
            m.properties = Properties(PacketTypes.PUBLISH)
            m.properties.ResponseTopic = f"josev/v1/{caller}/reply/c/coordinator"
        return m

    # events from one publisher: burst 2 x rate, then dropped; another publisher has its own budget
    a = sum(bus.admission.admit(msg("josev/v1/hal/evse1/event/x")) for _ in range(1000))
    b = sum(bus.admission.admit(msg("josev/v1/slac/evse1/event/x")) for _ in range(1000))
    assert 200 <= a <= 205 and 200 <= b <= 205  # (plus what refills while the loop runs)
    # commands: 10/s per caller (burst 20), but inventing callers does not go past the shared 20/s (burst 40)
    cmd = "josev/v1/coordinator/evse1/cmd/authorize"
    admitted = sum(bus.admission.admit(msg(cmd, f"caller{i}")) for i in range(1000))
    assert 40 <= admitted <= 42
    assert bus.stats.rate_limited == 3000 - a - b - admitted
    # size: dropped unread, counted apart
    assert not bus.admission.admit(msg("josev/v1/secc/evse1/event/x", size=bus.settings.max_payload + 1))
    assert bus.stats.oversize == 1
