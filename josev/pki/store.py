"""Reading and writing a PKI on disk: josev's own layout.

Layout of ``josev pki create --out DIR`` (one folder per profile)::

    DIR/<profile>/manifest.json          profile, certificate names, roles, file names
    DIR/<profile>/certs/<name>.pem       every certificate, PEM ...
    DIR/<profile>/certs/<name>.der       ... and DER (ISO 15118 messages carry DER)
    DIR/<profile>/chains/<chain>.pem     leaf, Sub-CA 2, Sub-CA 1 (no root): what a TLS endpoint sends
    DIR/<profile>/keys/<name>.key        private keys, PKCS#8 PEM, mode 0600, folder mode 0700

Private keys are created with mode 0600 from the first byte on (``os.open`` with the mode, then ``fchmod`` in
case the file already existed); their content is never logged or printed.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from josev.pki.builder import Issued, Pki, PkiError, PrivateKey
from josev.pki.profiles import BY_NAME, CHAIN_ROOT, CHAINS, PROFILES

KEY_MODE = 0o600
KEY_DIR_MODE = 0o700


def write_private(path: Path, data: bytes) -> None:
    """Write secret ``data`` to ``path`` with mode 0600 (created so; tightened if the file existed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, KEY_MODE)
    try:
        os.fchmod(fd, KEY_MODE)
        os.write(fd, data)
    finally:
        os.close(fd)


def key_pem(key: PrivateKey, password: bytes | None = None, *, traditional: bool = False) -> bytes:
    """``key`` as PEM: PKCS#8 by default, the OpenSSL "EC PRIVATE KEY" format when ``traditional``."""
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc)


def cert_pem(cert: x509.Certificate) -> bytes:
    """``cert`` PEM-encoded."""
    return cert.public_bytes(serialization.Encoding.PEM)


def chain_pem(pki: Pki, names: tuple[str, ...]) -> bytes:
    """The concatenated PEM of certificates ``names`` (those present in ``pki``)."""
    return b"".join(cert_pem(pki.cert(n)) for n in names if n in pki.items)


def profile_dir(out: Path, pki: Pki) -> Path:
    """Folder of ``pki`` under ``out``."""
    return out / pki.profile.name


def write_pki(pki: Pki, out: Path) -> Path:
    """Write ``pki`` in josev's layout under ``out``/<profile>; returns that folder."""
    base = profile_dir(out, pki)
    (base / "certs").mkdir(parents=True, exist_ok=True)
    (base / "chains").mkdir(parents=True, exist_ok=True)
    keys = base / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    os.chmod(keys, KEY_DIR_MODE)
    manifest: dict[str, Any] = {"profile": pki.profile.name, "standard": pki.profile.standard, "certs": {}}
    for name, item in pki.items.items():
        (base / "certs" / f"{name}.pem").write_bytes(cert_pem(item.cert))
        (base / "certs" / f"{name}.der").write_bytes(item.cert.public_bytes(serialization.Encoding.DER))
        write_private(keys / f"{name}.key", key_pem(item.key))
        manifest["certs"][name] = {
            "role": item.spec.role,
            "issuer": item.spec.issuer,
            "cert": f"certs/{name}.pem",
            "key": f"keys/{name}.key",
        }
    manifest["chains"] = {}
    for chain, names in CHAINS.items():
        if all(n in pki.items for n in names):
            (base / "chains" / f"{chain}.pem").write_bytes(chain_pem(pki, names))
            manifest["chains"][chain] = {
                "file": f"chains/{chain}.pem",
                "root": f"certs/{CHAIN_ROOT[chain]}.pem",
            }
    (base / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return base


def find_profiles(directory: Path) -> list[Path]:
    """Profile folders (those holding a manifest.json) in ``directory``, or ``directory`` itself."""
    if (directory / "manifest.json").is_file():
        return [directory]
    found = sorted(p.parent for p in directory.glob("*/manifest.json"))
    if not found:
        raise PkiError(f"{directory}: no manifest.json here nor in a sub-folder (not a josev PKI folder)")
    return found


def load_cert(path: Path) -> x509.Certificate:
    """Read a PEM or DER certificate; a clear :class:`PkiError` when it is missing or malformed."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PkiError(f"{path}: cannot read certificate: {exc.strerror}") from exc
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise PkiError(f"{path}: not a valid certificate ({exc})") from exc


def load_key(path: Path, password: bytes | None = None) -> PrivateKey:
    """Read a private key; the error never contains key material."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PkiError(f"{path}: cannot read private key: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password)
    except (ValueError, TypeError) as exc:
        raise PkiError(f"{path}: not a readable private key (wrong format or password)") from exc
    from cryptography.hazmat.primitives.asymmetric import ec, ed448

    if not isinstance(key, ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey):
        raise PkiError(f"{path}: key type {type(key).__name__} is not used in a V2G PKI")
    return key


def key_mode_ok(path: Path) -> bool:
    """True when ``path`` is readable by its owner only (no group/other bits)."""
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def load_pki(base: Path) -> Pki:
    """Load a profile folder written by :func:`write_pki` (keys included)."""
    try:
        manifest = json.loads((base / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise PkiError(f"{base}/manifest.json: unreadable ({exc})") from exc
    profile = PROFILES.get(manifest.get("profile", ""))
    if profile is None:
        raise PkiError(f"{base}/manifest.json: unknown profile {manifest.get('profile')!r}")
    items: dict[str, Issued] = {}
    for name, entry in manifest["certs"].items():
        if name not in BY_NAME:
            raise PkiError(f"{base}/manifest.json: unknown certificate {name!r}")
        items[name] = Issued(BY_NAME[name], load_cert(base / entry["cert"]), load_key(base / entry["key"]))
    return Pki(profile, items)
