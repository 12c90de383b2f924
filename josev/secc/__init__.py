"""SECC: SDP, V2GTP, supportedAppProtocol, the DIN SPEC 70121, ISO 15118-2 and ISO 15118-20 session cores and
their shell.

The cores are sans-IO: :class:`josev.secc.session.SeccSession` (one connection, every protocol) takes V2GTP bytes
(or decoded message dicts in the EXIficient JSON dialect), the current time and the contactor's answer, and
returns bytes to send, events and the next timer; :class:`josev.secc.machine.Engine` runs each protocol's table.
"""
