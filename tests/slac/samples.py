"""One sample instance of every message the codec knows (shared by the codec and fuzz tests)."""

from __future__ import annotations

from josev.slac.messages import (
    CmAttenCharInd,
    CmAttenCharRsp,
    CmAttenProfileInd,
    CmMnbcSoundInd,
    CmSetKeyCnf,
    CmSetKeyReq,
    CmSlacMatchCnf,
    CmSlacMatchReq,
    CmSlacParmCnf,
    CmSlacParmReq,
    CmStartAttenCharInd,
    CmValidateCnf,
    CmValidateReq,
    Message,
    NscmGetDLinkStatusCnf,
    NscmGetDLinkStatusReq,
    NscmGetVersionCnf,
    NscmGetVersionReq,
    NscmResetDeviceReq,
    VsNwInfoCnf,
    VsNwInfoReq,
    VsOpAttributesCnf,
    VsOpAttributesReq,
    VsPlLnkStatusCnf,
    VsPlLnkStatusReq,
    VsRsDevCnf,
    VsRsDevReq,
    VsSwVerCnf,
    VsSwVerReq,
)
from josev.slac.messages.qualcomm import NwNetwork, NwStation

EV = bytes.fromhex("02bb00000001")
EVSE = bytes.fromhex("02aa00000001")
RUN = bytes.fromhex("0102030405060708")
NMK = bytes(range(16))
NID = bytes.fromhex("b0f2e695666b03")
PEV_ID = b"WVWZZZ1JZXW000001"
EVSE_ID = b"DE*JOS*E000001*01"

SAMPLES: list[Message] = [
    CmSetKeyReq(nid=NID, nmk=NMK),
    CmSetKeyCnf(result=0, my_nonce=7),
    CmSlacParmReq(RUN),
    CmSlacParmCnf(forwarding_sta=EV, run_id=RUN, num_sounds=10, timeout=6),
    CmStartAttenCharInd(forwarding_sta=EV, run_id=RUN),
    CmMnbcSoundInd(sender_id=PEV_ID, count=9, run_id=RUN, rnd=bytes(range(16))),
    CmAttenProfileInd(pev_mac=EV, aag=tuple(range(20, 78))),
    CmAttenCharInd(source_address=EV, run_id=RUN, num_sounds=10, aag=tuple([30] * 58), resp_id=EVSE_ID),
    CmAttenCharRsp(source_address=EV, run_id=RUN, result=0, source_id=PEV_ID, resp_id=EVSE_ID),
    CmValidateReq(timer=8),
    CmValidateCnf(toggle_num=1, result=2),
    CmSlacMatchReq(pev_mac=EV, evse_mac=EVSE, run_id=RUN, pev_id=PEV_ID, evse_id=EVSE_ID),
    CmSlacMatchCnf(pev_mac=EV, evse_mac=EVSE, run_id=RUN, nid=NID, nmk=NMK, pev_id=PEV_ID, evse_id=EVSE_ID),
    VsSwVerReq(cookie=5),
    VsSwVerCnf("MAC-QCA7000-1.2.5", status=0, device_id=0x20),
    VsRsDevReq(),
    VsRsDevCnf(0),
    VsOpAttributesReq(),
    VsOpAttributesCnf("QCA7005", "GreenPHY", (1, 2, 5, 3327)),
    VsPlLnkStatusReq(),
    VsPlLnkStatusCnf(1),
    VsNwInfoReq(),
    VsNwInfoCnf((NwNetwork(NID, EVSE, snid=3, tei=1, role=2, stations=(NwStation(EV, tei=2),)),)),
    NscmGetVersionReq(request_id=3),
    NscmGetVersionCnf((3, 1, 0, 77), request_id=3),
    NscmGetDLinkStatusReq(),
    NscmGetDLinkStatusCnf(1),
    NscmResetDeviceReq(),
]
