"""EXI samples shared by the OCPP tests (the CSMS's side of ISO 15118 messages)."""

from __future__ import annotations

import base64

import josev.exi as exi


def installation_res() -> str:
    """A CertificateInstallationRes (ISO 15118-2) as the CSMS returns it: EXI, base64."""

    def b64(n: int, c: int) -> str:
        return base64.b64encode(bytes([c]) * n).decode()

    msg = {
        "V2G_Message": {
            "Header": {"SessionID": "0899A6647929A1B0"},
            "Body": {
                "CertificateInstallationRes": {
                    "ResponseCode": "OK",
                    "SAProvisioningCertificateChain": {"Certificate": b64(40, 0)},
                    "ContractSignatureCertChain": {"Id": "id1", "Certificate": b64(40, 1)},
                    "ContractSignatureEncryptedPrivateKey": {"Id": "id2", "value": b64(48, 2)},
                    "DHpublickey": {"Id": "id3", "value": b64(65, 4)},
                    "eMAID": {"Id": "id4", "value": "DEJOSC00000001"},
                }
            },
        }
    }
    return base64.b64encode(exi.encode("iso2", msg)).decode()
