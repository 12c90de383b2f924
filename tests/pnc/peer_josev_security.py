"""Runs inside .venv-peers (the open-source Josev, PyPI ``iso15118``), never imported by josev: its own EXI codec
(the EXIficient jar) and its own security functions check what josev produced, and produce what josev must
accept. One JSON request on stdin, one JSON answer on stdout."""

import base64
import json
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from iso15118.shared import security
from iso15118.shared.exi_codec import EXI
from iso15118.shared.exificient_exi_codec import ExificientEXICodec
from iso15118.shared.messages.enums import Namespace
from iso15118.shared.messages.iso15118_2.body import AuthorizationReq, Body
from iso15118.shared.messages.iso15118_2.header import MessageHeader
from iso15118.shared.messages.iso15118_2.msgdef import V2GMessage
from iso15118.shared.settings import SettingKey, shared_settings

req = json.loads(sys.stdin.read())
shared_settings.update({SettingKey.MESSAGE_LOG_EXI: False, SettingKey.MESSAGE_LOG_JSON: False})
EXI().set_exi_codec(ExificientEXICodec())
out = {}
if req["op"] == "verify_our_signature":
    # decode OUR whole EXI message with THEIR codec, re-encode the signed body with THEIR codec, verify
    msg = EXI().from_exi(base64.b64decode(req["exi"]), Namespace.ISO_V2_MSG_DEF)
    body = msg.body.authorization_req
    frag = EXI().to_exi(body, Namespace.ISO_V2_MSG_DEF)
    ok = security.verify_signature(msg.header.signature, [(body.id, frag)], base64.b64decode(req["cert"]))
    out = {"ok": bool(ok), "fragment": frag.hex()}
elif req["op"] == "their_signature":
    key = serialization.load_der_private_key(base64.b64decode(req["key"]), None)
    body = AuthorizationReq(id="ID1", gen_challenge=base64.b64decode(req["challenge"]))
    frag = EXI().to_exi(body, Namespace.ISO_V2_MSG_DEF)
    sig = security.create_signature([("ID1", frag)], key)
    header = MessageHeader(session_id="0102030405060708", signature=sig)
    wire = EXI().to_exi(
        V2GMessage(header=header, body=Body(authorization_req=body)), Namespace.ISO_V2_MSG_DEF
    )
    out = {"exi": wire.hex(), "fragment": frag.hex()}
elif req["op"] == "decrypt_our_key":
    ev_key = serialization.load_der_private_key(base64.b64decode(req["ev_key"]), None)
    dh = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), base64.b64decode(req["dh"]))
    out = {"value": security.decrypt_priv_key(base64.b64decode(req["enc"]), ev_key, dh).hex()}
elif req["op"] == "their_encrypted_key":
    key = serialization.load_der_private_key(base64.b64decode(req["contract_key"]), None)
    dh, enc = security.encrypt_priv_key(base64.b64decode(req["oem_cert"]), key)
    dh_bytes = (
        dh
        if isinstance(dh, bytes)
        else dh.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    out = {"dh": base64.b64encode(dh_bytes).decode(), "enc": base64.b64encode(enc).decode()}
print(json.dumps(out))
