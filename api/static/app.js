// The workshop page: plant overview cards with gateway status, plant -> area -> line pickers, live
// charts of the line's key sensors (fed by the line's event stream, polling when it fails) with
// anomaly markers and shaded data gaps, all its sensors in a table, its active alarms with the
// operator actions the role allows, and its anomalies. Talks only to /api/v1 with a bearer token.
import { AlarmList } from "./alarms.js";
import { drawChart, formatValue } from "./chart.js";
import {
  $, Unauthorized, ageText, apiJson, el, forgetToken, setLink, showLogin, storeToken, takeToken,
} from "./common.js";
import { LineStream } from "./live.js";
import { refreshOverview, renderPlantCards, showGatewaysOf } from "./overview.js";

const LINE_POLL_MS = 2000;
const OVERVIEW_POLL_MS = 5000;
const ANOMALY_POLL_MS = 5000;
const COMPLETENESS_POLL_MS = 30_000;
const MAX_CHARTS = 8;

const state = {
  me: null,
  plants: [],
  trees: new Map(),
  selection: { plant: null, area: null, line: null },
  windowMin: 10,
  charts: new Map(), // sensor_id -> {meta, points, elements, markers}
  anomalies: new Map(), // sensor_id -> [anomaly event]
  latest: new Map(), // sensor_id -> {reading, source}
  // The event store keeps no details; the why is on the event's alarm, fetched once per alarm on hover.
  alarmWhy: new Map(), // alarm id -> why text ("" when none)
  stream: null,
  alarms: null,
  lineGeneration: 0,
};

// -- token -------------------------------------------------------------------------------------

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  storeToken($("login-token").value.trim());
  $("login").close();
  start();
});
$("logout").addEventListener("click", () => { forgetToken(); window.location.reload(); });

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
  const plantChanged = plantId !== state.selection.plant;
  state.selection = { plant: plantId, area: area.id, line: line.id };
  localStorage.setItem("ganlink.selection", JSON.stringify(state.selection));
  fillSelect($("pick-plant"), state.plants, plantId);
  fillSelect($("pick-area"), tree.areas, area.id);
  fillSelect($("pick-line"), area.lines, line.id);
  for (const card of document.querySelectorAll(".plant-card")) {
    card.classList.toggle("selected", card.dataset.plant === plantId);
  }
  if (plantChanged) showGatewaysOf(plantId);
  loadLine();
}

$("pick-plant").addEventListener("change", (e) => selectPlant(e.target.value));
$("pick-area").addEventListener("change", (e) => selectPlant(state.selection.plant, e.target.value));
$("pick-line").addEventListener("change", (e) => selectPlant(state.selection.plant, state.selection.area, e.target.value));
$("pick-window").addEventListener("change", (e) => { state.windowMin = Number(e.target.value); loadLine(); });

// -- line view: charts -------------------------------------------------------------------------

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
        el("div", { class: "chart-device", text: `${meta.device} · ${meta.kind} · class ${meta.data_class} · every ${meta.sample_period_s} s` })),
      value),
    canvas,
    el("div", { class: "gauge", title: "position in the engineering range" }, marker),
    el("div", { class: "chart-foot" },
      el("span", { text: `${formatValue(meta.range_min)} ${meta.unit}` }),
      stamp,
      el("span", { text: `${formatValue(meta.range_max)} ${meta.unit}` })));
  return { panel, value, marker, canvas, stamp };
}

async function fetchWhy(alarmId) {
  if (state.alarmWhy.has(alarmId)) return;
  state.alarmWhy.set(alarmId, "");
  try {
    state.alarmWhy.set(alarmId, (await apiJson(`/alarms/${encodeURIComponent(alarmId)}`)).details?.why || "");
  } catch { /* no alarm for it (yet): the tooltip goes without a why */ }
}

function anomalyTip(event) {
  const details = event.details || {};
  const lines = [`${event.detector} · score ${event.score.toFixed(2)} · ${new Date(event.time_ms).toLocaleTimeString()}`];
  if (event.value !== null) lines.push(`value ${formatValue(event.value)}${details.unit ? ` ${details.unit}` : ""}`);
  const why = details.why || state.alarmWhy.get(event.alarm_id);
  if (why) lines.push(why);
  return lines;
}

function showTip(chart, mouse) {
  const tip = $("chart-tip");
  const box = chart.elements.canvas.getBoundingClientRect();
  const x = mouse.clientX - box.left;
  const near = chart.markers.filter((m) => Math.abs(m.x - x) <= 6).slice(0, 3);
  if (near.length === 0) { tip.hidden = true; return; }
  tip.replaceChildren(...near.map((m) => el("div", { class: "tip-event" },
    ...anomalyTip(m.event).map((text) => el("div", { text })))));
  tip.hidden = false;
  tip.style.left = `${Math.min(window.innerWidth - 340, mouse.clientX + 12)}px`;
  tip.style.top = `${mouse.clientY + 12}px`;
  const missing = near.filter((m) => m.event.alarm_id && !state.alarmWhy.has(m.event.alarm_id));
  if (missing.length) {
    Promise.all(missing.map((m) => fetchWhy(m.event.alarm_id))).then(() => { if (!tip.hidden) showTip(chart, mouse); });
  }
}

function drawCharts() {
  const nowMs = Date.now();
  const windowMs = state.windowMin * 60_000;
  for (const chart of state.charts.values()) {
    chart.points = chart.points.filter(([t]) => t >= nowMs - windowMs - 60_000);
    const drawn = drawChart(chart.elements.canvas, chart.points, {
      nowMs, windowMs, rangeMin: chart.meta.range_min, rangeMax: chart.meta.range_max,
      samplePeriodMs: chart.meta.sample_period_s * 1000,
      anomalies: state.anomalies.get(chart.meta.sensor_id) || [],
    });
    chart.markers = drawn.markers;
    chart.elements.panel.dataset.gaps = String(drawn.gaps.length);
    chart.elements.panel.dataset.markers = String(drawn.markers.length);
    chart.elements.canvas.dataset.markerX = drawn.markers.map((m) => m.x.toFixed(0)).join(" "); // where to hover
    const missingS = drawn.gaps.reduce((sum, [from, to]) => sum + (to - from), 0) / 1000;
    chart.elements.panel.title = missingS > 0 ? `no data for ${ageText(missingS)} of the window (shaded)` : "";
  }
}

// -- line view: live values --------------------------------------------------------------------

/** Take newest values (from the stream or a poll) into the charts and the sensor table. */
function applyReadings(readings, source) {
  for (const reading of readings) {
    state.latest.set(reading.sensor_id, { reading, source });
    const chart = state.charts.get(reading.sensor_id);
    if (!chart || reading.value === null) continue;
    const last = chart.points[chart.points.length - 1];
    if (!last || reading.time_ms > last[0]) chart.points.push([reading.time_ms, reading.value]);
    const { value, marker, stamp } = chart.elements;
    const outside = reading.value < reading.range_min || reading.value > reading.range_max;
    const ageS = (Date.now() - reading.time_ms) / 1000;
    const stale = ageS > Math.max(10, 5 * chart.meta.sample_period_s);
    value.className = `chart-value${outside ? " out" : ""}${stale ? " stale" : ""}`;
    value.dataset.source = source;
    value.replaceChildren(formatValue(reading.value), el("span", { class: "unit", text: chart.meta.unit }));
    const share = (reading.value - reading.range_min) / (reading.range_max - reading.range_min);
    marker.style.left = `${Math.min(100, Math.max(0, share * 100)).toFixed(1)}%`;
    stamp.textContent = `${new Date(reading.time_ms).toLocaleTimeString()} · ${reading.quality} · ${source}`;
  }
  renderSensorTable();
  drawCharts();
}

function sensorRow({ reading }, now) {
  const age = reading.time_ms === null ? null : Math.max(0, (now - reading.time_ms) / 1000);
  return el("tr", { "data-sensor": reading.sensor_id },
    el("td", { text: reading.device }),
    el("td", { text: reading.name, title: reading.sensor_id }),
    el("td", { class: "num", text: reading.value === null ? "—" : formatValue(reading.value) }),
    el("td", { text: reading.unit }),
    el("td", { class: "mono muted", text: `${formatValue(reading.range_min)} … ${formatValue(reading.range_max)}` }),
    el("td", { class: `q-${reading.quality || "none"}`,
      text: reading.restricted ? "class 3: withheld" : reading.quality || "no data" }),
    el("td", { class: "mono muted", text: age === null ? "" : ageText(age) }));
}

function renderSensorTable() {
  const now = Date.now();
  $("sensor-rows").replaceChildren(...[...state.latest.values()].map((entry) => sensorRow(entry, now)));
}

function linePath() {
  const { plant, area, line } = state.selection;
  return `/plants/${plant}/areas/${area}/lines/${line}`;
}

/** Poll the line's newest values, unless the stream is delivering them. */
async function pollLine() {
  if (!state.selection.line) return;
  if (state.stream?.healthy()) { renderSensorTable(); return; }
  const generation = state.lineGeneration;
  const latest = await apiJson(`${linePath()}/latest`);
  if (generation === state.lineGeneration) applyReadings(latest, "poll");
}

function linkState() {
  if (state.stream?.healthy()) setLink(true, "live · stream");
  else setLink(true, "live · polling");
}

function startStream(generation) {
  state.stream?.stop();
  state.stream = new LineStream(linePath(), {
    readings: (readings) => { if (generation === state.lineGeneration) applyReadings(readings, "stream"); },
    alarms: () => { if (generation === state.lineGeneration) refreshAlarms().catch(() => {}); },
    state: (name) => {
      if (name === "refused") showLogin("The token was refused; sign in again.");
      else linkState();
    },
  }).start();
}

// -- line view: anomalies, alarms, completeness --------------------------------------------------

async function refreshAnomalies() {
  if (!state.selection.line) return;
  const generation = state.lineGeneration;
  const events = await apiJson(`${linePath()}/anomalies`, { params: { start: "now-24h", limit: "200" } });
  if (generation !== state.lineGeneration) return;
  state.anomalies.clear();
  for (const event of events) {
    if (!state.anomalies.has(event.sensor_id)) state.anomalies.set(event.sensor_id, []);
    state.anomalies.get(event.sensor_id).push(event);
  }
  const recent = Date.now() - 5 * 60_000;
  for (const chart of state.charts.values()) {
    const mine = state.anomalies.get(chart.meta.sensor_id) || [];
    chart.elements.panel.classList.toggle("alarm", mine.some((e) => e.time_ms >= recent));
  }
  $("anomaly-count").textContent = String(events.length);
  $("anomaly-count").classList.toggle("hot", events.some((e) => e.time_ms >= recent));
  const items = events.slice(0, 60).map((event) => {
    const sensor = event.sensor_id.split(".").slice(3).join(" / ");
    const severity = event.details?.severity ? ` · ${event.details.severity}` : "";
    return el("li", { class: event.score >= 0.8 ? "high" : "", title: event.details?.why || "" },
      el("span", { class: "when", text: `${new Date(event.time_ms).toLocaleString()} · ${event.detector}${severity}` }),
      el("span", { class: "what", text: `${sensor}: ${event.value === null ? "(withheld)" : formatValue(event.value)} (score ${event.score.toFixed(2)})` }));
  });
  $("anomalies").replaceChildren(...(items.length ? items : [el("li", { class: "empty", text: "no anomalies in the last 24 h" })]));
  drawCharts();
}

async function refreshAlarms() {
  if (!state.selection.line) return;
  const generation = state.lineGeneration;
  const alarms = await apiJson(`${linePath()}/alarms`, { params: { active: "true", limit: "50" } });
  if (generation === state.lineGeneration) state.alarms.render(alarms);
}

async function refreshCompleteness() {
  if (!state.selection.line) return;
  const generation = state.lineGeneration;
  const { plant, area, line } = state.selection;
  const report = await apiJson(`/plants/${plant}/completeness`, { params: { start: `now-${state.windowMin}m`, area, line } });
  if (generation !== state.lineGeneration) return;
  const ratio = report.lines[0]?.ratio;
  const badge = $("line-completeness");
  badge.textContent = ratio === undefined ? "" : `data ${(100 * ratio).toFixed(1)} % complete (${state.windowMin} min)`;
  badge.className = `badge${ratio !== undefined && ratio < 0.9 ? " hot" : ""}`;
}

async function loadChartHistory(generation) {
  await Promise.all([...state.charts.values()].map(async (chart) => {
    try {
      const result = await apiJson(`/sensors/${chart.meta.sensor_id}/range`, { params: { start: `now-${state.windowMin}m` } });
      if (generation === state.lineGeneration) chart.points = result.points;
    } catch (error) {
      if (error instanceof Unauthorized) throw error;
    }
  }));
}

async function loadLine() {
  const generation = ++state.lineGeneration;
  const line = currentLine();
  if (!line) return;
  state.stream?.stop();
  state.stream = null;
  $("line-title").textContent = `${currentTree().name} / ${currentArea().name} / ${line.name}`;
  $("line-meta").textContent = `${line.kind} line · ${line.devices.length} devices · ${line.devices.reduce((n, d) => n + d.sensors.length, 0)} sensors`;
  state.charts.clear();
  state.anomalies.clear();
  state.latest.clear();
  state.alarms.reset();
  $("charts").replaceChildren();
  for (const meta of chartSensors(line)) {
    const elements = buildChart(meta);
    const chart = { meta, points: [], elements, markers: [] };
    elements.canvas.addEventListener("mousemove", (event) => showTip(chart, event));
    elements.canvas.addEventListener("mouseleave", () => { $("chart-tip").hidden = true; });
    $("charts").append(elements.panel);
    state.charts.set(meta.sensor_id, chart);
  }
  $("sensor-rows").replaceChildren();
  $("anomalies").replaceChildren();
  await loadChartHistory(generation);
  if (generation !== state.lineGeneration) return;
  await Promise.all([pollLine(), refreshAnomalies(), refreshAlarms(), refreshCompleteness()]);
  if (generation === state.lineGeneration) startStream(generation);
}

// -- start -------------------------------------------------------------------------------------

function every(ms, task) {
  const run = async () => {
    try {
      await task();
      linkState();
    } catch (error) {
      if (error instanceof Unauthorized) { showLogin("The token was refused; sign in again."); return; }
      setLink(false, "API unreachable");
    }
    setTimeout(run, ms);
  };
  setTimeout(run, ms);
}

async function start() {
  if (!takeToken()) { showLogin(); return; }
  try {
    state.me = await apiJson("/me");
    $("who").textContent = `${state.me.name} · ${state.me.role}`;
    state.plants = await apiJson("/plants");
    for (const plant of state.plants) state.trees.set(plant.id, await apiJson(`/plants/${plant.id}`));
  } catch (error) {
    if (error instanceof Unauthorized) { showLogin("The token was refused; sign in again."); return; }
    setLink(false, "API unreachable");
    return;
  }
  state.alarms = new AlarmList(state.me.role, refreshAlarms);
  setLink(null, "connecting");
  renderPlantCards(state.plants, state.selection.plant, (plantId) => selectPlant(plantId));
  const saved = JSON.parse(localStorage.getItem("ganlink.selection") || "null");
  const first = state.plants[0];
  if (saved && state.trees.has(saved.plant)) selectPlant(saved.plant, saved.area, saved.line);
  else if (first) selectPlant(first.id);
  const overview = () => refreshOverview(state.plants, state.selection.plant);
  await overview().catch(() => {});
  every(LINE_POLL_MS, pollLine);
  every(OVERVIEW_POLL_MS, overview);
  every(ANOMALY_POLL_MS, refreshAnomalies);
  every(ANOMALY_POLL_MS, refreshAlarms);
  every(COMPLETENESS_POLL_MS, refreshCompleteness);
  setInterval(() => { $("clock").textContent = new Date().toLocaleTimeString(); drawCharts(); }, 1000);
  window.addEventListener("resize", drawCharts);
}

start();
