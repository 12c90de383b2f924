"""TX checksum offload off: now done for every veth end by :mod:`tests.util.netns` (kept for old imports)."""

from __future__ import annotations

from tests.util.netns import disable_tx_checksum

__all__ = ["disable_tx_checksum"]
