"""A hostile bus client with one service's credentials (run as a separate process by test_hostile_bus.py).

For ``--seconds`` it floods commands it is granted and events on its own topics, forges error replies to every
HAL command it sees, tries to take the coordinator's session over, and sends one 100 MB message. Prints what it
did as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def _props(**extra: object) -> Properties:
    p = Properties(PacketTypes.PUBLISH)
    p.ContentType = "application/json"
    p.UserProperty = [("schema", "1")]
    for k, v in extra.items():
        setattr(p, k, v)
    return p


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--victim-id", required=True, help="the client id the coordinator asked for")
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()
    done = {"flood": 0, "forged": 0, "takeover_connacks": [], "oversize_sent": False}
    lock = threading.Lock()

    def client(cid: str) -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        c.username_pw_set(a.user, a.password)
        c.max_queued_messages_set(0)
        return c

    forger = client("josev-forger")
    err = json.dumps({"code": "unavailable", "message": "forged: contactor fault"}).encode()

    def forge(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        rt = getattr(m.properties, "ResponseTopic", None)
        if not rt:
            return
        props = _props(CorrelationData=m.properties.CorrelationData)
        props.UserProperty = [("schema", "1"), ("status", "error")]
        parts = rt.split("/")
        for target in (rt, "/".join([*parts[:-1], a.user]), "/".join(parts[:-1])):
            c.publish(target, err, qos=0, properties=props)
        with lock:
            done["forged"] += 3

    forger.on_message = forge
    forger.connect("127.0.0.1", a.port)
    forger.subscribe("josev/v1/hal/+/cmd/#", qos=0)
    forger.loop_start()

    for cid in (a.victim_id, "coordinator", "josev-coordinator"):
        t = client(cid)
        t.on_connect = lambda c, u, f, rc, p: done["takeover_connacks"].append(str(rc))  # type: ignore[attr-defined]
        try:
            t.connect("127.0.0.1", a.port)
            t.loop_start()
            time.sleep(0.2)
            t.loop_stop()
            t.disconnect()
        except OSError:
            pass

    flood = client("josev-flood")
    flood.connect("127.0.0.1", a.port)
    flood.loop_start()
    cmd_props = _props(ResponseTopic=f"josev/v1/{a.user}/reply/flood/coordinator", CorrelationData=b"f")
    end = time.monotonic() + a.seconds
    i = 0
    while time.monotonic() < end:
        flood.publish(
            "josev/v1/coordinator/evse2/cmd/authorize", b'{"id_token": "x"}', 0, properties=cmd_props
        )
        flood.publish("josev/v1/coordinator/evse1/cmd/authorize", b"", 0, properties=cmd_props)
        flood.publish(f"josev/v1/{a.user}/station/event/flood", b'{"n": %d}' % i, 0, properties=_props())
        flood.publish(f"josev/v1/{a.user}/evse1/state/flood", b"x" * 2000, 0, retain=True)
        i += 4
        if i % 400 == 0:
            time.sleep(0.001)  # let paho's thread write
    done["flood"] = i
    big = client("josev-big")
    try:
        big.connect("127.0.0.1", a.port)
        big.loop_start()
        big.publish(f"josev/v1/{a.user}/station/event/big", b"x" * (100 * 1024 * 1024), qos=0)
        done["oversize_sent"] = True
        time.sleep(1.0)
        big.loop_stop()
    except OSError:
        pass
    flood.loop_stop()
    forger.loop_stop()
    print(json.dumps(done), flush=True)


if __name__ == "__main__":
    main()
