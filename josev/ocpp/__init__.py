"""OCPP 2.0.1 charging-station client (OCA Core profile).

Layout: :mod:`rpc` (OCPP-J framing), :mod:`schemas` (validation), :mod:`devmodel` (device model),
:mod:`store` (SQLite persistence and the message queue; :mod:`walsync`, its thread that fsyncs off the event
loop), :mod:`core` (the sans-IO station core with its
routing table), one module per functional block (:mod:`provisioning`, :mod:`authorization`,
:mod:`availability`, :mod:`transactions`, :mod:`remote`, :mod:`security`, :mod:`firmware`, :mod:`logs`,
:mod:`datatransfer`), :mod:`backoff` and :mod:`connection` (the thin websocket shell).
"""
