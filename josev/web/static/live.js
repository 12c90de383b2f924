// The josev live view: reads /events (Server-Sent Events) and shows the station's state, the decoded V2G
// messages, the bus events and the session's curves. Read-only. Everything from the bus is shown as text
// (textContent, title), never parsed as HTML.
"use strict";

(function () {
  const MAX_ROWS = 300;
  const MAX_EVENTS = 100;
  const MAX_POINTS = 1200;
  const PLOT_EVERY_MS = 400;
  // The curves the server sends (josev/web/hub.py CURVES), in legend order; others are ignored.
  const CURVES = [
    "EV target voltage (V)", "present voltage (V)", "EV target current (A)", "present current (A)",
    "power (kW)", "EV power (kW)", "session energy (kWh)", "SoC (%)",
  ];

  const states = new Map();
  const curves = new Map(); // evse -> Map(name -> {x: [], y: []})
  let plotEvse = null;
  let plotDirty = false;
  let summaryDirty = false;
  let messageCount = 0;

  const $ = (id) => document.getElementById(id);

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function clock(ms) {
    const d = new Date(ms);
    const p = (n, w) => String(n).padStart(w, "0");
    return `${p(d.getHours(), 2)}:${p(d.getMinutes(), 2)}:${p(d.getSeconds(), 2)}.${p(d.getMilliseconds(), 3)}`;
  }

  function scalar(v) {
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(2);
    if (typeof v === "string") return v;
    return JSON.stringify(v);
  }

  // "a=1 b.c=2 ..." of the leaves of an object (physical values as "400 V").
  function compact(obj, limit) {
    const out = [];
    const walk = (v, path) => {
      if (out.join(" ").length > limit) return;
      if (v && typeof v === "object" && !Array.isArray(v)) {
        if ("Value" in v && "Multiplier" in v) {
          const n = v.Value * Math.pow(10, v.Multiplier);
          out.push(`${path}=${scalar(n)}${v.Unit ? " " + v.Unit : ""}`);
          return;
        }
        for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
      } else if (Array.isArray(v)) {
        if (v.length && v.every((x) => x === null || typeof x !== "object")) out.push(`${path}=[${v.map(scalar).join(",")}]`);
        else v.forEach((x, i) => walk(x, `${path}[${i}]`));
      } else {
        out.push(`${path}=${scalar(v)}`);
      }
    };
    walk(obj, "");
    const text = out.join(" ");
    return text.length > limit ? text.slice(0, limit) + " ..." : text;
  }

  function pretty(obj) {
    const s = JSON.stringify(obj, null, 1);
    return s.length > 4000 ? s.slice(0, 4000) + " ..." : s;
  }

  // --- messages and events ------------------------------------------------------------------------------

  function addMessage(m, prepend) {
    const body = $("messages").tBodies[0];
    const tr = el("tr", null, m.sender === "ev" ? "ev" : "secc");
    tr.append(
      el("td", clock(m.time)),
      el("td", m.evse),
      el("td", m.sender === "ev" ? "EV" : "SECC"),
      el("td", m.protocol),
      el("td", m.message),
      el("td", m.response_code || "", /^(OK|Ongoing|Finished)/.test(m.response_code || "") || !m.response_code ? "" : "bad"),
    );
    const content = el("td", compact(m.body || {}, 240), "content");
    content.title = pretty(m.body || {});
    if (m.dropped) content.textContent = `(${m.dropped} not shown: rate) ` + content.textContent;
    tr.append(content);
    tr.dataset.message = m.message;
    if (prepend) body.prepend(tr); else body.append(tr);
    while (body.rows.length > MAX_ROWS) body.deleteRow(prepend ? -1 : 0);
    messageCount += 1;
    $("msg-count").textContent = `(${messageCount} seen, newest first)`;
    $("msg-note").hidden = true;
  }

  function addEvent(e, prepend) {
    const body = $("events").tBodies[0];
    const tr = el("tr");
    tr.append(
      el("td", clock(e.time)),
      el("td", e.evse === null ? "" : e.evse),
      el("td", `${e.service} ${e.name}`),
    );
    const content = el("td", compact(e.data || {}, 300), "content");
    content.title = pretty(e.data || {});
    tr.append(content);
    if (prepend) body.prepend(tr); else body.append(tr);
    while (body.rows.length > MAX_EVENTS) body.deleteRow(prepend ? -1 : 0);
  }

  // --- states -------------------------------------------------------------------------------------------

  function setState(s) {
    if (s.cleared) states.delete(s.key); else states.set(s.key, s);
    summaryDirty = true;
  }

  function get(evse, service, name) {
    const s = states.get(`${service}/evse${evse}/${name}`);
    return s ? s.data : null;
  }

  function renderSummary() {
    summaryDirty = false;
    const box = $("summary");
    box.replaceChildren();
    const evses = new Set();
    for (const s of states.values()) if (s.evse !== null && s.evse !== undefined) evses.add(s.evse);
    const services = [...states.values()].filter((s) => s.name === "status").map((s) => `${s.service}: ${s.data.state}`);
    if (services.length) box.append(el("p", "services " + services.sort().join(", "), "services"));
    for (const n of [...evses].sort((a, b) => a - b)) {
      const card = el("div", null, "evse");
      card.id = `evse-${n}`;
      card.append(el("h3", `EVSE ${n}`));
      const dl = el("dl");
      const row = (label, value, key) => {
        if (value === null || value === undefined || value === "") return;
        const dd = el("dd", value);
        if (key) dd.dataset.key = key;
        dl.append(el("dt", label), dd);
      };
      const st = get(n, "coordinator", "evse_status");
      if (st) row("coordinator", `${st.state} (${st.ocpp_status})`, "coordinator");
      const pilot = get(n, "coordinator", "pilot");
      if (pilot) row("control pilot", `${pilot.cp || "?"}, ${pilot.pilot_mode}`, "cp");
      const slac = get(n, "slac", "slac_state");
      if (slac) row("SLAC", slac.status, "slac");
      const secc = get(n, "secc", "session");
      if (secc) {
        const proto = secc.protocol ? ` (${secc.protocol})` : "";
        const why = secc.reason ? `, ${secc.reason}` : "";
        row("SECC session", `${secc.status}${proto}${why}`, "secc");
        row("SessionID", secc.session_id || "", "session_id");
      }
      const sel = get(n, "secc", "iso20_service");
      if (sel) row("-20 service", `${sel.energy_service}, ${sel.control_mode}`);
      const dc = get(n, "coordinator", "dc_supply");
      if (dc) row("DC output", `${dc.phase}, ${scalar(dc.present_voltage_v)} V, ${scalar(dc.present_current_a)} A`, "dc");
      const target = get(n, "secc", "ev_target");
      if (target) row("EV target", `${target.phase}, ${scalar(target.voltage_v)} V, ${scalar(target.current_a)} A${target.soc_percent !== null ? `, SoC ${target.soc_percent} %` : ""}`, "target");
      const meter = get(n, "coordinator", "meter");
      if (meter) row("meter", `${scalar(meter.power_w / 1000)} kW, session ${scalar(meter.session_energy_wh / 1000)} kWh`, "meter");
      card.append(dl);
      box.append(card);
    }
    if (!box.children.length) box.append(el("p", "waiting for the bus", "empty"));
    const tbody = $("states").tBodies[0];
    tbody.replaceChildren();
    for (const key of [...states.keys()].sort()) {
      const s = states.get(key);
      const tr = el("tr");
      tr.append(el("td", key), el("td", clock(s.time)));
      const c = el("td", compact(s.data, 300), "content");
      c.title = pretty(s.data);
      tr.append(c);
      tbody.append(tr);
    }
  }

  // --- curves -------------------------------------------------------------------------------------------

  function addPoint(evse, name, t, v) {
    if (!CURVES.includes(name) || typeof v !== "number") return;
    if (!curves.has(evse)) curves.set(evse, new Map());
    const series = curves.get(evse);
    if (!series.has(name)) series.set(name, { x: [], y: [] });
    const s = series.get(name);
    s.x.push(t);
    s.y.push(v);
    if (s.x.length > MAX_POINTS) { s.x.shift(); s.y.shift(); }
    if (plotEvse === null) plotEvse = evse;
    if (evse === plotEvse) plotDirty = true;
  }

  function renderPlot() {
    plotDirty = false;
    if (typeof window.Plotly === "undefined") {
      const note = $("plot-note");
      note.textContent = window.JOSEV_NO_PLOTLY || "plotly.js did not load: no curves";
      note.hidden = false;
      return;
    }
    const series = curves.get(plotEvse) || new Map();
    const traces = [];
    for (const name of CURVES) {
      const s = series.get(name);
      if (!s) continue;
      traces.push({
        type: "scatter",
        mode: "lines+markers",
        marker: { size: 4 },
        name,
        x: s.x.map((t) => new Date(t)),
        y: s.y,
        yaxis: name.endsWith("(V)") ? "y" : "y2",
      });
    }
    $("plot-evse").textContent = plotEvse === null ? "" : `(EVSE ${plotEvse})`;
    const layout = {
      margin: { l: 50, r: 50, t: 10, b: 40 },
      legend: { orientation: "h", y: -0.2 },
      xaxis: { type: "date", title: { text: "time" } },
      yaxis: { title: { text: "V" }, rangemode: "tozero" },
      yaxis2: { title: { text: "A, kW, kWh, %" }, overlaying: "y", side: "right", rangemode: "tozero" },
      uirevision: "keep",
    };
    window.Plotly.react($("plot"), traces, layout, { displaylogo: false, responsive: true });
  }

  // --- the stream ---------------------------------------------------------------------------------------

  function reset() {
    states.clear();
    curves.clear();
    plotEvse = null;
    messageCount = 0;
    $("messages").tBodies[0].replaceChildren();
    $("events").tBodies[0].replaceChildren();
  }

  function onUpdate(u) {
    switch (u.type) {
      case "snapshot":
        reset();
        for (const s of u.states) setState(s);
        for (const m of u.messages) addMessage(m, true);
        for (const e of u.events) addEvent(e, true);
        for (const [evse, series] of Object.entries(u.curves)) {
          for (const [name, pts] of Object.entries(series)) for (const [t, v] of pts) addPoint(Number(evse), name, t, v);
        }
        summaryDirty = true;
        plotDirty = true;
        break;
      case "state":
        setState(u);
        break;
      case "msg":
        addMessage(u, true);
        break;
      case "event":
        addEvent(u, true);
        break;
      case "points":
        for (const [name, v] of Object.entries(u.values)) addPoint(u.evse, name, u.time, v);
        break;
      default:
        break;
    }
  }

  function connect() {
    const conn = $("conn");
    const source = new EventSource("events");
    source.onopen = () => { conn.textContent = "live"; conn.className = "conn on"; };
    source.onerror = () => { conn.textContent = "reconnecting"; conn.className = "conn off"; };
    source.onmessage = (ev) => {
      let u;
      try { u = JSON.parse(ev.data); } catch (e) { return; }
      onUpdate(u);
    };
  }

  setInterval(() => {
    if (summaryDirty) renderSummary();
    if (plotDirty) renderPlot();
  }, PLOT_EVERY_MS);
  connect();
})();
