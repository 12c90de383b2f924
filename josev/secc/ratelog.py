"""Log lines that rate-limit themselves: what a peer can trigger must not fill the disk.

:class:`RateLimitFilter` lets through at most ``burst`` records of one kind (logger + format string) per
``window`` seconds; the rest are counted and the next record of that kind let through says how many were
suppressed. The SECC logs everything a peer can cause on :data:`PEER_LOG` (``josev.secc.peer``), which has
the filter attached.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

MAX_KINDS = 512


class RateLimitFilter(logging.Filter):
    """At most ``burst`` records per kind and ``window`` seconds (see the module docstring)."""

    def __init__(
        self, burst: int = 10, window: float = 10.0, clock: Callable[[], float] | None = None
    ) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self.clock = clock
        self.suppressed_total = 0
        self._kinds: OrderedDict[tuple[str, str], list[float]] = OrderedDict()  # [start, count, suppressed]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self.clock() if self.clock is not None else record.created  # the record's own time by default
        st = self._kinds.get(key)
        if st is None or now - st[0] >= self.window:
            suppressed = int(st[2]) if st is not None else 0
            st = [now, 0.0, 0.0]
            self._kinds[key] = st
            self._kinds.move_to_end(key)
            while len(self._kinds) > MAX_KINDS:
                self._kinds.popitem(last=False)
            if suppressed:
                record.msg = f"{record.msg} ({suppressed} similar messages suppressed)"
        if st[1] >= self.burst:
            st[2] += 1
            self.suppressed_total += 1
            return False
        st[1] += 1
        return True


PEER_LOG = logging.getLogger("josev.secc.peer")
"""What a peer causes (connections, refusals, protocol errors): rate-limited."""
PEER_FILTER = RateLimitFilter()
PEER_LOG.addFilter(PEER_FILTER)
