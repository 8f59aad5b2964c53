// The ops dashboard: feed records from /api/v1/live/stream (server-sent events), rendered per
// section with one innerHTML write per animation frame; no dependencies, no build step.
"use strict";

const STRINGS = {
  en: {
    title: "Inbox operations", team: "Team", channel: "Channel", timezone: "Time zone",
    language: "Language", all: "All", overall: "Overall", queues: "Queues per team",
    new: "New", pending: "Pending", handling: "Being handled", oldest: "Oldest waiting",
    agents_available: "Available", agents_away: "Away", agents_offline: "Offline",
    today_teams: "Today per team", resolved: "Resolved", resolved_with_reply: "Resolved with reply",
    received: "Received", avg_first_response: "Avg. first response", avg_handle: "Avg. handle time",
    csat: "CSAT", export: "Export", agents: "Agents", agent: "Agent", presence: "Presence",
    available: "Available", away: "Away", offline: "Offline", connecting: "connecting…",
    live: "live", reconnecting: "reconnecting…", as_of: "as of", day: "today is",
    chart_title: "Received and resolved per hour today", replies: "Replies",
    chart_today: "today", chart_last_week: "same hour last week",
    chart_unavailable: "The hourly figures are not available yet.",
    export_preparing: "preparing", export_ready: "download", export_failed: "not ready after 2 minutes; see the exporter's log",
    export_title: "CSV export of these rows", no_rows: "Nothing to show yet.",
    csat_count: "answers", warn_note: "warning past",
  },
  es: {
    title: "Operaciones de la bandeja", team: "Equipo", channel: "Canal", timezone: "Zona horaria",
    language: "Idioma", all: "Todos", overall: "General", queues: "Colas por equipo",
    new: "Nuevas", pending: "Pendientes", handling: "En gestión", oldest: "Espera más larga",
    agents_available: "Disponibles", agents_away: "Ausentes", agents_offline: "Desconectados",
    today_teams: "Hoy por equipo", resolved: "Resueltas", resolved_with_reply: "Resueltas con respuesta",
    received: "Recibidas", avg_first_response: "Primera respuesta media", avg_handle: "Tiempo medio de gestión",
    csat: "CSAT", export: "Exportar", agents: "Agentes", agent: "Agente", presence: "Presencia",
    available: "Disponible", away: "Ausente", offline: "Desconectado", connecting: "conectando…",
    live: "en directo", reconnecting: "reconectando…", as_of: "a las", day: "hoy es",
    chart_title: "Recibidas y resueltas por hora hoy", replies: "Respuestas",
    chart_today: "hoy", chart_last_week: "misma hora la semana pasada",
    chart_unavailable: "Las cifras por hora aún no están disponibles.",
    export_preparing: "preparando", export_ready: "descargar", export_failed: "no está lista tras 2 minutos; vea el registro del exportador",
    export_title: "Exportación CSV de estas filas", no_rows: "Aún no hay nada que mostrar.",
    csat_count: "respuestas", warn_note: "aviso a partir de",
  },
};

const params = new URLSearchParams(location.search);
const state = {
  records: new Map(), // "scope:id" -> latest feed record
  directory: { teams: {}, channels: {}, agents: {} },
  lang: STRINGS[params.get("lang")] ? params.get("lang") : "en",
  team: params.get("team") || "",
  channel: params.get("channel") || "",
  tz: params.get("tz") || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
  warnS: Number(params.get("warn")) > 0 ? Number(params.get("warn")) : 300,
  dirty: false,
  lastDirectoryFetch: 0,
  lastChartFetch: 0,
  chartKey: "",
};

const $ = (id) => document.getElementById(id);
const t = (key) => STRINGS[state.lang][key] || STRINGS.en[key] || key;
const esc = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const num = (value) => (value === null || value === undefined ? "–" : Number(value).toLocaleString(state.lang));

function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}h ${String(m).padStart(2, "0")}m` : m ? `${m}m ${String(r).padStart(2, "0")}s` : `${r}s`;
}

function clock(iso) {
  if (!iso) return "";
  try {
    return new Date(iso).toLocaleString(state.lang, { timeZone: state.tz, dateStyle: "short", timeStyle: "medium" });
  } catch (e) {
    return iso;
  }
}

function name(kind, id) {
  const entry = state.directory[kind][id];
  if (!entry) return id;
  return typeof entry === "string" ? entry : entry.name || id;
}

// -- exports: POST /api/v1/exports, then wait for the file at /api/v1/exports/{id} ------

function exportButton(exportType, label, scopeName) {
  return `<button type="button" class="fig" data-export="${esc(exportType)}" data-what="${esc(scopeName)}" title="${esc(t("export_title"))} (${esc(exportType)})">${label}</button>`;
}

function todayRequest(exportType) {
  const all = state.records.get("all:all");
  const request = { export_type: exportType, locale: state.lang };
  if (all) {
    request.timezone = all.timezone;
    if (exportType !== "conversations_open") Object.assign(request, { from: all.day, to: all.day });
  }
  if (state.channel) request.channels = [state.channel];
  return request;
}

async function requestExport(exportType, what) {
  const item = document.createElement("div");
  item.className = "export";
  item.textContent = `${what} · ${exportType}: ${t("export_preparing")}…`;
  $("exports").prepend(item);
  try {
    const response = await fetch("/api/v1/exports", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(todayRequest(exportType)),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    item.dataset.requestId = body.request_id;
    const deadline = Date.now() + 120000;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const probe = await fetch(body.url, { method: "HEAD" });
      if (probe.ok) {
        item.innerHTML = `${esc(what)} · ${esc(exportType)}: <a href="${esc(body.url)}" download>${esc(t("export_ready"))}</a>`;
        return;
      }
    }
    item.textContent = `${what} · ${exportType}: ${t("export_failed")}`;
  } catch (error) {
    item.textContent = `${what} · ${exportType}: ${error.message}`;
    item.classList.add("error");
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.fig");
  if (button) requestExport(button.dataset.export, button.dataset.what);
});

// -- rendering ---------------------------------------------------------------------------

function scoped(scope) {
  const out = [];
  for (const record of state.records.values()) if (record.scope === scope) out.push(record);
  return out;
}

function teamVisible(teamId) {
  return !state.team || state.team === teamId;
}

function renderOverall() {
  const key = state.team ? `team:${state.team}` : state.channel ? `channel:${state.channel}` : "all:all";
  const record = state.records.get(key);
  const all = state.records.get("all:all");
  $("as-of").textContent = all ? `${t("as_of")} ${clock(all.as_of)} · ${t("day")} ${all.day} (${all.timezone}) · ${t("warn_note")} ${duration(state.warnS * 1000)}` : "";
  if (!record) {
    $("overall").innerHTML = `<p class="empty">${esc(t("no_rows"))}</p>`;
    return;
  }
  const live = record.live, today = record.today, agents = live.agents || {};
  const what = key === "all:all" ? t("overall") : key;
  // value: HTML of num() / duration() / csat() (numbers and fixed strings only)
  const card = (id, label, value, exportType, extra = "") =>
    `<div class="card" id="card-${id}"${extra}><div class="label">${esc(label)}</div><div class="value">${exportButton(exportType, value, what)}</div></div>`;
  const since = live.oldest_new_since;
  $("overall").innerHTML = [
    card("new", t("new"), num(live.new), "conversations_open"),
    card("pending", t("pending"), num(live.pending), "conversations_open"),
    card("handling", t("handling"), num(live.locked), "conversations_open"),
    `<div class="card" id="card-oldest"><div class="label">${esc(t("oldest"))}</div><div class="value"><span class="since" data-since="${esc(since || "")}"></span></div></div>`,
    card("available", t("agents_available"), num(agents.available), "agent_presence"),
    card("away", t("agents_away"), num(agents.away), "agent_presence"),
    card("offline", t("agents_offline"), num(agents.offline), "agent_presence"),
    card("received", t("received"), num(today.received), "messages"),
    card("resolved", t("resolved"), num(today.resolved), "conversations_resolved"),
    card("resolved-with-reply", t("resolved_with_reply"), num(today.resolved_with_reply), "conversations_resolved"),
    card("frt", t("avg_first_response"), duration(today.avg_first_response_ms), "responses"),
    card("aht", t("avg_handle"), duration(today.avg_handle_ms), "agent_metrics"),
    card("csat", t("csat"), csat(today), "agent_metrics"),
  ].join("");
}

function csat(today) {
  if (today.csat_average === null || today.csat_average === undefined) return "–";
  return `${Number(today.csat_average).toFixed(2)} <small>(${num(today.csat_count)})</small>`;
}

function renderTeams() {
  const teams = scoped("team").filter((r) => teamVisible(r.id));
  teams.sort((a, b) => name("teams", a.id).localeCompare(name("teams", b.id)));
  let queues = "", figures = "";
  for (const r of teams) {
    const label = esc(name("teams", r.id)), live = r.live, today = r.today, agents = live.agents || {};
    const what = `${name("teams", r.id)}`;
    queues += `<tr data-team="${esc(r.id)}"><th>${label}</th>` +
      `<td class="new">${exportButton("conversations_open", num(live.new), what)}</td>` +
      `<td class="pending">${exportButton("conversations_open", num(live.pending), what)}</td>` +
      `<td class="handling">${exportButton("conversations_open", num(live.locked), what)}</td>` +
      `<td><span class="since" data-since="${esc(live.oldest_new_since || "")}"></span></td>` +
      `<td class="available">${num(agents.available)}</td><td class="away">${num(agents.away)}</td><td class="offline">${num(agents.offline)}</td></tr>`;
    figures += `<tr data-team="${esc(r.id)}"><th>${label}</th>` +
      `<td class="received">${exportButton("messages", num(today.received), what)}</td>` +
      `<td class="resolved">${exportButton("teams", num(today.resolved), what)}</td>` +
      `<td class="resolved-with-reply">${exportButton("teams", num(today.resolved_with_reply), what)}</td>` +
      `<td>${exportButton("teams", duration(today.avg_first_response_ms), what)}</td>` +
      `<td>${exportButton("teams", duration(today.avg_handle_ms), what)}</td>` +
      `<td>${exportButton("teams", csat(today), what)}</td>` +
      `<td>${exportButton("teams", "CSV", what)}</td></tr>`;
  }
  const empty = `<tr><td colspan="8" class="empty">${esc(t("no_rows"))}</td></tr>`;
  $("queues").innerHTML = queues || empty;
  $("team-figures").innerHTML = figures || empty;
}

function presenceOf(record) {
  const a = (record.live && record.live.agents) || {};
  return a.available ? "available" : a.away ? "away" : "offline";
}

function renderAgents() {
  const rows = [];
  for (const r of scoped("agent")) {
    const info = state.directory.agents[r.id] || {};
    if (state.team && info.team_id !== state.team) continue;
    rows.push([name("agents", r.id), r, info]);
  }
  rows.sort((a, b) => a[0].localeCompare(b[0]));
  let html = "";
  for (const [label, r, info] of rows) {
    const presence = presenceOf(r);
    const away = presence === "away" && info.away_status ? ` <span class="away-status">(${esc(info.away_status)})</span>` : "";
    html += `<tr data-agent="${esc(r.id)}"><th>${esc(label)}</th><td class="text">${esc(info.team_id ? name("teams", info.team_id) : "–")}</td>` +
      `<td class="presence"><span class="pill ${presence}" data-presence="${presence}">${esc(t(presence))}</span>${away}</td>` +
      `<td class="handling">${num(r.live.locked)}</td><td class="pending">${num(r.live.pending)}</td>` +
      `<td class="replies">${exportButton("agent_metrics", num(r.today.replies), label)}</td>` +
      `<td class="resolved">${exportButton("agent_metrics", num(r.today.resolved), label)}</td>` +
      `<td class="resolved-with-reply">${exportButton("agent_metrics", num(r.today.resolved_with_reply), label)}</td>` +
      `<td>${exportButton("agent_presence", "CSV", label)}</td></tr>`;
  }
  $("agents").innerHTML = html || `<tr><td colspan="9" class="empty">${esc(t("no_rows"))}</td></tr>`;
}

function renderFilters() {
  const fill = (select, entries, current) => {
    const options = [`<option value="">${esc(t("all"))}</option>`];
    for (const [id, label] of entries) options.push(`<option value="${esc(id)}"${id === current ? " selected" : ""}>${esc(label)}</option>`);
    const html = options.join("");
    if (select.dataset.html !== html) {
      select.innerHTML = html;
      select.dataset.html = html;
    }
  };
  const ids = (scope, kind) => {
    const set = new Set(Object.keys(state.directory[kind]));
    for (const r of scoped(scope)) set.add(r.id);
    return [...set].map((id) => [id, name(kind, id)]).sort((a, b) => a[1].localeCompare(b[1]));
  };
  fill($("filter-team"), ids("team", "teams"), state.team);
  fill($("filter-channel"), ids("channel", "channels"), state.channel);
}

function tick() {
  const now = Date.now();
  for (const cell of document.querySelectorAll(".since")) {
    const since = cell.dataset.since;
    if (!since) {
      cell.textContent = "–";
      cell.classList.remove("warn");
      continue;
    }
    const waited = now - Date.parse(since);
    cell.textContent = duration(waited);
    cell.title = clock(since);
    cell.classList.toggle("warn", waited > state.warnS * 1000);
  }
}

function render() {
  state.dirty = false;
  renderFilters();
  renderOverall();
  renderTeams();
  renderAgents();
  tick();
  maybeRefreshChart();
}

function scheduleRender() {
  if (state.dirty) return;
  state.dirty = true;
  requestAnimationFrame(render);
}

function applyStrings() {
  document.documentElement.lang = state.lang;
  for (const element of document.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  $("filter-lang").value = state.lang;
  document.title = t("title");
}

// -- the chart: received and resolved per hour today, and the same hours last week ------

function localDay(iso, tz) {
  // YYYY-MM-DD of an instant in a time zone (en-CA formats dates that way)
  return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(iso));
}

function chartScope() {
  // A team receives a conversation when it enters the team's queue (docs/live.md).
  const series = ["received", "resolved"];
  if (state.team) return { scope: "team", id: state.team, series };
  if (state.channel) return { scope: "channel", id: state.channel, series };
  return { scope: "all", id: "all", series };
}

function maybeRefreshChart(force = false) {
  const all = state.records.get("all:all");
  if (!all) return;
  const c = chartScope();
  const day = localDay(all.as_of, state.tz);
  const key = `${c.scope}|${c.id}|${state.tz}|${day}`;
  if (!force && key === state.chartKey && Date.now() - state.lastChartFetch < 60000) return;
  state.chartKey = key;
  state.lastChartFetch = Date.now();
  const week = new Date(Date.parse(`${day}T12:00:00Z`) - 7 * 86400000).toISOString().slice(0, 10);
  const url = (metric, d) => `/api/v1/metrics?metric=${metric}&scope=${c.scope}&id=${encodeURIComponent(c.id)}&from=${d}&to=${d}&timezone=${encodeURIComponent(state.tz)}&interval=HOUR`;
  const read = (u) => fetch(u).then((r) => { if (!r.ok) throw new Error("unavailable"); return r.json(); });
  Promise.all(c.series.flatMap((m) => [read(url(m, day)), read(url(m, week))]))
    .then((bodies) => {
      if (key !== state.chartKey) return; // a newer selection is on its way
      drawChart(c.series.map((metric, i) => ({ metric, today: bodies[2 * i].intervals, lastWeek: bodies[2 * i + 1].intervals })));
    })
    .catch(() => { $("chart").innerHTML = `<p class="empty">${esc(t("chart_unavailable"))}</p>`; });
}

function drawChart(series) {
  const width = 760, height = 200, pad = 28, n = Math.max(series[0].today.length, 1);
  const value = (i) => i.value || 0;
  const top = Math.max(1, ...series.flatMap((s) => [...s.today.map(value), ...s.lastWeek.map(value)]));
  const step = (width - pad * 2) / n, slot = (step * 0.8) / series.length;
  const y = (v) => height - pad - (v / top) * (height - pad * 2);
  let bars = "", lines = "", labels = "", legend = "";
  series.forEach((s, k) => {
    s.today.forEach((interval, i) => {
      const v = value(interval), x = pad + i * step + step * 0.1 + k * slot;
      bars += `<rect class="bar ${s.metric}" data-metric="${s.metric}" data-start="${esc(interval.start)}" data-value="${v}" x="${x}" y="${y(v)}" width="${slot}" height="${height - pad - y(v)}"><title>${esc(t(s.metric))} ${esc(interval.start)}: ${v}</title></rect>`;
    });
    const d = s.lastWeek.map((interval, i) => `${i ? "L" : "M"}${pad + i * step + step / 2},${y(value(interval))}`).join("");
    lines += `<path class="last-week ${s.metric}" data-metric="${s.metric}" d="${d}"/>`;
    legend += `<span class="key bar ${s.metric}"></span>${esc(t(s.metric))} · ${esc(t("chart_today"))} ` +
      `<span class="key last-week ${s.metric}"></span>${esc(t(s.metric))} · ${esc(t("chart_last_week"))} `;
  });
  series[0].today.forEach((interval, i) => {
    if (i % 3 === 0) labels += `<text x="${pad + i * step + step / 2}" y="${height - 10}" text-anchor="middle">${esc(interval.start.slice(11, 16))}</text>`;
  });
  $("chart").innerHTML =
    `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(t("chart_title"))}">` +
    `<line class="axis" x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}"/>` +
    `<text x="${pad}" y="14">${num(top)}</text>${bars}${lines}${labels}</svg>` +
    `<p class="legend">${legend}</p>`;
}

// -- data: the directory (names) and the live stream --------------------------------------

async function fetchDirectory() {
  state.lastDirectoryFetch = Date.now();
  try {
    const response = await fetch("/api/v1/dashboard/directory");
    if (response.ok) {
      state.directory = await response.json();
      scheduleRender();
    }
  } catch (e) {
    /* the next refresh tries again */
  }
}

let directoryTimer = null;

function scheduleDirectoryFetch() {
  // At most one directory read per 5 s, however many records ask for one.
  if (directoryTimer !== null) return;
  const wait = Math.max(0, 5000 - (Date.now() - state.lastDirectoryFetch));
  directoryTimer = setTimeout(() => { directoryTimer = null; fetchDirectory(); }, wait);
}

function connect() {
  const status = $("status");
  const setStatus = (s) => {
    status.dataset.state = s;
    $("status-text").textContent = t(s === "open" ? "live" : s);
  };
  setStatus("connecting");
  const source = new EventSource("/api/v1/live/stream");
  source.onopen = () => setStatus("open");
  source.onerror = () => setStatus("reconnecting"); // EventSource reconnects by itself
  source.addEventListener("metrics", (event) => {
    let record;
    try {
      record = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    const key = `${record.scope}:${record.id}`;
    const before = state.records.get(key);
    state.records.set(key, record);
    // New names, or a presence change (a new away status): re-read the directory soon.
    const kind = { team: "teams", agent: "agents", channel: "channels" }[record.scope];
    if (kind && (!(record.id in state.directory[kind]) ||
        (record.scope === "agent" && (!before || presenceOf(before) !== presenceOf(record))))) {
      scheduleDirectoryFetch();
    }
    scheduleRender();
  });
}

function setUrl() {
  const next = new URLSearchParams(location.search);
  for (const [key, value] of [["team", state.team], ["channel", state.channel], ["tz", state.tz], ["lang", state.lang]]) {
    if (value) next.set(key, value); else next.delete(key);
  }
  history.replaceState(null, "", `${location.pathname}?${next}`);
}

function init() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  if (!zones.includes("UTC")) zones.unshift("UTC");
  if (!zones.includes(state.tz)) zones.unshift(state.tz);
  $("filter-tz").innerHTML = zones.map((z) => `<option${z === state.tz ? " selected" : ""}>${esc(z)}</option>`).join("");
  $("filter-team").addEventListener("change", (e) => { state.team = e.target.value; setUrl(); maybeRefreshChart(true); scheduleRender(); });
  $("filter-channel").addEventListener("change", (e) => { state.channel = e.target.value; setUrl(); scheduleRender(); });
  $("filter-tz").addEventListener("change", (e) => { state.tz = e.target.value; setUrl(); maybeRefreshChart(true); scheduleRender(); });
  $("filter-lang").addEventListener("change", (e) => {
    state.lang = e.target.value; setUrl(); applyStrings();
    $("filter-team").dataset.html = ""; $("filter-channel").dataset.html = "";
    maybeRefreshChart(true); scheduleRender();
  });
  applyStrings();
  fetchDirectory();
  setInterval(fetchDirectory, 60000);
  setInterval(tick, 1000);
  connect();
  scheduleRender();
}

init();
