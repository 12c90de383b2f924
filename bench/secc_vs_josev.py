"""Response time seen by the EV, josev's SECC vs the open-source Josev SECC (PyPI ``iso15118``).

Both SECCs run as processes in one network namespace, our EV simulator (``python -m josev.ev``) in another,
linked by a veth pair; the EV measures request-sent to response-received for every message over a long
session (CurrentDemand for ISO-2 DC, ChargingStatus for ISO-2 AC). Needs root, the EXI codec and the peer
venv ``.venv-peers`` with ``iso15118`` (and java); prints why it skips otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / ".venv-peers" / "bin" / "python"
LOOPS = 300


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if (
        not PEER.is_file()
        or subprocess.run([str(PEER), "-c", "import iso15118.secc.main"], capture_output=True).returncode
    ):
        return "iso15118 not installed in .venv-peers"
    from josev.v2g.codec import exi_available

    return exi_available()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _ns(ns: str, *cmd: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True, capture_output=True, timeout=10)


def _run(secc_cmd: list[str], env: dict[str, str], protocol: str, tag: str) -> dict[str, object]:
    st, ev = f"jbst{tag}", f"jbev{tag}"
    a, b = f"jb{tag}a", f"jb{tag}b"
    _ip("netns", "add", st)
    _ip("netns", "add", ev)
    proc = None
    try:
        _ip("link", "add", a, "type", "veth", "peer", "name", b)
        _ip("link", "set", a, "netns", st)
        _ip("link", "set", b, "netns", ev)
        for ns, i in ((st, a), (ev, b)):
            _ns(ns, "sysctl", "-q", "-w", f"net.ipv6.conf.{i}.accept_dad=0")
            _ns(ns, "ip", "link", "set", i, "up")
            _ns(ns, "ip", "link", "set", "lo", "up")
        full_env = {**os.environ, **env, "NETWORK_INTERFACE": a}
        log = open(f"/tmp/secc_bench_{tag}.log", "w")  # noqa: SIM115 (closed with the process)
        cmd = [c.replace("{IFACE}", a) for c in secc_cmd]
        proc = subprocess.Popen(
            ["ip", "netns", "exec", st, *cmd],
            env=full_env,
            cwd="/tmp",
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        time.sleep(6)  # both SECCs are up well within this (Josev starts a JVM)
        out = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                ev,
                sys.executable,
                "-m",
                "josev.ev",
                "--iface",
                b,
                "--protocol",
                protocol,
                "--loops",
                str(LOOPS),
                "--seconds-per-loop",
                "0.01",
                "--message-timeout",
                "10",
                "--json",
                "--precharge-tolerance",
                "1000",
            ],
            cwd=ROOT,
            capture_output=True,
            timeout=300,
        )
        try:
            res: dict[str, object] = json.loads(out.stdout)["results"][-1]
        except (ValueError, KeyError, IndexError):
            return {"error": out.stderr.decode()[-300:]}
        return res
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run(["ip", "netns", "del", st], capture_output=True)
        subprocess.run(["ip", "netns", "del", ev], capture_output=True)


def main() -> None:
    reason = _skip_reason()
    if reason:
        print(f"skipped: {reason}")
        return
    ours = [sys.executable, "-m", "josev.cli.station", "--sim", "--iface", "{IFACE}", "--slac", "off"]
    ours += ["--stack", "lite", "--modes", "both"]  # AC and DC on one EVSE
    theirs = [str(PEER), "-m", "iso15118.secc.main"]
    peer_env = {
        "PROTOCOLS": "DIN_SPEC_70121,ISO_15118_2",
        "AUTH_MODES": "EIM",
        "LOG_LEVEL": "WARNING",
        "FREE_CHARGING_SERVICE": "False",
        "USE_CPO_BACKEND": "False",
    }
    print(f"{LOOPS} charge loops per session; EV-side response time (request sent -> response received)")
    for protocol, msg in (("iso2-dc", "CurrentDemandReq"), ("iso2-ac", "ChargingStatusReq")):
        for label, cmd, env in (
            ("josev", ours, {"PYTHONPATH": str(ROOT)}),
            ("Josev (iso15118)", theirs, peer_env),
        ):
            res = _run(cmd, env, protocol, f"{protocol[-2:]}{label[0]}")
            lat = res.get("latency_ms", {})
            fig = lat.get(msg) if isinstance(lat, dict) else None
            if not fig or res.get("outcome") != "finished":
                print(
                    f"{label:<18} {protocol}: no figure ({res.get('outcome', '')} {res.get('error', '')}"
                    f"{res.get('detail', '')})"
                )
                continue
            print(
                f"{label:<18} {msg:<18} n {fig['n']:4d}  p50 {fig['p50']:7.2f} ms  p99 {fig['p99']:7.2f} ms"
            )


if __name__ == "__main__":
    main()
