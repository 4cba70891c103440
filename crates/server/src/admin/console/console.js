// The sipjet console: reads the admin API, draws with SVG, refreshes the
// page shown when the event stream says something changed. Every text
// that came from the network is set as text, never as markup.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const PAGES = ["overview", "contacts", "calls", "flows", "security"];
const COLORS = ["#1f6feb", "#c4320a", "#067647", "#9e77ed", "#667085", "#dc6803"];

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
}

async function api(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

function fill(table, rows) {
  const body = document.querySelector(table + " tbody");
  body.replaceChildren(...rows);
  if (!rows.length) {
    const cols = document.querySelectorAll(table + " thead th").length;
    body.append(el("tr", {}, el("td", { colspan: cols, class: "muted" }, "nothing yet")));
  }
}

function ago(unixSeconds) {
  const s = Math.max(0, Math.round(Date.now() / 1000 - unixSeconds));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  return Math.floor(s / 3600) + " h ago";
}

function duration(s) {
  if (s == null) return "";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return (h ? h + "h " : "") + (h || m ? m + "m " : "") + sec + "s";
}

// ---- Overview ----

function chart(title, names, series, pick) {
  const w = 320, h = 90, pad = 2;
  const box = el("div", { class: "chart" }, el("h3", {}, title));
  const s = svg("svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "none" });
  const n = series.length;
  let max = 0;
  for (const p of series) for (const v of pick(p)) max = Math.max(max, v);
  const scale = max > 0 ? (h - 2 * pad) / max : 0;
  names.forEach((name, i) => {
    if (n < 1) return;
    const pts = series.map((p, j) => {
      const x = n === 1 ? w : (j / (n - 1)) * w;
      const y = h - pad - pick(p)[i] * scale;
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    s.append(svg("polyline", { points: pts.join(" "), fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": "1.5" }));
  });
  box.append(s);
  const last = series.length ? pick(series[series.length - 1]) : names.map(() => 0);
  const legend = el("div", { class: "legend" });
  names.forEach((name, i) => {
    const dot = el("span", {}, "■ ");
    dot.style.color = COLORS[i % COLORS.length];
    legend.append(dot, name + " " + (Math.round(last[i] * 10) / 10) + "  ");
  });
  legend.append(el("span", {}, " (max " + (Math.round(max * 10) / 10) + ")"));
  box.append(legend);
  return box;
}

async function showOverview() {
  const o = await api("/api/overview");
  const fact = (value, label) => el("div", { class: "fact" }, el("b", {}, value), el("span", {}, label));
  const cap = o.capture;
  document.getElementById("overview-facts").replaceChildren(
    fact(duration(o.uptime_seconds), "uptime (sipjet " + o.version + ")"),
    fact(o.registrations, "registrations"),
    fact(o.active_calls, "active calls"),
    fact(o.transactions, "transactions"),
    fact(o.requests_received, "requests received"),
    fact(o.responses_sent, "responses sent"),
    fact(o.auth_failures, "security events"),
    fact(o.queue_depth, "queue depth"),
    fact(cap.on ? (cap.bytes / 1048576).toFixed(1) + " / " + (cap.budget / 1048576).toFixed(0) + " MiB" : "off",
      "capture: " + cap.messages + " messages, " + cap.flows + " flows"),
  );
  fill("#transports-table", o.transports.map(t =>
    el("tr", {}, el("td", {}, t.name), el("td", {}, t.protocol), el("td", { class: "mono" }, t.bind), el("td", { class: "mono" }, t.bound || ""))));
  const s = o.series;
  document.getElementById("charts").replaceChildren(
    chart("Requests received /s", o.methods, s, p => p.requests),
    chart("Responses /s", ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"], s, p => p.responses),
    chart("Registrations", ["bindings"], s, p => [p.registrations]),
    chart("Active calls", ["calls"], s, p => [p.active_calls]),
    chart("Security events /s", ["events"], s, p => [p.auth_failures]),
    chart("Queue depth", ["tasks"], s, p => [p.queue_depth]),
  );
}

// ---- Endpoints and contacts ----

let contacts = [], endpoints = [];

function renderContacts() {
  const f = document.getElementById("contacts-filter").value.trim().toLowerCase();
  const match = c => !f || [c.aor, c.contact, c.received, c.user_agent, c.endpoint, c.status]
    .some(v => v && String(v).toLowerCase().includes(f));
  fill("#contacts-table", contacts.filter(match).map(c => el("tr", {},
    el("td", {}, c.aor),
    el("td", { class: "mono" }, c.contact),
    el("td", {}, c.kind),
    el("td", { class: "status-" + c.status }, c.status),
    el("td", {}, c.rtt_ms == null ? "" : c.rtt_ms.toFixed(1) + " ms"),
    el("td", {}, c.expires_in == null ? "" : c.expires_in + " s"),
    el("td", { class: "mono" }, c.received || ""),
    el("td", {}, c.user_agent || ""))));
  fill("#endpoints-table", endpoints.filter(e => !f || [e.name, e.context, ...e.aors].some(v => v.toLowerCase().includes(f))).map(e => el("tr", {},
    el("td", {}, e.name), el("td", {}, e.aors.join(", ")), el("td", {}, e.auths.join(", ")),
    el("td", {}, e.context), el("td", {}, e.identify_by.join(", ")))));
}

async function showContacts() {
  [contacts, endpoints] = await Promise.all([api("/api/contacts"), api("/api/endpoints")]);
  renderContacts();
}

// ---- Calls ----

function flowLink(callId) {
  const a = el("a", { class: "flow-link mono", href: "#flow/" + encodeURIComponent(callId) }, callId);
  return a;
}

async function showCalls() {
  const calls = await api("/api/calls");
  fill("#calls-table", calls.map(c => el("tr", {},
    el("td", {}, flowLink(c.call_id)), el("td", {}, c.caller), el("td", {}, c.callee),
    el("td", {}, c.state), el("td", {}, c.started_seconds_ago + " s ago"),
    el("td", {}, duration(c.duration_seconds)), el("td", {}, c.final_code || ""))));
}

// ---- Flows and the ladder ----

let openFlow = null;

async function showFlows() {
  const params = new URLSearchParams();
  for (const input of document.querySelectorAll("#flow-form input")) {
    if (input.value.trim()) params.set(input.name, input.value.trim());
  }
  const flows = await api("/api/flows?" + params.toString());
  fill("#flows-table", flows.map(f => el("tr", {},
    el("td", {}, flowLink(f.call_id)), el("td", {}, f.method || ""),
    el("td", {}, f.from_user || ""), el("td", {}, f.to_user || ""), el("td", {}, f.messages),
    el("td", {}, f.statuses.join(" ")), el("td", { class: "mono" }, f.peers.join(" ")),
    el("td", {}, ago(f.last_at)))));
  if (openFlow != null) await showLadder(openFlow);
}

function showLadderOf(l) {
  const colW = 260, top = 46, rowH = 34, left = 90;
  const width = left + colW * Math.max(1, l.columns.length);
  const height = top + rowH * (l.arrows.length + 1);
  const s = document.getElementById("ladder");
  s.replaceChildren();
  s.setAttribute("width", width);
  s.setAttribute("height", height);
  s.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const x = i => left + colW * i + colW / 2;
  l.columns.forEach((c, i) => {
    const g = svg("g", { class: "column" + (c.local ? " local" : ""), "data-address": c.address });
    g.append(svg("line", { x1: x(i), y1: top, x2: x(i), y2: height - 4 }));
    g.append(svg("rect", { x: x(i) - 120, y: 6, width: 240, height: 26, rx: 4 }));
    g.append(svg("text", { x: x(i), y: 24, "text-anchor": "middle" }, c.address + (c.local ? " (sipjet)" : "")));
    s.append(g);
  });
  l.arrows.forEach((a, i) => {
    const y = top + rowH * (i + 1);
    const x1 = x(a.from), x2 = x(a.to), dir = x2 >= x1 ? 1 : -1;
    const cls = "arrow " + (a.request ? "request" : "response") + (a.retransmission ? " retransmission" : "");
    const g = svg("g", { class: cls, "data-seq": a.seq, "data-label": a.label, "data-retransmission": a.retransmission });
    g.append(svg("text", { class: "time", x: 6, y: y + 4 }, "+" + (a.offset_ms / 1000).toFixed(3) + "s"));
    g.append(svg("line", { class: "hit", x1, y1: y, x2, y2: y }));
    g.append(svg("line", { x1, y1: y, x2: x2 - dir * 8, y2: y }));
    g.append(svg("polygon", { points: `${x2},${y} ${x2 - dir * 9},${y - 5} ${x2 - dir * 9},${y + 5}` }));
    g.append(svg("text", { x: (x1 + x2) / 2, y: y - 6, "text-anchor": "middle" }, a.label + (a.retransmission ? " (retransmission)" : "")));
    g.addEventListener("click", () => {
      for (const o of s.querySelectorAll(".arrow.selected")) o.classList.remove("selected");
      g.classList.add("selected");
      document.getElementById("message").textContent = a.message;
    });
    s.append(g);
  });
}

async function showLadder(callId) {
  openFlow = callId;
  const detail = document.getElementById("flow-detail");
  const r = await fetch("/api/flows/" + encodeURIComponent(callId));
  detail.hidden = false;
  document.getElementById("flow-title").textContent = callId;
  if (!r.ok) {
    document.getElementById("ladder").replaceChildren();
    document.getElementById("message").textContent = "This flow is no longer in the capture ring.";
    return;
  }
  const l = await r.json();
  const shown = document.querySelectorAll("#ladder .arrow").length;
  if (drawn !== callId) {
    drawn = callId;
    showLadderOf(l);
    document.getElementById("message").textContent = "Click an arrow to see its message.";
  } else if (shown !== l.arrows.length) {
    showLadderOf(l);
  }
}

let drawn = null;

// ---- Security ----

async function showSecurity() {
  const events = await api("/api/security");
  const by = new Map();
  for (const e of events) {
    const s = by.get(e.source) || { count: 0, kinds: new Set(), accounts: new Set(), latest: 0 };
    s.count++; s.kinds.add(e.kind); if (e.account) s.accounts.add(e.account);
    s.latest = Math.max(s.latest, e.time);
    by.set(e.source, s);
  }
  const sources = [...by.entries()].sort((a, b) => b[1].count - a[1].count);
  fill("#sources-table", sources.map(([src, s]) => el("tr", {},
    el("td", { class: "mono" }, src), el("td", {}, s.count), el("td", {}, [...s.kinds].join(", ")),
    el("td", {}, [...s.accounts].slice(0, 10).join(", ")), el("td", {}, ago(s.latest)))));
  fill("#security-table", events.slice(0, 200).map(e => el("tr", {},
    el("td", {}, new Date(e.time * 1000).toISOString()), el("td", {}, e.kind),
    el("td", { class: "mono" }, e.source + ":" + e.port), el("td", {}, e.transport),
    el("td", {}, e.account), el("td", {}, e.reason))));
}

// ---- Navigation and live updates ----

const SHOW = { overview: showOverview, contacts: showContacts, calls: showCalls, flows: showFlows, security: showSecurity };
let current = "overview";

function route() {
  const hash = decodeURIComponent(location.hash.slice(1));
  if (hash.startsWith("flow/")) {
    current = "flows";
    openFlow = hash.slice(5);
    // The list shows the flow opened, whatever was searched before.
    for (const input of document.querySelectorAll("#flow-form input")) input.value = "";
    document.getElementById("flow-call-id").value = openFlow;
  } else {
    current = PAGES.includes(hash) ? hash : "overview";
    if (current !== "flows") openFlow = null;
  }
  for (const p of PAGES) {
    document.getElementById("page-" + p).classList.toggle("active", p === current);
    document.querySelector(`nav a[data-page="${p}"]`).classList.toggle("active", p === current);
  }
  if (openFlow == null) document.getElementById("flow-detail").hidden = true;
  refresh();
}

let busy = false, again = false;
async function refresh() {
  if (busy) { again = true; return; }
  busy = true;
  try {
    await SHOW[current]();
    document.body.dataset.loaded = current;
  } catch (e) {
    document.getElementById("live").textContent = "○ " + e.message;
  } finally {
    busy = false;
    if (again) { again = false; refresh(); }
  }
}

function live() {
  const badge = document.getElementById("live");
  const events = new EventSource("/api/events");
  events.onopen = () => { badge.textContent = "● live"; badge.classList.add("on"); };
  events.onmessage = () => refresh();
  events.onerror = () => { badge.textContent = "○ reconnecting"; badge.classList.remove("on"); };
}

document.getElementById("contacts-filter").addEventListener("input", renderContacts);
document.getElementById("flow-form").addEventListener("submit", ev => {
  ev.preventDefault();
  openFlow = null;
  document.getElementById("flow-detail").hidden = true;
  if (location.hash !== "#flows") location.hash = "#flows"; else refresh();
});
window.addEventListener("hashchange", route);
setInterval(() => { if (current === "overview") refresh(); }, 5000);
route();
live();
