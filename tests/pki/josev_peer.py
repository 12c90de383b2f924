# mypy: ignore-errors
# (run by the peer venv with PyPI iso15118, which the josev venv does not have)
"""Run by the *peer* venv (.venv-peers, PyPI ``iso15118``), never imported by josev or its tests.

Loads a PKI_PATH layout with the open-source Josev's own loaders, then (optionally) performs a TLS handshake
with its own EVCC SSL context against a server, and prints one JSON line with what happened.
Usage: python josev_peer.py PKI_PATH [HOST PORT]    (ENABLE_TLS_1_3 from the environment)
"""

import json
import os
import socket
import sys

pki_path = sys.argv[1]
os.environ["PKI_PATH"] = pki_path
os.environ.setdefault("MESSAGE_LOG_JSON", "false")

from iso15118.shared.settings import load_shared_settings  # noqa: E402

load_shared_settings()

from iso15118.shared import security as s  # noqa: E402

out = {}
# every file the Josev EV reads for TLS and Plug & Charge
for name in (
    "V2G_ROOT_DER",
    "OEM_LEAF_DER",
    "OEM_SUB_CA1_DER",
    "OEM_SUB_CA2_DER",
    "OEM_ROOT_DER",
    "CONTRACT_LEAF_DER",
    "MO_SUB_CA1_DER",
    "MO_SUB_CA2_DER",
    "MO_ROOT_DER",
    "CPS_LEAF_DER",
):
    out[name] = len(s.load_cert(getattr(s.CertPath, name)))
for key, pw in (
    ("OEM_LEAF_PEM", "OEM_LEAF_KEY_PASSWORD"),
    ("CONTRACT_LEAF_PEM", "CONTRACT_LEAF_KEY_PASSWORD"),
    ("MO_SUB_CA2_PEM", "MO_SUB_CA2_PASSWORD"),
    ("CPS_LEAF_PEM", "CPS_LEAF_KEY_PASSWORD"),
):
    k = s.load_priv_key(getattr(s.KeyPath, key), s.KeyEncoding.PEM, getattr(s.KeyPasswordPath, pw))
    out[key] = k.curve.name
out["emaid"] = s.get_cert_cn(s.load_cert(s.CertPath.CONTRACT_LEAF_DER))
out["secc_ctx"] = s.get_ssl_context(True) is not None

if len(sys.argv) > 3:
    ctx = s.get_ssl_context(False)
    with (
        socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=None) as tls,
    ):
        out["version"] = tls.version()
        out["cipher"] = tls.cipher()[0]
        tls.sendall(b"ping")
        out["echo"] = tls.recv(10).decode()
print(json.dumps(out))
