"""SECC: SDP, V2GTP, supportedAppProtocol, DIN SPEC 70121 and ISO 15118-2 session cores and their shells.

The cores are sans-IO: :class:`josev.secc.session.SeccSession` takes V2GTP bytes (or decoded message dicts in
the EXIficient JSON dialect) and the current time, and returns bytes to send, events and the next timer.
"""
