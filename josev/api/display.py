"""The display interface: what the station's display at each EVSE shows.

**Out** (published by the ``ocpp`` service, which owns the display messages of OCPP 2.0.1 blocks O (display
messages from the CSMS) and I (tariff and cost)):

* :class:`DisplayState` (retained, per EVSE) - the lines to show, in display order, plus the tariff and cost as
  values. A display driver (a HAL board with a display, a web panel) subscribes to it and renders ``lines``;
  the simulator board records and prints them; ``josev status`` shows the first line, the tariff and the cost.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from josev.api.base import State

Priority = Literal["AlwaysFront", "InFront", "NormalCycle"]


class DisplayLine(BaseModel):
    """One message to show."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    text: str = Field(max_length=1024)
    """The content (ASCII or UTF-8 text, or a URI the display may fetch when ``format`` is URI)."""
    format: Literal["ASCII", "UTF8", "URI", "HTML"] = "UTF8"
    """OCPP MessageFormatEnumType of ``text``."""
    priority: Priority = "NormalCycle"
    """AlwaysFront: shown alone until it ends; InFront: before the cycle; NormalCycle: rotated with the others."""
    language: str | None = None
    """RFC 5646 language tag, when the CSMS gave one."""
    source: Literal["csms", "tariff", "cost", "fallback"] = "csms"
    """Who produced it: a CSMS display message, the driver's tariff / cost, or a fallback text."""
    message_id: int | None = None
    """The CSMS display message id (None for tariff and cost lines)."""


class DisplayState(State):
    """What the display at this EVSE shows now (published whenever it changes)."""

    service: ClassVar[str] = "ocpp"
    name: ClassVar[str] = "display"
    per_evse: ClassVar[bool] = True

    lines: list[DisplayLine] = Field(default_factory=list)
    """In display order: AlwaysFront, then InFront, then the NormalCycle messages to rotate."""
    tariff: str | None = None
    """The driver's tariff text (the CSMS personalMessage, else TariffCostCtrlr.TariffFallbackMessage)."""
    running_cost: float | None = None
    """Running cost of the transaction (CostUpdated, TransactionEvent response totalCost)."""
    total_cost: float | None = None
    """Final cost of the last transaction (totalCost of the Ended event's response)."""
    currency: str = "EUR"
    """ISO 4217 code (TariffCostCtrlr.Currency)."""
    transaction_id: str | None = None
    """The transaction the cost belongs to."""
