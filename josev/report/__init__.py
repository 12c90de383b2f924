"""Per-session conformance reports for the EV under test (``josev station --sim``, ``josev demo``).

The core is sans-IO and needs no plotting library: :func:`josev.report.core.build_report` takes the decoded
messages of one session (:class:`~josev.report.model.ReportMessage`, with their timestamps) and, optionally,
what the station did on purpose (:class:`~josev.report.model.StationAction`), and returns a
:class:`~josev.report.model.Report`: the message sequence with response times, the timing table against the
limits of DIN SPEC 70121 / ISO 15118-2 / ISO 15118-20 (:mod:`josev.report.limits`), every EV value checked
against its own announced limits and the schema's ranges (:mod:`josev.report.rules`), the car's reaction to the
station's actions (:mod:`josev.report.reaction`), and the series for the plots. ``Report.to_dict()`` is the
JSON file.

Around it: :mod:`josev.report.decode` turns a pcapng capture (or the V2G log's messages) into
``ReportMessage`` objects with the EXI codec; :mod:`josev.report.html` renders the self-contained HTML with
plotly (the ``report`` extra); :mod:`josev.report.files` writes ``<capture>.report.json`` and
``<capture>.report.html`` next to each session's pcapng.
"""

from josev.report.model import Finding, Report, ReportMessage, StationAction

__all__ = ["Finding", "Report", "ReportMessage", "StationAction"]
