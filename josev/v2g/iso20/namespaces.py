"""The ISO 15118-20 namespaces the SECC negotiates in supportedAppProtocol (SAP), one per message family."""

from __future__ import annotations

from josev.v2g.sap import AppProtocol, Namespace

AC_URI = "urn:iso:std:iso:15118:-20:AC"
DC_URI = "urn:iso:std:iso:15118:-20:DC"

#: Version 1.0 of ISO 15118-20 (2022); WPT and ACDP are not offered.
NAMESPACES: tuple[Namespace, ...] = (
    Namespace(AC_URI, 1, 0, AppProtocol.ISO20),
    Namespace(DC_URI, 1, 0, AppProtocol.ISO20),
)
FAMILY_BY_URI: dict[str, str] = {AC_URI: "AC", DC_URI: "DC"}
