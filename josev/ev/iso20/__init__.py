"""The ISO 15118-20 EVCC of the EV simulator: AC, DC, AC BPT, DC BPT; scheduled and dynamic control modes."""

from josev.ev.iso20.evcc import PROTOCOLS, Evcc20, Iso20Behaviour

__all__ = ["PROTOCOLS", "Evcc20", "Iso20Behaviour"]
