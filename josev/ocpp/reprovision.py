"""The CSMS settings of the configuration against those persisted in the OCPP store.

At the first start the ``[ocpp]`` ``csms_url`` and ``security_profile`` become network profile slot 1 in the
SQLite store (``network_profiles``), and from then on the store wins: the CSMS may change them
(SetNetworkProfile, SetVariables), and they must survive restarts. An operator who edits the configuration
afterwards would be silently ignored; so the configured values are remembered (``provisioned_config``) and
:func:`check` reports, at every start, each CSMS setting the configuration changed since. ``josev ocpp
reprovision`` (:func:`reprovision`, station stopped) makes the configuration's values the station's: slot 1
takes the URL and security profile, first in NetworkConfigurationPriority, and the configured password.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from josev.ocpp.config import OcppConfig
from josev.ocpp.store import Store

RECORD = "provisioned_config"
"""Store key: the configured CSMS settings last provisioned (the password only as a SHA-256 digest)."""

PROFILE = "SecurityCtrlr/SecurityProfile"
PASSWORD = "SecurityCtrlr/BasicAuthPassword"
PRIORITY = "OCPPCommCtrlr/NetworkConfigurationPriority"


def _digest(password: str | None) -> str | None:
    return hashlib.sha256(password.encode()).hexdigest() if password else None


def record(cfg: OcppConfig) -> dict[str, Any]:
    """What the configuration says about the CSMS connection."""
    return {
        "csms_url": cfg.csms_url,
        "security_profile": cfg.security_profile,
        "basic_auth_password_sha256": _digest(cfg.basic_auth_password),
    }


def _slot1(store: Store) -> dict[str, Any] | None:
    prof = store.get("network_profiles", {}) or {}
    value = prof.get("1")
    return value if isinstance(value, dict) else None


def changes(store: Store, cfg: OcppConfig) -> list[str]:
    """The CSMS settings the configuration changed since they were provisioned, as an operator reads them."""
    now = record(cfg)
    before = store.get(RECORD)
    if before is None:  # a store from before the record existed: compare with slot 1
        slot = _slot1(store) or {}
        before = {
            "csms_url": slot.get("ocppCsmsUrl", now["csms_url"]),
            "security_profile": slot.get("securityProfile", now["security_profile"]),
            "basic_auth_password_sha256": now["basic_auth_password_sha256"],
        }
    out = []
    if before["csms_url"] != now["csms_url"]:
        out.append(f"csms_url {before['csms_url']} -> {now['csms_url']}")
    if int(before["security_profile"]) != now["security_profile"]:
        out.append(f"security_profile {before['security_profile']} -> {now['security_profile']}")
    persisted = store.variables()
    if before["basic_auth_password_sha256"] != now["basic_auth_password_sha256"] and PASSWORD in persisted:
        out.append("basic_auth_password changed (the station keeps the one persisted, e.g. set by the CSMS)")
    return out


def check(store: Store, cfg: OcppConfig) -> list[str]:
    """At start: warnings for configured CSMS settings the store overrides; records the configuration when
    nothing differs (first start, or every setting already in effect)."""
    changed = changes(store, cfg)
    if not changed:
        store.put(RECORD, record(cfg))
        return []
    return [
        f"[ocpp] changed since the first start and NOT in effect: {'; '.join(changed)}. The station keeps the "
        f"settings in {store.path}; stop it and run `josev ocpp reprovision --config FILE` to apply them"
    ]


def reprovision(store: Store, cfg: OcppConfig) -> list[str]:
    """Make the configuration's CSMS settings the station's (station stopped); returns what changed."""
    changed = changes(store, cfg)
    prof = {int(k): v for k, v in (store.get("network_profiles", {}) or {}).items()}
    slot = dict(prof.get(1) or {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "messageTimeout": 30})
    slot.setdefault("ocppInterface", "Wired0")
    slot["ocppCsmsUrl"] = cfg.csms_url
    slot["securityProfile"] = cfg.security_profile
    prof[1] = slot
    # A lower configured profile is the operator's decision: the slots above it stay, slot 1 is tried first.
    store.put("network_profiles", {str(k): v for k, v in sorted(prof.items())})
    persisted = store.variables()
    order = [s for s in persisted.get(PRIORITY, "").split(",") if s.strip().isdigit() and int(s) in prof]
    store.set_variable(PRIORITY, ",".join(["1", *[s for s in order if s != "1"]]))
    store.set_variable(PROFILE, str(cfg.security_profile))
    if cfg.basic_auth_password:
        store.set_variable(PASSWORD, cfg.basic_auth_password)
    store.put(RECORD, record(cfg))
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    store.log_security(
        stamp,
        "ReconfigurationOfSecurityParameters",
        f"reprovisioned from the configuration: {'; '.join(changed) or 'no change'}",
        keep=1000,
    )
    return changed
