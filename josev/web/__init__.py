"""The live view of a station in a browser (``josev station --sim --web :8080``): a read-only bus client
(:mod:`josev.web.hub`, what the page shows) behind a small HTTP server with Server-Sent Events
(:mod:`josev.web.server`) and a static page (``static/``) that draws the curves with plotly.js, served from
the installed ``plotly`` package (no internet needed). See docs/ev-testing-live.md."""
