// The workshop page: plant overview cards, plant -> area -> line pickers, live charts of the line's
// key sensors, all its sensors in a table, and its anomalies. Talks only to /api/v1 with a bearer token.
import { drawChart, formatValue } from "./chart.js";

const LINE_POLL_MS = 2000;
const OVERVIEW_POLL_MS = 5000;
const ANOMALY_POLL_MS = 5000;
const MAX_CHARTS = 8;

const state = {
  token: null,
  plants: [],
  trees: new Map(),
  selection: { plant: null, area: null, line: null },
  windowMin: 10,
  charts: new Map(), // sensor_id -> {meta, points, elements}
  anomalyTimes: new Map(), // sensor_id -> [ms]
  lineGeneration: 0,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

class Unauthorized extends Error {}

async function api(path, params = {}, method = "GET") {
  const url = new URL(`/api/v1${path}`, window.location.origin);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  const response = await fetch(url, { method, headers: { Authorization: `Bearer ${state.token}` } });
  if (response.status === 401) throw new Unauthorized("token refused");
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail; } catch { /* not JSON */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response.json();
}

function setLink(ok, text) {
  const pill = $("link-state");
  pill.className = `pill ${ok === true ? "pill-ok" : ok === false ? "pill-bad" : "pill-wait"}`;
  pill.textContent = text;
}

// -- token -------------------------------------------------------------------------------------

function takeTokenFromFragment() {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const token = fragment.get("token");
  if (token) {
    localStorage.setItem("ganlink.token", token);
    fragment.delete("token");
    const rest = fragment.toString();
    history.replaceState(null, "", window.location.pathname + window.location.search + (rest ? `#${rest}` : ""));
  }
  return localStorage.getItem("ganlink.token");
}

function showLogin(message = "") {
  $("login-error").textContent = message;
  if (!$("login").open) $("login").showModal();
}

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  localStorage.setItem("ganlink.token", $("login-token").value.trim());
  $("login").close();
  start();
});
$("logout").addEventListener("click", () => {
  localStorage.removeItem("ganlink.token");
  window.location.reload();
});

// -- plant overview ----------------------------------------------------------------------------

function renderPlantCards() {
  const cards = $("plant-cards");
  cards.replaceChildren();
  for (const plant of state.plants) {
    const card = el("div", {
      class: `plant-card${plant.id === state.selection.plant ? " selected" : ""}`,
      "data-plant": plant.id,
      onclick: () => selectPlant(plant.id),
    },
    el("div", { class: "title" },
      el("b", { text: plant.name }),
      el("span", { class: "industry", text: `${plant.industry} · ${plant.nameplate_value} ${plant.nameplate_unit}` })),
    el("div", { class: "kv", "data-role": "values" }, el("span", { text: "waiting for data…" }), el("span")));
    cards.append(card);
  }
}

async function refreshOverview() {
  await Promise.all(state.plants.map(async (plant) => {
    try {
      const latest = await api(`/plants/${plant.id}/latest`);
      const box = document.querySelector(`.plant-card[data-plant="${plant.id}"] [data-role="values"]`);
      if (!box) return;
      const rows = [];
      for (const reading of latest.slice(0, 6)) {
        rows.push(el("span", { text: `${reading.line} · ${reading.name}`, title: reading.sensor_id }));
        rows.push(el("span", {
          class: `mono${reading.value === null ? " muted" : ""}`,
          "data-sensor": reading.sensor_id,
          text: reading.value === null ? "—" : `${formatValue(reading.value)} ${reading.unit}`,
        }));
      }
      if (rows.length === 0) rows.push(el("span", { text: "no key sensors" }), el("span"));
      box.replaceChildren(...rows);
    } catch (error) {
      if (error instanceof Unauthorized) throw error;
    }
  }));
}

// -- pickers -----------------------------------------------------------------------------------

function fillSelect(select, options, selected) {
  select.replaceChildren(...options.map((o) => el("option", { value: o.id, text: o.name || o.id })));
  select.value = selected;
}

function currentTree() { return state.trees.get(state.selection.plant); }
function currentArea() { return currentTree()?.areas.find((a) => a.id === state.selection.area); }
function currentLine() { return currentArea()?.lines.find((l) => l.id === state.selection.line); }

function lineHasKeySensors(line) { return line.devices.some((d) => d.sensors.some((s) => s.key)); }

function selectPlant(plantId, areaId = null, lineId = null) {
  const tree = state.trees.get(plantId);
  if (!tree) return;
  const area = tree.areas.find((a) => a.id === areaId) || tree.areas.find((a) => a.lines.some(lineHasKeySensors)) || tree.areas[0];
  const line = area.lines.find((l) => l.id === lineId) || area.lines.find(lineHasKeySensors) || area.lines[0];
  state.selection = { plant: plantId, area: area.id, line: line.id };
  localStorage.setItem("ganlink.selection", JSON.stringify(state.selection));
  fillSelect($("pick-plant"), state.plants, plantId);
  fillSelect($("pick-area"), tree.areas, area.id);
  fillSelect($("pick-line"), area.lines, line.id);
  for (const card of document.querySelectorAll(".plant-card")) {
    card.classList.toggle("selected", card.dataset.plant === plantId);
  }
  loadLine();
}

$("pick-plant").addEventListener("change", (e) => selectPlant(e.target.value));
$("pick-area").addEventListener("change", (e) => selectPlant(state.selection.plant, e.target.value));
$("pick-line").addEventListener("change", (e) => selectPlant(state.selection.plant, state.selection.area, e.target.value));
$("pick-window").addEventListener("change", (e) => { state.windowMin = Number(e.target.value); loadLine(); });

// -- line view ---------------------------------------------------------------------------------

function chartSensors(line) {
  const all = line.devices.flatMap((d) => d.sensors);
  const keys = all.filter((s) => s.key);
  return (keys.length ? keys : all).slice(0, MAX_CHARTS);
}

function buildChart(meta) {
  const value = el("span", { class: "chart-value stale", text: "—" });
  const marker = el("i", { style: "left: 0%" });
  const canvas = el("canvas", { "aria-label": `${meta.name} chart` });
  const stamp = el("span", { text: "no data" });
  const panel = el("div", { class: "chart", "data-sensor": meta.sensor_id },
    el("div", { class: "chart-head" },
      el("div", {}, el("div", { class: "chart-name", text: meta.name }),
        el("div", { class: "chart-device", text: `${meta.device} · ${meta.kind} · class ${meta.data_class}` })),
      value),
    canvas,
    el("div", { class: "gauge", title: "position in the engineering range" }, marker),
    el("div", { class: "chart-foot" },
      el("span", { text: `${formatValue(meta.range_min)} ${meta.unit}` }),
      stamp,
      el("span", { text: `${formatValue(meta.range_max)} ${meta.unit}` })));
  return { panel, value, marker, canvas, stamp };
}

async function loadLine() {
  const generation = ++state.lineGeneration;
  const line = currentLine();
  if (!line) return;
  $("line-title").textContent = `${currentTree().name} / ${currentArea().name} / ${line.name}`;
  $("line-meta").textContent = `${line.kind} line · ${line.devices.length} devices · ${line.devices.reduce((n, d) => n + d.sensors.length, 0)} sensors`;
  state.charts.clear();
  state.anomalyTimes.clear();
  const holder = $("charts");
  holder.replaceChildren();
  for (const meta of chartSensors(line)) {
    const elements = buildChart(meta);
    holder.append(elements.panel);
    state.charts.set(meta.sensor_id, { meta, points: [], elements });
  }
  $("sensor-rows").replaceChildren();
  $("anomalies").replaceChildren();
  $("alarms").replaceChildren();
  await Promise.all([...state.charts.values()].map(async (chart) => {
    try {
      const result = await api(`/sensors/${chart.meta.sensor_id}/range`, { start: `now-${state.windowMin}m` });
      if (generation === state.lineGeneration) chart.points = result.points;
    } catch (error) {
      if (error instanceof Unauthorized) throw error;
    }
  }));
  if (generation !== state.lineGeneration) return;
  await Promise.all([refreshLine(), refreshAnomalies(), refreshAlarms()]);
}

function linePath() {
  const { plant, area, line } = state.selection;
  return `/plants/${plant}/areas/${area}/lines/${line}`;
}

async function refreshLine() {
  if (!state.selection.line) return;
  const generation = state.lineGeneration;
  const latest = await api(`${linePath()}/latest`);
  if (generation !== state.lineGeneration) return;
  const now = Date.now();
  const rows = [];
  for (const reading of latest) {
    const age = reading.time_ms === null ? null : Math.max(0, (now - reading.time_ms) / 1000);
    rows.push(el("tr", { "data-sensor": reading.sensor_id },
      el("td", { text: reading.device }),
      el("td", { text: reading.name, title: reading.sensor_id }),
      el("td", { class: "num", text: reading.value === null ? "—" : formatValue(reading.value) }),
      el("td", { text: reading.unit }),
      el("td", { class: "mono muted", text: `${formatValue(reading.range_min)} … ${formatValue(reading.range_max)}` }),
      el("td", { class: `q-${reading.quality || "none"}`,
        text: reading.restricted ? "class 3: withheld" : reading.quality || "no data" }),
      el("td", { class: "mono muted", text: age === null ? "" : age < 120 ? `${age.toFixed(0)} s` : `${(age / 60).toFixed(0)} min` })));
    const chart = state.charts.get(reading.sensor_id);
    if (!chart || reading.value === null) continue;
    const last = chart.points[chart.points.length - 1];
    if (!last || reading.time_ms > last[0]) chart.points.push([reading.time_ms, reading.value]);
    const { value, marker, stamp } = chart.elements;
    const outside = reading.value < reading.range_min || reading.value > reading.range_max;
    const stale = age > Math.max(10, 5 * chart.meta.sample_period_s);
    value.className = `chart-value${outside ? " out" : ""}${stale ? " stale" : ""}`;
    value.replaceChildren(formatValue(reading.value), el("span", { class: "unit", text: chart.meta.unit }));
    const share = (reading.value - reading.range_min) / (reading.range_max - reading.range_min);
    marker.style.left = `${Math.min(100, Math.max(0, share * 100)).toFixed(1)}%`;
    stamp.textContent = `${new Date(reading.time_ms).toLocaleTimeString()} · ${reading.quality}`;
  }
  $("sensor-rows").replaceChildren(...rows);
  drawCharts();
}

function drawCharts() {
  const nowMs = Date.now();
  const windowMs = state.windowMin * 60_000;
  for (const chart of state.charts.values()) {
    chart.points = chart.points.filter(([t]) => t >= nowMs - windowMs - 60_000);
    drawChart(chart.elements.canvas, chart.points, {
      nowMs, windowMs, rangeMin: chart.meta.range_min, rangeMax: chart.meta.range_max,
      anomalies: state.anomalyTimes.get(chart.meta.sensor_id) || [],
    });
  }
}

async function refreshAnomalies() {
  if (!state.selection.line) return;
  const generation = state.lineGeneration;
  const events = await api(`${linePath()}/anomalies`, { start: "now-24h", limit: "100" });
  if (generation !== state.lineGeneration) return;
  state.anomalyTimes.clear();
  for (const event of events) {
    if (!state.anomalyTimes.has(event.sensor_id)) state.anomalyTimes.set(event.sensor_id, []);
    state.anomalyTimes.get(event.sensor_id).push(event.time_ms);
  }
  const recent = Date.now() - 5 * 60_000;
  for (const chart of state.charts.values()) {
    const times = state.anomalyTimes.get(chart.meta.sensor_id) || [];
    chart.elements.panel.classList.toggle("alarm", times.some((t) => t >= recent));
  }
  $("anomaly-count").textContent = String(events.length);
  $("anomaly-count").classList.toggle("hot", events.some((e) => e.time_ms >= recent));
  const items = events.slice(0, 60).map((event) => {
    const sensor = event.sensor_id.split(".").slice(3).join(" / ");
    const severity = event.details?.severity ? ` · ${event.details.severity}` : "";
    return el("li", { class: event.score >= 0.8 ? "high" : "" },
      el("span", { class: "when", text: `${new Date(event.time_ms).toLocaleString()} · ${event.detector}${severity}` }),
      el("span", { class: "what", text: `${sensor}: ${event.value === null ? "(withheld)" : formatValue(event.value)} (score ${event.score.toFixed(2)})` }));
  });
  $("anomalies").replaceChildren(...(items.length ? items : [el("li", { class: "empty", text: "no anomalies in the last 24 h" })]));
}

async function refreshAlarms() {
  if (!state.selection.line) return;
  const generation = state.lineGeneration;
  const alarms = await api(`${linePath()}/alarms`, { active: "true", limit: "50" });
  if (generation !== state.lineGeneration) return;
  $("alarm-count").textContent = String(alarms.length);
  $("alarm-count").classList.toggle("hot", alarms.some((a) => !a.acknowledged));
  const items = alarms.map((alarm) => {
    const sensor = alarm.sensor_id.split(".").slice(3).join(" / ");
    const note = el("span", { class: "note" });
    const ack = el("button", { type: "button", text: "Ack", title: "acknowledge (engineer role)" });
    ack.addEventListener("click", async () => {
      try {
        await api(`/alarms/${alarm.id}/acknowledge`, {}, "POST");
        await refreshAlarms();
      } catch (error) {
        note.textContent = String(error.message || error);
      }
    });
    return el("li", { class: alarm.acknowledged ? "acked" : "", "data-alarm": alarm.id },
      el("span", {},
        el("span", { class: "sev", text: `${alarm.severity} · ${alarm.status}` }),
        el("span", { class: "what", text: ` ${sensor}` }),
        el("span", { class: "when", text: ` since ${new Date(alarm.raised_ms).toLocaleTimeString()}` })),
      alarm.acknowledged ? el("span", { class: "muted", text: "acked" }) : ack,
      note);
  });
  $("alarms").replaceChildren(...(items.length ? items : [el("li", { class: "empty", text: "no active alarms" })]));
}

// -- start -------------------------------------------------------------------------------------

function every(ms, task) {
  const run = async () => {
    try {
      await task();
      setLink(true, "live");
    } catch (error) {
      if (error instanceof Unauthorized) { showLogin("The token was refused; sign in again."); return; }
      setLink(false, "API unreachable");
    }
    setTimeout(run, ms);
  };
  setTimeout(run, ms);
}

async function start() {
  state.token = takeTokenFromFragment();
  if (!state.token) { showLogin(); return; }
  try {
    const me = await api("/me");
    $("who").textContent = `${me.name} · ${me.role}`;
    state.plants = await api("/plants");
    for (const plant of state.plants) state.trees.set(plant.id, await api(`/plants/${plant.id}`));
  } catch (error) {
    if (error instanceof Unauthorized) { showLogin("The token was refused; sign in again."); return; }
    setLink(false, "API unreachable");
    return;
  }
  setLink(true, "live");
  renderPlantCards();
  const saved = JSON.parse(localStorage.getItem("ganlink.selection") || "null");
  const first = state.plants[0];
  if (saved && state.trees.has(saved.plant)) selectPlant(saved.plant, saved.area, saved.line);
  else if (first) selectPlant(first.id);
  await refreshOverview().catch(() => {});
  every(LINE_POLL_MS, refreshLine);
  every(OVERVIEW_POLL_MS, refreshOverview);
  every(ANOMALY_POLL_MS, refreshAnomalies);
  every(ANOMALY_POLL_MS, refreshAlarms);
  setInterval(() => { $("clock").textContent = new Date().toLocaleTimeString(); drawCharts(); }, 1000);
  window.addEventListener("resize", drawCharts);
}

start();
