"""Issue 22: connection limits of the SECC. On one PLC link (a bridge here) an attacker posing as many hosts
stalls TLS handshakes and holds idle TCP connections while a real EV charges over TLS: the EV still gets its
session, the SECC holds at most ``max_connections`` per EVSE, memory and file descriptors come back, and the
log stays small. Before the limits every connection was kept (until the 20 s setup timeout, 5 s for TLS),
so 1,000 idle connections exhausted the file descriptors and locked the car out."""

from __future__ import annotations

import asyncio
import io
import logging
import os
from pathlib import Path

import pytest

from josev.pki import create
from josev.secc.limits import ConnectionLimits
from josev.secc.tlsconfig import SeccTls
from josev.v2g.codec import exi_available
from tests.util.netns import CAN_NETNS, NetnsLab

from .lab import Station, add_addresses, attacker, bridge, rss_kb, run_ev, stop

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(not CAN_NETNS, reason="needs root and iproute2 (network namespaces)"),
    pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built"),
]

STALLED_TLS = 300
IDLE_TCP = 300


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    create(out, ("iso2",))
    return out


async def test_stalled_handshakes_and_idle_connections_do_not_lock_out_the_car(
    netns_lab: NetnsLab, pki: Path
) -> None:
    car_ns, bad_ns = netns_lab.netns("car"), netns_lab.netns("bad")
    car_pair, bad_pair = netns_lab.veth(None, car_ns), netns_lab.veth(None, bad_ns)
    link = bridge(netns_lab, car_pair, bad_pair)
    sources = add_addresses(bad_ns, bad_pair.b, 20)
    log_buf = io.StringIO()
    handler = logging.StreamHandler(log_buf)
    handler.setLevel(logging.DEBUG)
    logging.getLogger("josev").addHandler(handler)
    old_level = logging.getLogger("josev").level
    logging.getLogger("josev").setLevel(logging.INFO)
    st = Station(
        1,
        link,
        tls=SeccTls("both", pki).context(),
        tls_mode="both",
        limits=ConnectionLimits(),
    )
    await st.ep.start()
    assert st.ep.tls_port is not None
    fds_before = len(os.listdir("/proc/self/fd"))
    rss_before = rss_kb()
    args = [f"--source={x}" for x in sources]
    try:
        # round 1 without the car: whatever the first attack leaves (imports, TLS tables, arenas) is the
        # baseline for round 2, which must not grow it
        first = await attacker(
            bad_ns,
            bad_pair.b,
            st.ep.address,
            f"--tls-port={st.ep.tls_port}",
            f"--tcp-port={st.ep.tcp_port}",
            f"--stalled={STALLED_TLS}",
            f"--idle={IDLE_TCP}",
            *args,
        )
        await asyncio.sleep(0.5)
        await stop(first)
        await asyncio.sleep(1.0)  # the per-address buckets refill
        rss_round1 = rss_kb()
        bad = await attacker(
            bad_ns,
            bad_pair.b,
            st.ep.address,
            f"--tls-port={st.ep.tls_port}",
            f"--tcp-port={st.ep.tcp_port}",
            f"--stalled={STALLED_TLS}",
            f"--idle={IDLE_TCP}",
            *args,
        )
        await asyncio.sleep(0.5)  # let the SECC accept what is in its backlog
        # the attacker keeps everything open; the SECC holds no more than its limit
        held = len(st.ep.admission.conns)
        fds_during = len(os.listdir("/proc/self/fd"))
        rss_attack = rss_kb()
        res = await run_ev(
            car_ns.name,
            car_pair.b,
            "iso2-dc",
            "--tls",
            "iso2",
            "--station-tls",
            "both",
            "--pki",
            str(pki),
            "--seconds-per-loop",
            "1",
            loops=10,
        )
        await stop(bad)
    finally:
        await st.ep.close()
        logging.getLogger("josev").removeHandler(handler)
        logging.getLogger("josev").setLevel(old_level)
    r = res["results"][-1]
    assert r["outcome"] == "finished" and r["loops"] == 10 and r["tls"].startswith("TLSv1.2"), r
    stats = st.ep.stats
    assert held <= 4, held
    assert fds_during - fds_before <= 8, (fds_before, fds_during)
    refused = sum(stats.refused.values())
    # the attack reached the SECC (how much of it got through the kernel's accept backlog of 8 before the
    # attacker stopped depends on the load: 576 of 1,200 attempts on an idle machine, 539 with the tests run
    # beside two builds), and what it accepted beyond its limits it refused or evicted (held, fds above)
    assert refused + stats.evicted >= (STALLED_TLS + IDLE_TCP) // 2, (stats.refused, stats.evicted)
    assert stats.refused.get("peer_rate", 0) > 0
    assert st.ep.tls_stats.accepted >= 1
    rss_after = rss_kb()
    assert rss_round1 - rss_before < 30_000, (rss_before, rss_round1)
    assert rss_after - rss_round1 < 8_000, (rss_before, rss_round1, rss_attack, rss_after)
    log_bytes = len(log_buf.getvalue().encode())
    assert log_bytes < 64_000, log_bytes  # 600 attacking connections; before: ~16 kB per 1,000 lines...
    assert "similar messages suppressed" in log_buf.getvalue() or log_bytes < 16_000
    print(
        f"RSS {rss_before} / {rss_round1} (after round 1) / under attack {rss_attack} kB, held {held}, refused {stats.refused}, evicted {stats.evicted}, log {log_bytes} B, "
        f"RSS {rss_before} -> {rss_after} kB, CurrentDemand {r['latency_ms'].get('CurrentDemandReq')}"
    )
