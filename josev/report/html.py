"""The self-contained HTML of a report: tables plus plotly plots, with plotly.js embedded (works offline).

Needs the ``report`` extra (``plotly``); :func:`render_html` raises :class:`ImportError` with the install hint
when it is missing. The report's core (:mod:`josev.report.core`) does not import this module.
"""

from __future__ import annotations

import html
import json
from typing import Any

from josev.report.model import Finding, Report

MAX_ROWS = 5000
"""Message rows shown in the HTML (the JSON has all of them)."""

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#1d232a;max-width:1400px}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0} th,td{border:1px solid #d5d9e0;padding:.2em .5em;text-align:left;vertical-align:top}
th{background:#eef1f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
.error{background:#fde2e1} .warning{background:#fff3cd} .info{background:#e8f1fb} .ok{background:#e3f6e5}
.verdict{display:inline-block;padding:.2em .8em;border-radius:.3em;font-weight:bold}
.pass{background:#2e7d32;color:#fff} .fail{background:#c62828;color:#fff} .none{background:#777;color:#fff}
.meta td:first-child{font-weight:bold} .ev{color:#0b5394} .secc{color:#7a3e00} .small{color:#555;font-size:.85em}
.plots{display:flex;flex-direction:column;gap:1em}
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _findings_table(fs: list[Finding], t_label: str = "t [s]", *, measured: bool = False) -> str:
    """The findings as a table; ``measured``: with the measured value against the allowed one (reactions)."""
    if not fs:
        return "<p>none</p>"
    rows = []
    for f in fs:
        t = "" if f.t is None else f"{f.t:.3f}"
        msg = "" if f.message is None else f"#{f.message} {f.message_name}"
        vs = ""
        if measured:
            v = "-" if f.value is None else f"{f.value:.3g}"
            lim = "-" if f.limit is None else f"{f.limit:g}"
            vs = f'<td class="num">{v} / {lim}</td>'
        rows.append(
            f'<tr class="{_e(f.severity)}"><td>{_e(f.severity)}</td><td>{_e(f.subject)}</td>'
            f'<td class="num">{t}</td><td>{_e(msg)}</td><td><code>{_e(f.rule)}</code></td>{vs}'
            f"<td>{_e(f.text)}</td><td>{_e(f.clause)}</td></tr>"
        )
    head = "<th>measured / allowed</th>" if measured else ""
    return (
        f'<table class="findings"><tr><th>severity</th><th>who</th><th>{t_label}</th><th>message</th>'
        f"<th>rule</th>{head}<th>what happened</th><th>clause</th></tr>" + "".join(rows) + "</table>"
    )


def _figures(report: Report) -> list[tuple[str, str, Any]]:
    import plotly.graph_objects as go  # type: ignore[import-untyped,import-not-found,unused-ignore]

    s = report.series
    t = s.get("t", [])
    span = (
        max(float(report.meta.get("duration_s") or 0.0), max((x for x in t if x is not None), default=0.0))
        * 1.02
    )
    figs: list[tuple[str, str, Any]] = []

    def lines(spec: list[tuple[str, str, str, float]], title: str, unit: str, div: str) -> None:
        traces = []
        for key, label, dash, scale in spec:
            pts = [(x, y * scale) for x, y in zip(t, s.get(key, []), strict=False) if y is not None]
            if pts:
                traces.append(
                    go.Scatter(
                        x=[p[0] for p in pts],
                        y=[p[1] for p in pts],
                        name=label,
                        mode="lines+markers",
                        line={"dash": dash, "shape": "hv"},
                        marker={"size": 4},
                    )
                )
        if traces:
            fig = go.Figure(traces)
            fig.update_layout(
                title=title,
                xaxis_title="time since the first message [s]",
                xaxis_range=[0, span],
                yaxis_title=unit,
                height=340,
                margin={"l": 60, "r": 20, "t": 50, "b": 50},
                legend={"orientation": "h", "y": -0.25},
            )
            figs.append((div, title, fig))

    lines(
        [
            ("ev_target_voltage", "EV target voltage", "solid", 1.0),
            ("evse_present_voltage", "EVSE present voltage", "solid", 1.0),
            ("ev_max_voltage", "EV maximum voltage", "dot", 1.0),
            ("evse_max_voltage", "EVSE maximum voltage", "dash", 1.0),
        ],
        "Voltage",
        "V",
        "plot-voltage",
    )
    lines(
        [
            ("ev_target_current", "EV target current", "solid", 1.0),
            ("evse_present_current", "EVSE present current", "solid", 1.0),
        ],
        "Current",
        "A",
        "plot-current",
    )
    lines(
        [
            ("ev_target_power", "EV target power", "solid", 1e-3),
            ("evse_present_power", "EVSE present power", "solid", 1e-3),
        ],
        "Power",
        "kW",
        "plot-power",
    )
    lines([("soc", "state of charge", "solid", 1.0)], "State of charge", "%", "plot-soc")
    if report.response_times:
        fig = go.Figure(
            [
                go.Scatter(
                    x=[p[0] for p in pts],
                    y=[p[1] * 1e3 for p in pts],
                    name=name,
                    mode="markers",
                    marker={"size": 6},
                )
                for name, pts in report.response_times.items()
            ]
        )
        fig.update_layout(
            title="Response time per request type",
            xaxis_title="time of the request [s]",
            xaxis_range=[0, span],
            yaxis_title="ms",
            yaxis_type="log",
            height=380,
            margin={"l": 60, "r": 20, "t": 50, "b": 50},
        )
        figs.append(("plot-response-times", "Response times", fig))
    return figs


def render_html(report: Report) -> str:
    """The report as one self-contained HTML document."""
    try:
        import plotly.io as pio  # type: ignore[import-untyped,import-not-found,unused-ignore]
        from plotly.offline import get_plotlyjs  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise ImportError("the HTML report needs plotly: pip install 'josev[report]'") from e

    meta = report.meta
    verdict = report.verdict
    vclass = {"pass": "pass", "fail": "fail"}.get(verdict, "none")
    meta_rows = "".join(
        f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>"
        for k, v in meta.items()
        if not isinstance(v, dict | list) or v
    )
    timing_rows = "".join(
        f"<tr><td>{_e(t.request)}</td><td class=num>{t.count}</td><td class=num>{t.min_s * 1e3:.1f}</td>"
        f"<td class=num>{t.median_s * 1e3:.1f}</td><td class=num>{t.max_s * 1e3:.1f}</td>"
        f"<td class=num>{'' if t.performance_s is None else f'{t.performance_s * 1e3:g}'}</td>"
        f"<td class=num>{'' if t.ev_timeout_s is None else f'{t.ev_timeout_s * 1e3:g}'}</td>"
        f'<td class="num{" warning" if t.over_performance else ""}">{t.over_performance}</td></tr>'
        for t in report.timings
    )
    clause = _e(report.timings[0].clause) if report.timings else ""
    action_rows = "".join(
        f"<tr><td class=num>{a.t - (meta.get('start_epoch') or a.t):.3f}</td><td>{_e(a.kind)}</td>"
        f"<td>{_e(a.request)}</td><td>{_e(json.dumps(dict(a.detail)))}</td></tr>"
        for a in report.actions
    )
    msg_rows = []
    for r in report.rows[:MAX_ROWS]:
        cls = "ev" if r["dir"] == "EV->SECC" else "secc"
        vals = ", ".join(f"{k}={v:g}" for k, v in r["values"].items())
        extra = " ".join(x for x in (r["code"], r["processing"], r["error"]) if x)
        rt = "" if r["rt_ms"] is None else f"{r['rt_ms']:.1f}"
        msg_rows.append(
            f'<tr class="{cls}"><td class=num>{r["i"]}</td><td class=num>{r["t"]:.3f}</td><td>{_e(r["dir"])}</td>'
            f"<td>{_e(r['kind'])}</td><td>{_e(r['name'])}</td><td>{_e(extra)}</td><td class=num>{rt}</td>"
            f"<td>{_e(vals)}</td></tr>"
        )
    more = (
        f"<p class=small>{len(report.rows) - MAX_ROWS} more messages in the JSON report.</p>"
        if len(report.rows) > MAX_ROWS
        else ""
    )
    plots = []
    for div, _title, fig in _figures(report):
        plots.append(
            pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div, config=PLOTLY_CONFIG)
        )
    plots_html = '<div class="plots">' + "".join(plots) + "</div>" if plots else "<p>no values to plot</p>"
    title = f"josev conformance report: {meta.get('protocol') or 'session'} {meta.get('start') or ''}".strip()
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head><body>
<h1>EV conformance report</h1>
<p><span class="verdict {vclass}" id="verdict">{_e(verdict)}</span>
 {len(report.errors)} error(s), {len(report.warnings)} warning(s), {len(report.messages)} message(s)</p>
<table class="meta">{meta_rows}</table>
<h2>Findings</h2>
{_findings_table(report.findings)}
<h2>Scenario reaction</h2>
<p class=small>What the station did on purpose (and FAILED response codes it sent), and whether the EV reacted as the
standard asks.</p>
{"<table><tr><th>t [s]</th><th>action</th><th>request</th><th>detail</th></tr>" + action_rows + "</table>" if action_rows else ""}
{_findings_table(report.reactions, measured=True)}
<h2>Timing</h2>
<table class="timings"><tr><th>request</th><th>count</th><th>min ms</th><th>median ms</th><th>max ms</th>
<th>station performance time ms</th><th>EV timeout ms</th><th>over performance time</th></tr>{timing_rows}</table>
<p class=small>Limits: {clause}.</p>
<h2>Plots</h2>
{plots_html}
<h2>Messages</h2>
<table class="messages" id="messages"><tr><th>#</th><th>t [s]</th><th>direction</th><th>schema</th><th>message</th>
<th>code</th><th>response ms</th><th>values</th></tr>{"".join(msg_rows)}</table>
{more}
<p class=small>Generated by josev. Clause references are to DIN SPEC 70121:2014-12, ISO 15118-2:2014 and
ISO 15118-20:2022.</p>
</body></html>
"""
