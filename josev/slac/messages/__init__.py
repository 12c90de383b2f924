"""HomePlug AV / Green PHY management messages used by SLAC, one module per message."""

from __future__ import annotations

from josev.slac.messages.base import Message, MMType, Mode
from josev.slac.messages.cm_atten_char import CmAttenCharInd, CmAttenCharRsp
from josev.slac.messages.cm_atten_profile import CmAttenProfileInd
from josev.slac.messages.cm_mnbc_sound import CmMnbcSoundInd
from josev.slac.messages.cm_set_key import CmSetKeyCnf, CmSetKeyReq
from josev.slac.messages.cm_slac_match import CmSlacMatchCnf, CmSlacMatchReq
from josev.slac.messages.cm_slac_parm import CmSlacParmCnf, CmSlacParmReq
from josev.slac.messages.cm_start_atten_char import CmStartAttenCharInd
from josev.slac.messages.cm_validate import CmValidateCnf, CmValidateReq, ValidateResult
from josev.slac.messages.lumissil import (
    NscmGetDLinkStatusCnf,
    NscmGetDLinkStatusReq,
    NscmGetVersionCnf,
    NscmGetVersionReq,
    NscmResetDeviceReq,
)
from josev.slac.messages.qualcomm import (
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

ALL: tuple[type[Message], ...] = (
    CmSetKeyReq,
    CmSetKeyCnf,
    CmSlacParmReq,
    CmSlacParmCnf,
    CmStartAttenCharInd,
    CmMnbcSoundInd,
    CmAttenProfileInd,
    CmAttenCharInd,
    CmAttenCharRsp,
    CmValidateReq,
    CmValidateCnf,
    CmSlacMatchReq,
    CmSlacMatchCnf,
    VsSwVerReq,
    VsSwVerCnf,
    VsRsDevReq,
    VsRsDevCnf,
    VsOpAttributesReq,
    VsOpAttributesCnf,
    VsPlLnkStatusReq,
    VsPlLnkStatusCnf,
    VsNwInfoReq,
    VsNwInfoCnf,
    NscmGetVersionReq,
    NscmGetVersionCnf,
    NscmGetDLinkStatusReq,
    NscmGetDLinkStatusCnf,
    NscmResetDeviceReq,
)

REGISTRY: dict[int, type[Message]] = {cls.mmtype(): cls for cls in ALL}
"""Full MMTYPE -> message class."""

__all__ = [
    "ALL",
    "REGISTRY",
    "CmAttenCharInd",
    "CmAttenCharRsp",
    "CmAttenProfileInd",
    "CmMnbcSoundInd",
    "CmSetKeyCnf",
    "CmSetKeyReq",
    "CmSlacMatchCnf",
    "CmSlacMatchReq",
    "CmSlacParmCnf",
    "CmSlacParmReq",
    "CmStartAttenCharInd",
    "CmValidateCnf",
    "CmValidateReq",
    "MMType",
    "Message",
    "Mode",
    "NscmGetDLinkStatusCnf",
    "NscmGetDLinkStatusReq",
    "NscmGetVersionCnf",
    "NscmGetVersionReq",
    "NscmResetDeviceReq",
    "ValidateResult",
    "VsNwInfoCnf",
    "VsNwInfoReq",
    "VsOpAttributesCnf",
    "VsOpAttributesReq",
    "VsPlLnkStatusCnf",
    "VsPlLnkStatusReq",
    "VsRsDevCnf",
    "VsRsDevReq",
    "VsSwVerCnf",
    "VsSwVerReq",
]
