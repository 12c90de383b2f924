"""What the station (:mod:`josev.secc`) and the EV simulator (:mod:`josev.ev`) both use, sans-IO where it can be:
V2GTP framing (:mod:`.v2gtp`), SDP (:mod:`.sdp`), supportedAppProtocol negotiation (:mod:`.sap`), the codec
seam (:mod:`.codec`), physical values (:mod:`.physical`), the signed SalesTariff (:mod:`.sales_tariff`), the
ISO 15118-20 namespaces and rational numbers (:mod:`.iso20`), and link-local address lookup (:mod:`.netif`,
the one I/O shell here).

``josev.ev`` imports nothing from ``josev.secc`` (``tests/foundation/test_ev_imports.py``): an EV under test and
the station it talks to share only this package.
"""
