"""What a Plug & Charge EV holds: its contract certificate chain, the contract key and its EMAID (and, for
certificate installation, its OEM provisioning credentials)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448

from josev.pnc import PncError, cps, keywrap, xmlsig
from josev.pnc import contract as cc


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

    def expires_within(self, at: datetime, seconds: float) -> bool:
        """Whether the contract leaf expires within ``seconds`` of ``at`` (time to renew it)."""
        leaf = cc.load_der(self.leaf_der, "contract certificate")
        return bool(leaf.not_valid_after_utc - at <= timedelta(seconds=seconds))

    def facts(self) -> dict[str, str]:
        """What identifies this contract, for a report: the EMAID, the SHA-256 of the leaf (DER) and of the
        public key of the private key held (SubjectPublicKeyInfo DER), which must be the leaf's."""
        spki = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "emaid": self.emaid,
            "leaf_sha256": hashlib.sha256(self.leaf_der).hexdigest(),
            "key_sha256": hashlib.sha256(spki).hexdigest(),
        }

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


def certificate_update_body(old: ContractCredentials, prov: ProvisioningCredentials) -> dict[str, Any]:
    """The body of an ISO 15118-2 CertificateUpdateReq ([V2G2-826..835]): the old contract chain, its EMAID and
    the V2G roots the EV trusts (signed with the old contract key by the caller, see
    :func:`certificate_update_signature`)."""
    return {
        "Id": "ID1",
        "ContractSignatureCertChain": old.chain("ID2"),
        "eMAID": old.emaid,
        "ListOfRootCertificateIDs": prov.root_ids(),
    }


def certificate_update_signature(old: ContractCredentials, body: dict[str, Any]) -> dict[str, Any]:
    """The header Signature of a CertificateUpdateReq: the old contract key over the request body."""
    return old.sign(xmlsig.ISO2, [(body["Id"], xmlsig.fragment("iso2", "CertificateUpdateReq", body))])


def accept_iso2_response(
    response: dict[str, Any],
    ev_key: ec.EllipticCurvePrivateKey,
    prov: ProvisioningCredentials,
    at: datetime,
) -> ContractCredentials:
    """The contract of an ISO 15118-2 CertificateInstallationRes / CertificateUpdateRes (decoded message):
    the provisioning service's chain up to one of the EV's V2G roots and its signature over the four signed
    elements, then the contract key decrypted with ``ev_key`` (the OEM provisioning key, or the old contract key
    for an update), which must belong to the contract certificate and match the EMAID. Raises
    :class:`PncError`."""
    body = next(iter(response["V2G_Message"]["Body"].values()))
    roots = [cc.load_der(d, "V2G root") for d in prov.v2g_roots_der]
    cps.verify_iso2_response(response, roots, at)
    key = keywrap.decrypt_iso2(
        ev_key,
        base64.b64decode(body["DHpublickey"]["value"]),
        base64.b64decode(body["ContractSignatureEncryptedPrivateKey"]["value"]),
    )
    chain = body["ContractSignatureCertChain"]
    leaf = base64.b64decode(chain["Certificate"])
    subs = tuple(base64.b64decode(c) for c in (chain.get("SubCertificates") or {}).get("Certificate", []))
    if cc.load_der(leaf, "contract").public_key() != key.public_key():
        raise PncError("FAILED", "the decrypted key does not belong to the contract certificate")
    out = ContractCredentials(leaf, subs, key)
    emaid = body["eMAID"]["value"] if isinstance(body.get("eMAID"), dict) else body.get("eMAID")
    if emaid != out.emaid:
        raise PncError("FAILED", f"eMAID {emaid!r} is not the contract's {out.emaid!r}")
    return out


@dataclass(frozen=True)
class ProvisioningCredentials20:
    """ISO 15118-20 certificate installation: the OEM provisioning chain (leaf and Sub-CAs, DER, leaf side
    first) with the leaf's key (P-521 or Ed448), and the V2G roots the EV trusts."""

    oem_der: bytes
    sub_ca_ders: tuple[bytes, ...]
    key: ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey
    v2g_roots_der: tuple[bytes, ...]

    @property
    def pcid(self) -> str:
        """The PCID (the OEM provisioning certificate's CN)."""
        return cc.common_name(cc.load_der(self.oem_der, "OEM provisioning certificate"))

    def chain(self, chain_id: str) -> dict[str, Any]:
        """``OEMProvisioningCertificateChain`` (a SignedCertificateChainType with ``Id``)."""
        out: dict[str, Any] = {"Id": chain_id, "Certificate": base64.b64encode(self.oem_der).decode()}
        if self.sub_ca_ders:
            out["SubCertificates"] = {"Certificate": [base64.b64encode(d).decode() for d in self.sub_ca_ders]}
        return out

    def root_ids(self) -> dict[str, Any]:
        """``ListOfRootCertificateIDs`` (issuer and serial number of every trusted V2G root)."""
        ids = []
        for der in self.v2g_roots_der:
            cert = cc.load_der(der, "V2G root")
            ids.append(
                {"X509IssuerName": cert.issuer.rfc4514_string(), "X509SerialNumber": cert.serial_number}
            )
        return {"RootCertificateID": ids}

    def request(self, header: dict[str, Any], maximum: int = 1) -> dict[str, Any]:
        """The CertificateInstallationReq message, signed over ``OEMProvisioningCertificateChain`` with the OEM
        provisioning key (``header`` is the SessionID / TimeStamp header)."""
        chain = self.chain("ID1")
        suite = next(s for s in xmlsig.ISO20_SUITES if s.key_fits(self.key))
        fragment = xmlsig.fragment("iso20-cm", "OEMProvisioningCertificateChain", chain)
        signature = xmlsig.sign(suite, self.key, [("ID1", fragment)])
        body = {
            "Header": {**header, "Signature": signature},
            "OEMProvisioningCertificateChain": chain,
            "ListOfRootCertificateIDs": self.root_ids(),
            "MaximumContractCertificateChains": maximum,
        }
        return {"CertificateInstallationReq": body}

    def install(self, response: dict[str, Any], at: Any) -> ContractCredentials:
        """From a CertificateInstallationRes: check the CPS chain (up to a trusted V2G root) and its signature
        over ``SignedInstallationData``, decrypt the contract key (ECDH P-521, AES-GCM) and check that it
        belongs to the contract certificate. Raises :class:`~josev.pnc.PncError`."""
        from josev.pnc import PncError, cps, keywrap

        roots = [cc.load_der(d, "V2G root") for d in self.v2g_roots_der]
        cps.verify_iso20_response(response, roots, at)
        signed = response["CertificateInstallationRes"]["SignedInstallationData"]
        chain = signed["ContractCertificateChain"]
        leaf = base64.b64decode(chain["Certificate"])
        subs = tuple(base64.b64decode(c) for c in (chain.get("SubCertificates") or {}).get("Certificate", []))
        leaf_cert = cc.load_der(leaf, "contract certificate")
        if (
            not isinstance(self.key, ec.EllipticCurvePrivateKey)
            or "SECP521_EncryptedPrivateKey" not in signed
        ):
            raise PncError("FAILED", "only SECP521 key agreement is implemented (no X448)")
        key = keywrap.decrypt_iso20(
            self.key,
            base64.b64decode(signed["DHPublicKey"]),
            base64.b64decode(signed["SECP521_EncryptedPrivateKey"]),
            self.pcid,
            leaf_cert,
        )
        if leaf_cert.public_key() != key.public_key():
            raise PncError("FAILED", "the decrypted key does not belong to the contract certificate")
        return ContractCredentials(leaf, subs, key)

    @classmethod
    def from_pki(cls, folder: Path) -> ProvisioningCredentials20:
        """From a ``josev pki create`` -20 profile folder (``oem_prov_leaf`` and its Sub-CAs, ``v2g_root``)."""
        certs = folder / "certs"
        key = serialization.load_pem_private_key((folder / "keys" / "oem_prov_leaf.key").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey):
            raise ValueError("the OEM provisioning key is not an EC or Ed448 key")
        subs = tuple((certs / f"{n}.der").read_bytes() for n in ("oem_sub_ca2", "oem_sub_ca1"))
        return cls(
            (certs / "oem_prov_leaf.der").read_bytes(), subs, key, ((certs / "v2g_root.der").read_bytes(),)
        )
