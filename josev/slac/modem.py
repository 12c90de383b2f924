"""Sans-IO modem supervision: tell QCA700x from CG5317 by their vendor MMEs, poll the link status.

Both vendor probes (QCA VS_OP_ATTRIBUTES.REQ, Lumissil NSCM_GET_VERSION.REQ) are sent at once; each modem
answers only its own vendor's MME, so the first confirmation names the vendor. Without an answer within
``TT_modem_probe`` the vendor is UNKNOWN and link status cannot be read (the cores then report the link
ready right after CM_SLAC_MATCH, see docs/slac.md).
"""

from __future__ import annotations

from josev.slac.events import LinkStatus, ModemDetected, ModemVendor, SlacEvent
from josev.slac.frame import encode_frame
from josev.slac.messages import (
    Message,
    NscmGetDLinkStatusCnf,
    NscmGetDLinkStatusReq,
    NscmGetVersionCnf,
    NscmGetVersionReq,
    NscmResetDeviceReq,
    VsOpAttributesCnf,
    VsOpAttributesReq,
    VsPlLnkStatusCnf,
    VsPlLnkStatusReq,
    VsRsDevReq,
    VsSwVerCnf,
    VsSwVerReq,
)

QCA_LOCAL_MANAGEMENT_MAC = bytes.fromhex("00b052000001")
"""The address a QCA modem answers host management messages on (used by default for every vendor)."""


class ModemSupervisor:
    """Vendor detection and link polling for the modem attached to one host interface."""

    def __init__(
        self, host_mac: bytes, modem_mac: bytes = QCA_LOCAL_MANAGEMENT_MAC, probe_timeout: float = 0.5
    ):
        self.host_mac = host_mac
        self.modem_mac = modem_mac
        self.probe_timeout = probe_timeout
        self.vendor: ModemVendor | None = None
        """None while probing; then the vendor (UNKNOWN when nobody answered)."""
        self.info = ""
        self.probe_deadline: float | None = None
        self.link_up: bool | None = None

    def _frame(self, msg: Message) -> bytes:
        return encode_frame(self.modem_mac, self.host_mac, msg)

    def probe(self, now: float) -> list[bytes]:
        """Start vendor detection: the frames to send."""
        self.vendor = None
        self.probe_deadline = now + self.probe_timeout
        return [self._frame(VsOpAttributesReq()), self._frame(NscmGetVersionReq()), self._frame(VsSwVerReq())]

    def on_timer(self, now: float) -> list[SlacEvent]:
        """Probe timeout: the vendor is UNKNOWN."""
        if self.vendor is None and self.probe_deadline is not None and now >= self.probe_deadline:
            self.vendor = ModemVendor.UNKNOWN
            self.probe_deadline = None
            return [ModemDetected(ModemVendor.UNKNOWN, "no answer to vendor probes")]
        return []

    @property
    def can_poll(self) -> bool:
        """The link status can be read from this modem."""
        return self.vendor in (ModemVendor.QUALCOMM, ModemVendor.LUMISSIL)

    def link_request(self) -> list[bytes]:
        """Frames asking for the link status (none when the vendor is unknown)."""
        if self.vendor is ModemVendor.QUALCOMM:
            return [self._frame(VsPlLnkStatusReq())]
        if self.vendor is ModemVendor.LUMISSIL:
            return [self._frame(NscmGetDLinkStatusReq())]
        return []

    def reset_request(self) -> list[bytes]:
        """Frames resetting the modem."""
        if self.vendor is ModemVendor.QUALCOMM:
            return [self._frame(VsRsDevReq())]
        if self.vendor is ModemVendor.LUMISSIL:
            return [self._frame(NscmResetDeviceReq())]
        return []

    def on_message(self, msg: Message) -> list[SlacEvent]:
        """Feed a vendor MME received from the modem; returns detection / link events."""
        if isinstance(msg, VsOpAttributesCnf | VsSwVerCnf | NscmGetVersionCnf) and self.vendor in (
            None,
            ModemVendor.UNKNOWN,
        ):
            if isinstance(msg, VsOpAttributesCnf):
                self.vendor = ModemVendor.QUALCOMM
                self.info = f"{msg.hw_platform} {msg.sw_platform} " + ".".join(map(str, msg.version))
            elif isinstance(msg, VsSwVerCnf):
                self.vendor = ModemVendor.QUALCOMM
                self.info = msg.version
            else:
                self.vendor = ModemVendor.LUMISSIL
                self.info = "CG5317 " + ".".join(map(str, msg.version))
            self.probe_deadline = None
            return [ModemDetected(self.vendor, self.info)]
        if isinstance(msg, VsPlLnkStatusCnf) and self.vendor is ModemVendor.QUALCOMM:
            self.link_up = msg.up
            return [LinkStatus(msg.up)]
        if isinstance(msg, NscmGetDLinkStatusCnf) and self.vendor is ModemVendor.LUMISSIL:
            self.link_up = msg.up
            return [LinkStatus(msg.up)]
        return []
