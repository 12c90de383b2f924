"""What a Plug & Charge EV holds: its contract certificate chain, the contract key and its EMAID (and, for
certificate installation, its OEM provisioning credentials)."""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448

from josev.pnc import contract as cc
from josev.pnc import xmlsig


@dataclasses.dataclass(frozen=True)
class ContractCredentials:
    """The contract leaf and its Sub-CAs (DER, leaf side first) with the private key of the leaf."""

    leaf_der: bytes
    sub_ca_ders: tuple[bytes, ...]
    key: ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey

    @property
    def emaid(self) -> str:
        """The EMAID (the leaf's CN)."""
        return cc.common_name(cc.load_der(self.leaf_der, "contract certificate"))

    def chain(self, chain_id: str | None = None) -> dict[str, Any]:
        """``ContractSignatureCertChain`` as the messages carry it."""
        out: dict[str, Any] = {"Certificate": base64.b64encode(self.leaf_der).decode()}
        if chain_id:
            out = {"Id": chain_id, **out}
        if self.sub_ca_ders:
            out["SubCertificates"] = {"Certificate": [base64.b64encode(d).decode() for d in self.sub_ca_ders]}
        return out

    def sign(self, suite: xmlsig.Suite, references: list[tuple[str, bytes]]) -> dict[str, Any]:
        """A header ``Signature`` over ``references`` with the contract key."""
        return xmlsig.sign(suite, self.key, references)

    @classmethod
    def from_pki(cls, folder: Path) -> ContractCredentials:
        """From a ``josev pki create`` profile folder (``certs/contract_leaf.der``, ``mo_sub_ca2``, ``mo_sub_ca1``,
        ``keys/contract_leaf.key``)."""
        certs = folder / "certs"
        leaf = (certs / "contract_leaf.der").read_bytes()
        subs = tuple((certs / f"{n}.der").read_bytes() for n in ("mo_sub_ca2", "mo_sub_ca1"))
        key = serialization.load_pem_private_key((folder / "keys" / "contract_leaf.key").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey):
            raise ValueError("the contract key is not an EC or Ed448 key")
        return cls(leaf, subs, key)


@dataclass(frozen=True)
class ProvisioningCredentials:
    """What an EV without a contract holds for certificate installation: its OEM provisioning certificate and
    key, and the V2G roots it trusts (to check the certificate provisioning service's chain)."""

    oem_der: bytes
    key: ec.EllipticCurvePrivateKey
    v2g_roots_der: tuple[bytes, ...]

    def root_ids(self) -> dict[str, Any]:
        """``ListOfRootCertificateIDs`` (issuer and serial of every trusted V2G root)."""
        ids = []
        for der in self.v2g_roots_der:
            cert = cc.load_der(der, "V2G root")
            ids.append(
                {"X509IssuerName": cert.issuer.rfc4514_string(), "X509SerialNumber": cert.serial_number}
            )
        return {"RootCertificateID": ids}

    @classmethod
    def from_pki(cls, folder: Path) -> ProvisioningCredentials:
        """From a ``josev pki create`` profile folder (``certs/oem_prov_leaf.der``, ``keys/oem_prov_leaf.key``,
        ``certs/v2g_root.der``)."""
        certs = folder / "certs"
        key = serialization.load_pem_private_key((folder / "keys" / "oem_prov_leaf.key").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the OEM provisioning key is not an EC key")
        return cls((certs / "oem_prov_leaf.der").read_bytes(), key, ((certs / "v2g_root.der").read_bytes(),))
