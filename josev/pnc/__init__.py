"""Plug & Charge cryptography shared by the SECC, the EV simulator and the CSMS stand-in (sans-IO).

- :mod:`josev.pnc.xmlsig`: the XML signatures of ISO 15118-2 and -20, computed over EXI fragments;
- :mod:`josev.pnc.contract`: contract certificate chains checked against the MO / V2G roots, EMAID rules, and
  the OCSP certificate hash data OCPP carries;
- :mod:`josev.pnc.keywrap`: the contract private key encrypted for the EV in CertificateInstallationRes.

Every failure is a :class:`PncError` carrying the response code the standard names for it, so a handler answers
with that code and the bus event says why.
"""

from __future__ import annotations


class PncError(Exception):
    """A Plug & Charge check failed; ``code`` is the response code to answer with (e.g.
    ``FAILED_SignatureError``), ``detail`` says what exactly was wrong (never key material)."""

    def __init__(self, code: str, detail: str, kind: str = "") -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        #: finer reason where one code covers several (``unknown_root``, ``not_yet_valid``, ``expired``)
        self.kind = kind
