"""Plug & Charge steps of the -20 EV: certificate installation (CertificateInstallationReq / Res) and the signed
MeteringConfirmation (functions of the :class:`~josev.ev.iso20.evcc.Evcc20` they serve)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from josev.pnc import PncError, xmlsig

if TYPE_CHECKING:
    from josev.ev.iso20.evcc import Evcc20


def certificate_installation(ev: Evcc20) -> tuple[str, dict[str, Any]]:
    """CertificateInstallationReq, signed over the OEM provisioning chain with the provisioning key."""
    assert ev.provisioning is not None
    name = "CertificateInstallationReq"
    ev.expect = "CertificateInstallationRes"
    ev.result.messages.append(name)
    header = {"SessionID": ev.session_id, "TimeStamp": int(ev.behaviour.wall_offset + ev.now)}
    return "iso20-cm", ev.provisioning.request(header, ev.behaviour.max_contract_chains)


def installed(ev: Evcc20, res: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """CertificateInstallationRes: Ongoing -> ask again; OK -> check, decrypt, pay with the new contract."""
    code = str(res.get("ResponseCode", ""))
    if code.startswith("WARNING"):  # no contract for us: pay with EIM if the station offers it
        return ev._eim()
    if res.get("EVSEProcessing") != "Finished":
        ev._ongoing_guard()
        return certificate_installation(ev)
    ev._ongoing = 0
    assert ev.provisioning is not None
    at = dt.datetime.fromtimestamp(ev.behaviour.wall_offset + ev.now, dt.UTC)
    try:
        ev.contract = ev.provisioning.install({"CertificateInstallationRes": res}, at)
    except (PncError, KeyError, TypeError, ValueError) as e:
        ev._fail(f"CertificateInstallationRes refused: {e}")
    assert ev.contract is not None
    ev.result.installed_emaid = ev.contract.emaid
    return ev._start_pnc()


def metering_confirmation(ev: Evcc20, res: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """MeteringConfirmationReq: the MeterInfo and Receipt of the ChargeLoopRes, signed with the contract key."""
    assert ev.contract is not None
    data: dict[str, Any] = {"Id": "ID1", "SessionID": ev.session_id, "MeterInfo": res["MeterInfo"]}
    if "Receipt" in res:
        data["Receipt"] = res["Receipt"]
    if ev.behaviour.dynamic:
        data["Dynamic_SMDTControlMode"] = {}
    else:
        data["Scheduled_SMDTControlMode"] = {"SelectedScheduleTupleID": ev._tuple_id}
    suite = next(s for s in xmlsig.ISO20_SUITES if s.key_fits(ev.contract.key))
    signature = ev.contract.sign(suite, [("ID1", xmlsig.fragment("iso20-cm", "SignedMeteringData", data))])
    schema, msg = ev._cm("MeteringConfirmationReq", {"SignedMeteringData": data})
    msg["MeteringConfirmationReq"]["Header"]["Signature"] = signature
    ev._confirming = int(res["MeterInfo"]["ChargedEnergyReadingWh"])
    return schema, msg
