"""The SalesTariff of a Plug & Charge session (ISO 15118-2): built from the station's tariff, carried in the
SAScheduleTuple, signed with the SECC leaf key in the ChargeParameterDiscoveryRes header; our EV verifies it
with the SECC certificate; the signature is also checked here independently with ``cryptography`` over the
EXI fragment bytes, through the real EXI codec."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from josev import exi
from josev.ev.battery import Behaviour
from josev.ev.contract import ContractCredentials
from josev.ev.evcc import Evcc, EvError
from josev.pki import PROFILES, Override, Pki, build_pki
from josev.secc.evse import EvseView
from josev.secc.session import SeccSession
from josev.sim.supply import SimPowerSupply
from josev.v2g import sales_tariff as T

from .drive import body_name

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
TARIFF = T.from_config(
    [
        {"start_s": 0, "price_level": 2, "cost": [{"kind": "relativePricePercentage", "amount": 120}]},
        {
            "start_s": 3600,
            "price_level": 0,
            "cost": [{"kind": "RenewableGenerationPercentage", "amount": 80}],
        },
    ],
    description="night/day",
)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return build_pki(
        PROFILES["iso2"], now=NOW, overrides={"contract_leaf": Override(common_name="DE8EOCAB123456")}
    )


def run(
    pki: Pki, *, payment: str = "Contract", tamper: Any = None, ev_key: Any = "secc"
) -> tuple[Evcc, list[dict[str, Any]]]:
    der = serialization.Encoding.DER
    creds = ContractCredentials(
        pki.cert("contract_leaf").public_bytes(der),
        (pki.cert("mo_sub_ca2").public_bytes(der), pki.cert("mo_sub_ca1").public_bytes(der)),
        pki.key("contract_leaf"),
    )
    view = EvseView(
        energy_modes=("DC_extended",),
        payment_options=("ExternalPayment", "Contract") if payment == "Contract" else ("ExternalPayment",),
        pnc_roots=(pki.cert("mo_root"), pki.cert("v2g_root")),
        wall_offset=NOW.timestamp(),
        sales_tariff=TARIFF,
        tariff_key=pki.key("secc_leaf"),
    )
    secc = SeccSession(view, 0.0, tls=True)
    key = pki.cert("secc_leaf").public_key() if ev_key == "secc" else ev_key
    ev = Evcc("iso2-dc", behaviour=Behaviour(loops=2), contract=creds, secc_key=key)
    supply = SimPowerSupply()
    cpd: list[dict[str, Any]] = []
    nxt = ev.start()
    t = 0.0
    try:
        while nxt is not None:
            schema, msg = nxt
            msg = exi.decode(schema, exi.encode(schema, msg))
            out = secc.handle_message(msg, t)
            t += 0.1
            supply.apply(view, out.events)
            assert out.response is not None
            res = exi.decode(out.schema, exi.encode(out.schema, out.response))  # what goes on the wire
            if body_name(res) == "ChargeParameterDiscoveryRes":
                cpd.append(copy.deepcopy(res))
                if tamper is not None:
                    tamper(res)
            nxt = ev.on_response(res)
    except EvError:
        pass
    return ev, cpd


def test_pnc_session_gets_a_signed_sales_tariff(pki: Pki) -> None:
    ev, cpd = run(pki)
    assert ev.result.outcome == "finished", ev.result.detail
    assert ev.result.tariff_verified is True
    assert ev.result.sales_tariff == [(0, 2), (3600, 0)]
    msg = cpd[-1]["V2G_Message"]
    tariff = msg["Body"]["ChargeParameterDiscoveryRes"]["SAScheduleList"]["SAScheduleTuple"][0]["SalesTariff"]
    assert tariff["Id"] == "SalesTariff1" and tariff["SalesTariffID"] == 1 and tariff["NumEPriceLevels"] == 3
    assert tariff["SalesTariffDescription"] == "night/day"
    e0, e1 = tariff["SalesTariffEntry"]
    assert e0["RelativeTimeInterval"] == {"start": 0} and e1["RelativeTimeInterval"] == {
        "start": 3600,
        "duration": 82800,
    }
    assert e0["ConsumptionCost"][0]["Cost"] == [{"costKind": "relativePricePercentage", "amount": 120}]

    # independent check: digest of the EXI fragment, ECDSA P-256 over the SignedInfo fragment
    sig = msg["Header"]["Signature"]
    (ref,) = sig["SignedInfo"]["Reference"]
    assert ref["URI"] == "#SalesTariff1"
    frag = exi.encode_fragment("iso2", {"SalesTariff": tariff})
    assert base64.b64decode(ref["DigestValue"]) == hashlib.sha256(frag).digest()
    raw = base64.b64decode(sig["SignatureValue"]["value"])
    assert len(raw) == 64
    der_sig = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    signed = exi.encode_fragment("xmldsig", {"SignedInfo": sig["SignedInfo"]})
    pub = pki.cert("secc_leaf").public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(der_sig, signed, ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature if wrong


def test_tampered_tariff_is_refused_by_the_ev(pki: Pki) -> None:
    def cheaper(res: dict[str, Any]) -> None:
        tup = res["V2G_Message"]["Body"]["ChargeParameterDiscoveryRes"]["SAScheduleList"]["SAScheduleTuple"][
            0
        ]
        tup["SalesTariff"]["SalesTariffEntry"][0]["EPriceLevel"] = 0

    ev, _ = run(pki, tamper=cheaper)
    assert ev.result.outcome == "failed" and ev.result.tariff_verified is False
    assert "SalesTariff: FAILED_SignatureError" in ev.result.detail and "digest" in ev.result.detail


def test_tariff_signed_by_another_key_is_refused(pki: Pki) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    ev, _ = run(pki, ev_key=other)
    assert ev.result.outcome == "failed" and "SalesTariff" in ev.result.detail


def test_no_tariff_without_contract(pki: Pki) -> None:
    ev, cpd = run(pki, payment="ExternalPayment")
    assert ev.result.outcome == "finished"
    tup = cpd[-1]["V2G_Message"]["Body"]["ChargeParameterDiscoveryRes"]["SAScheduleList"]["SAScheduleTuple"][
        0
    ]
    assert "SalesTariff" not in tup and "Signature" not in cpd[-1]["V2G_Message"]["Header"]
    assert ev.result.sales_tariff == []


def test_bad_tariff_config_is_named() -> None:
    with pytest.raises(ValueError, match="start at 0"):
        T.from_config([{"start_s": 10, "price_level": 1}])
    with pytest.raises(ValueError, match="costKind 'cheap'"):
        T.from_config([{"start_s": 0, "cost": [{"kind": "cheap", "amount": 1}]}])
    with pytest.raises(ValueError, match="entry 0: start_s missing"):
        T.from_config([{"price_level": 1}])


@pytest.mark.netns
async def test_sales_tariff_from_the_bus(netns_lab: Any, bus_factory: Any, pki: Pki) -> None:
    """``secc.set_sales_tariff`` over a real mosquitto: applied to the EVSE's next offers, a bad tariff named,
    no entries = back to the configured one; without a SECC key it is refused."""
    import asyncio

    from josev.api import secc as api
    from josev.api.base import CommandError
    from josev.secc.service import SeccEvseConfig, SeccService

    ev_ns = netns_lab.netns("ev")
    pair = netns_lab.veth(None, ev_ns)
    svc = SeccService(
        [SeccEvseConfig(evse=1, iface=pair.a)], codec="json", sales_tariff=(TARIFF, pki.key("secc_leaf"))
    )
    cli = await bus_factory("cli")
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(await bus_factory("secc"), stop))
    try:
        await asyncio.wait_for(svc.ready.wait(), 10)
        await asyncio.sleep(0.3)  # the service's subscriptions reach the broker
        assert svc.views[1].sales_tariff is TARIFF
        cmd = api.SetSalesTariff(
            entries=[
                api.TariffEntry(start_s=0, price_level=3),
                api.TariffEntry(
                    start_s=1800,
                    price_level=1,
                    cost=[api.TariffCost(kind="CarbonDioxideEmission", amount=250, multiplier=-1)],
                ),
            ],
            description="peak",
        )
        await cli.request(cmd, 1)
        t = svc.views[1].sales_tariff
        assert [(e.start_s, e.price_level) for e in t.entries] == [(0, 3), (1800, 1)]
        assert t.description == "peak" and t.levels == 4
        el = T.element(t, 86_400)
        assert el["SalesTariffEntry"][1]["ConsumptionCost"][0]["Cost"] == [
            {"costKind": "CarbonDioxideEmission", "amount": 250, "amountMultiplier": -1}
        ]
        T.verify(T.sign(el, svc.views[1].tariff_key), el, pki.cert("secc_leaf").public_key())
        with pytest.raises(CommandError, match="sales tariff: tariff entries must start at 0"):
            await cli.request(api.SetSalesTariff(entries=[api.TariffEntry(start_s=60, price_level=1)]), 1)
        assert svc.views[1].sales_tariff is t  # nothing accepted is lost
        await cli.request(api.SetSalesTariff(), 1)
        assert svc.views[1].sales_tariff is TARIFF
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    bare = SeccService([SeccEvseConfig(evse=1, iface=pair.a)], codec="json")
    stop = asyncio.Event()
    task = asyncio.create_task(bare.run(await bus_factory("secc"), stop))
    try:
        await asyncio.wait_for(bare.ready.wait(), 10)
        await asyncio.sleep(0.3)
        with pytest.raises(CommandError, match="no SECC key to sign a SalesTariff"):
            await cli.request(api.SetSalesTariff(entries=[api.TariffEntry(start_s=0, price_level=1)]), 1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
