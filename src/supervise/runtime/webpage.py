"""The page `up --web` serves: server-rendered rows, and a little inline CSS and JavaScript.

Everything is in this one response (no CDN, works offline). The script
follows `/events` (server-sent events): `status` replaces the rows, `lines`
appends output, colored as `up` colors it (the prefix in its process type's
color, the child's own SGR codes turned into spans), kept to MAX_LINES and
filtered in the browser by a regular expression, so `up` never runs one.
New lines are drawn once a frame at most; following a flood, only the
newest SCREEN_LINES of them, the rest when the reader scrolls up. A flood
then costs the browser (which shares the machine with `up` and its children)
what a screenful costs, not what every line would.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

MAX_LINES = 2000
"""Lines the page keeps; older ones leave the view."""
SCREEN_LINES = 200
"""Following a flood, the page draws only this many of the newest lines; scrolling up draws the rest."""

_CSS = """
body{font:14px system-ui,sans-serif;margin:1em;background:#fafafa;color:#222}
h1{font-size:1.2em;margin:0 0 .5em}
table{border-collapse:collapse;margin-bottom:1em}
th,td{padding:.25em .6em;text-align:left;border-bottom:1px solid #ddd;white-space:nowrap}
td.num{text-align:right}
.state-RUNNING{color:#070}.state-STARTING,.state-WAITING,.state-STOPPING{color:#a60}
.state-BACKOFF,.state-FATAL{color:#c00;font-weight:bold}.state-EXITED,.state-STOPPED{color:#666}
.waiting{color:#a60;font-size:.9em}
button{font-size:.85em;margin-right:.2em}
#groups{margin-bottom:1em}#groups span{margin-right:1.2em}
#controls{margin-bottom:.4em}#filter.bad{outline:2px solid #c00}
#log{background:#111;color:#ddd;font:12px ui-monospace,monospace;height:50vh;overflow:auto;
padding:.4em;white-space:pre-wrap;word-break:break-all}
#gone{display:none;color:#c00;font-weight:bold}
.b{font-weight:bold}.d{opacity:.7}.i{font-style:italic}.u{text-decoration:underline}
.f30{color:#555}.f31{color:#e55}.f32{color:#5c5}.f33{color:#cc5}.f34{color:#69f}.f35{color:#c6c}
.f36{color:#5cc}.f37{color:#ddd}.f90{color:#888}.f91{color:#f77}.f92{color:#7f7}.f93{color:#ff7}
.f94{color:#8af}.f95{color:#f8f}.f96{color:#7ff}.f97{color:#fff}
.g40{background:#000}.g41{background:#a00}.g42{background:#0a0}.g43{background:#a50}.g44{background:#00a}
.g45{background:#a0a}.g46{background:#0aa}.g47{background:#aaa}
"""

_JS = r"""
"use strict";
const MAX = %(max_lines)d, SCREEN = %(screen_lines)d;
const rows = document.getElementById("rows"), logEl = document.getElementById("log");
const filterEl = document.getElementById("filter"), whoEl = document.getElementById("who");
const groupsEl = document.getElementById("groups");
let lines = [], styles = {}, regex = null;

function fmtSeconds(s) {
  if (s === null || s === undefined) return "";
  s = Math.floor(s);
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) %% 60, r = s %% 60;
  const two = (x) => String(x).padStart(2, "0");
  return h ? h + "h" + two(m) + "m" : m ? m + "m" + two(r) + "s" : r + "s";
}
function fmtBytes(b) {
  if (b === null || b === undefined) return "";
  const u = ["B", "KiB", "MiB", "GiB"]; let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return (i ? b.toFixed(1) : b) + " " + u[i];
}
function fmtExit(code) {
  if (code === null || code === undefined) return "";
  return code < 0 ? "signal " + (-code) : String(code);
}
function cell(tr, text, cls) {
  const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls;
  tr.appendChild(td); return td;
}
function buttons(td, names) {
  for (const action of ["restart", "stop", "start"]) {
    const b = document.createElement("button");
    b.textContent = action; b.dataset.action = action; b.dataset.names = names;
    td.appendChild(b);
  }
}
function renderStatus(msg) {
  styles = msg.styles;
  const body = document.createDocumentFragment();
  for (const s of msg.instances) {
    const tr = document.createElement("tr"); tr.dataset.name = s.name;
    cell(tr, s.name, "name");
    const st = cell(tr, s.state, "state state-" + s.state);
    if (s.waiting_for) {
      const w = document.createElement("div"); w.className = "waiting";
      w.textContent = "waits for " + s.waiting_for; st.appendChild(w);
    }
    cell(tr, s.pid === null ? "" : String(s.pid), "pid num");
    cell(tr, fmtSeconds(s.uptime), "uptime num");
    cell(tr, String(s.restarts), "restarts num");
    cell(tr, fmtExit(s.last_exit), "exit num");
    cell(tr, s.cpu === null || s.cpu === undefined ? "" : s.cpu.toFixed(1) + " %%", "cpu num");
    cell(tr, fmtBytes(s.memory), "memory num");
    const port = cell(tr, "", "port");
    if (s.port !== null) {
      const a = document.createElement("a");
      a.href = location.protocol + "//" + location.hostname + ":" + s.port + "/";
      a.textContent = String(s.port); a.target = "_blank"; a.rel = "noopener"; port.appendChild(a);
    }
    buttons(cell(tr, "", "actions"), s.name);
    body.appendChild(tr);
  }
  rows.replaceChildren(body);
  const groups = document.createDocumentFragment();
  for (const [group, members] of Object.entries(msg.groups)) {
    const span = document.createElement("span");
    span.textContent = group + " (" + members.length + ") ";
    buttons(span, group); groups.appendChild(span);
  }
  groupsEl.replaceChildren(groups);
  const chosen = whoEl.value, names = ["", "system", ...msg.instances.map((s) => s.name)];
  if (whoEl.options.length !== names.length || [...whoEl.options].some((o, i) => o.value !== names[i])) {
    whoEl.replaceChildren(...names.map((n) => new Option(n || "all (merged)", n)));
    whoEl.value = names.includes(chosen) ? chosen : "";
  }
}

const SGR = /\x1b\[([0-9;]*)m/g, OTHER = /\x1b(\[[0-9;?]*[ -\/]*[@-~]|[@-Z\\-_])/g;
function plain(text) { return text.replace(SGR, "").replace(OTHER, ""); }
function colored(parent, text) {
  // The child's own SGR codes as spans; anything else it sent in escapes is dropped.
  let st = {}, last = 0, m;
  const put = (piece) => {
    piece = piece.replace(OTHER, "");
    if (!piece) return;
    const span = document.createElement("span"), cls = [];
    if (st.b) cls.push("b"); if (st.d) cls.push("d"); if (st.i) cls.push("i"); if (st.u) cls.push("u");
    if (st.f) cls.push("f" + st.f); if (st.g) cls.push("g" + st.g);
    if (st.fc) span.style.color = st.fc; if (st.gc) span.style.background = st.gc;
    span.className = cls.join(" "); span.textContent = piece; parent.appendChild(span);
  };
  SGR.lastIndex = 0;
  while ((m = SGR.exec(text)) !== null) {
    put(text.slice(last, m.index)); last = SGR.lastIndex;
    const codes = (m[1] || "0").split(";").map(Number);
    for (let k = 0; k < codes.length; k++) {
      const c = codes[k];
      if (c === 0) st = {}; else if (c === 1) st.b = 1; else if (c === 2) st.d = 1;
      else if (c === 3) st.i = 1; else if (c === 4) st.u = 1; else if (c === 22) st.b = st.d = 0;
      else if (c === 23) st.i = 0; else if (c === 24) st.u = 0;
      else if ((c >= 30 && c <= 37) || (c >= 90 && c <= 97)) { st.f = c; st.fc = null; }
      else if (c === 39) st.f = st.fc = null;
      else if (c >= 40 && c <= 47) { st.g = c; st.gc = null; } else if (c === 49) st.g = st.gc = null;
      else if (c >= 100 && c <= 107) { st.g = c - 60; st.gc = null; }
      else if ((c === 38 || c === 48) && codes[k + 1] === 2 && k + 4 < codes.length) {
        const rgb = "rgb(" + codes.slice(k + 2, k + 5).join(",") + ")";
        if (c === 38) st.fc = rgb; else st.gc = rgb; k += 4;
      } else if ((c === 38 || c === 48) && codes[k + 1] === 5 && k + 2 < codes.length) {
        const n = codes[k + 2], css = xterm(n);
        if (c === 38) st.fc = css; else st.gc = css; k += 2;
      }
    }
  }
  put(text.slice(last));
}
function xterm(n) {
  if (n < 16) return ["#000","#a00","#0a0","#a50","#00a","#a0a","#0aa","#aaa",
                      "#555","#f55","#5f5","#ff5","#55f","#f5f","#5ff","#fff"][n];
  if (n >= 232) { const v = 8 + (n - 232) * 10; return "rgb(" + v + "," + v + "," + v + ")"; }
  n -= 16; const s = [0, 95, 135, 175, 215, 255];
  return "rgb(" + s[Math.floor(n / 36)] + "," + s[Math.floor(n / 6) %% 6] + "," + s[n %% 6] + ")";
}
function stamp(t) {
  const d = new Date(t * 1000), p = (x) => String(x).padStart(2, "0");
  return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
}
function shown(line) {
  if (whoEl.value && line.name !== whoEl.value) return false;
  if (regex === null) return true;
  if (line.plain === undefined) line.plain = plain(line.text);
  return regex.test(line.plain);
}
function lineEl(line) {
  const div = document.createElement("div"); div.className = "line"; div.dataset.name = line.name;
  const prefix = document.createElement("span");
  const style = styles[line.name] || "1";
  prefix.className = style.split(";").map((c) => c === "1" ? "b" : "f" + c).join(" ");
  prefix.textContent = stamp(line.time) + " " + line.name + " | ";
  div.appendChild(prefix);
  if (line.text.includes("\x1b")) colored(div, line.text); else div.append(line.text);
  return div;
}
function atBottom() { return logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 30; }
let fresh = [], frame = 0, partial = false;
function addLines(records) {
  // Only the newest MAX lines can stay: the older ones of a big batch are never split out or drawn.
  const got = [];
  for (let r = records.length - 1; r >= 0 && got.length < MAX; r--) {
    const [time, name, text] = records[r], parts = text.split("\n");
    for (let k = parts.length - 1; k >= 0 && got.length < MAX; k--) got.push({ time, name, text: parts[k] });
  }
  got.reverse();
  lines = lines.concat(got); if (lines.length > MAX) lines = lines.slice(lines.length - MAX);
  fresh = fresh.concat(got); if (fresh.length > MAX) fresh = fresh.slice(fresh.length - MAX);
  if (!frame) frame = requestAnimationFrame(draw);
}
function draw() {
  // Once a frame at most. Following a flood, only the last SCREEN lines are drawn (all the
  // reader can see go by); scrolling up draws the rest of what the page keeps.
  frame = 0;
  const follow = atBottom(), frag = document.createDocumentFragment();
  const todo = fresh.filter(shown);
  fresh = [];
  if (follow && todo.length >= SCREEN) {
    for (const line of todo.slice(todo.length - SCREEN)) frag.appendChild(lineEl(line));
    logEl.replaceChildren(frag);
    partial = true;
  } else {
    for (const line of todo) frag.appendChild(lineEl(line));
    logEl.appendChild(frag);
    const extra = logEl.childElementCount - MAX;
    if (extra > 0) {
      const old = document.createRange();
      old.setStartBefore(logEl.firstElementChild); old.setEndBefore(logEl.children[extra]);
      old.deleteContents();
    }
  }
  if (follow) logEl.scrollTop = logEl.scrollHeight;
}
function rerender() {
  const frag = document.createDocumentFragment();
  for (const line of lines) if (shown(line)) frag.appendChild(lineEl(line));
  fresh = []; partial = false;
  logEl.replaceChildren(frag); logEl.scrollTop = logEl.scrollHeight;
}
logEl.addEventListener("scroll", () => {
  if (!partial || atBottom()) return;
  const fromEnd = logEl.scrollHeight - logEl.scrollTop;
  rerender();
  logEl.scrollTop = logEl.scrollHeight - fromEnd;
});
filterEl.addEventListener("input", () => {
  try { regex = filterEl.value ? new RegExp(filterEl.value) : null; filterEl.classList.remove("bad"); }
  catch (e) { filterEl.classList.add("bad"); return; }
  rerender();
});
whoEl.addEventListener("change", rerender);
document.addEventListener("click", async (event) => {
  const b = event.target.closest("button[data-action]");
  if (!b) return;
  b.disabled = true;
  try {
    const answer = await fetch("/api/" + b.dataset.action, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ names: [b.dataset.names] }),
    });
    const msg = await answer.json();
    if (!msg.ok) alert(msg.error);
  } finally { b.disabled = false; }
});
const events = new EventSource("/events");
const gone = document.getElementById("gone");
events.addEventListener("status", (e) => { renderStatus(JSON.parse(e.data)); gone.style.display = "none"; });
events.addEventListener("lines", (e) => addLines(JSON.parse(e.data)));
events.addEventListener("error", () => { gone.style.display = "inline"; });
"""


def render_page(title: str, statuses: Sequence[Mapping[str, Any]]) -> str:
    """The whole page; the rows as they are now, so it shows something before the first event."""
    rows = "".join(
        f'<tr data-name="{html.escape(s["name"])}"><td class="name">{html.escape(s["name"])}</td>'
        f'<td class="state state-{html.escape(s["state"])}">{html.escape(s["state"])}</td>'
        f'<td class="pid num">{"" if s["pid"] is None else s["pid"]}</td></tr>'
        for s in statuses
    )
    script = _JS % {"max_lines": MAX_LINES, "screen_lines": SCREEN_LINES}
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · supervise</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)} <span id="gone">· supervise up is gone; reconnecting…</span></h1>
<table><thead><tr><th>name</th><th>state</th><th>pid</th><th>uptime</th><th>restarts</th>
<th>last exit</th><th>CPU</th><th>memory</th><th>PORT</th><th></th></tr></thead>
<tbody id="rows">{rows}</tbody></table>
<div id="groups"></div>
<div id="controls"><label>output of <select id="who"><option value="">all (merged)</option></select></label>
<label>filter <input id="filter" size="40" placeholder="regular expression" autocomplete="off"></label></div>
<div id="log"></div>
<script>{script}</script>
</body></html>
"""


def encode_event(kind: str, data: object) -> bytes:
    """One server-sent event: `event: KIND` and its JSON on one `data:` line."""
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
