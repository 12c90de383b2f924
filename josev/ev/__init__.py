"""The EV simulator: SDP client, EVCC for DIN SPEC 70121 and ISO 15118-2 (AC, DC) with a configurable battery
and behaviour. :mod:`josev.ev.evcc` is the sans-IO core; :mod:`josev.ev.client` runs it over SDP and TCP."""
