// Factory comparison: ISO 22400 KPIs per plant for a period (table, bar charts, per-line tables),
// formula popovers with inputs, confidence marks, CSV export, and the digitalization scorecard with trend.
// Talks only to /api/v1 with the bearer token the workshop page stores (localStorage "ganlink.token").

import {
  $, ALARM_ROLES as ACK_ROLES, Unauthorized, apiFetch, el, setLink, showLogin, takeToken,
} from "./common.js";

const state = { token: null, me: null, period: { start: "now-24h", end: "now" }, compare: null, scorecard: null };

const request = (path, params = {}, method = "GET") => apiFetch(path, { params, method });

// -- formatting -------------------------------------------------------------------------------

const KPI_ORDER = [
  ["discrete lines (ISO 22400)", ["oee", "availability", "performance", "quality"]],
  ["continuous process", ["availability", "run_rate", "specific_energy", "produced"]],
  ["all plants", ["anomaly_rate", "alarm_rate", "ack_share", "mtta", "completeness"]],
];

function formatValue(kpi) {
  if (kpi.value === null || kpi.value === undefined) return "—";
  if (kpi.unit === "ratio") return `${(100 * kpi.value).toFixed(1)} %`;
  const digits = Math.abs(kpi.value) >= 100 ? 0 : Math.abs(kpi.value) >= 10 ? 1 : 2;
  return `${kpi.value.toFixed(digits)} ${kpi.unit}`;
}

function confidenceMark(kpi) {
  if (kpi.confidence === "low") return el("span", { class: "conf conf-low", title: "low confidence: inputs under 90 % complete", text: "◐" });
  if (kpi.confidence === "none") return el("span", { class: "conf conf-none", title: "no input data", text: "○" });
  return "";
}

function showPopover(anchor, title, formula, inputs, extra = []) {
  const pop = $("popover");
  pop.replaceChildren(
    el("b", { text: title }),
    el("div", { class: "formula", text: formula }),
    el("table", {}, ...Object.entries(inputs || {}).map(([name, value]) =>
      el("tr", {}, el("td", { class: "muted", text: name }), el("td", { text: typeof value === "number" ? String(+value.toFixed(4)) : String(value) })))),
    ...extra.filter(Boolean).map((line) => el("div", { class: "muted", text: line })),
  );
  const box = anchor.getBoundingClientRect();
  pop.style.left = `${Math.min(window.scrollX + box.left, window.scrollX + window.innerWidth - 440)}px`;
  pop.style.top = `${window.scrollY + box.bottom + 4}px`;
  pop.hidden = false;
}

function kpiCell(kpi) {
  if (!kpi) return el("td", { class: "num na", text: "n/a", title: "not applicable to this plant" });
  const cell = el("td", { class: "num", "data-kpi": kpi.key, tabindex: "0" }, formatValue(kpi), confidenceMark(kpi));
  const open = (event) => {
    event.stopPropagation();
    const completeness = kpi.completeness === null ? "" : `input completeness ${(100 * kpi.completeness).toFixed(1)} %`;
    showPopover(cell, `${kpi.iso_name}`, kpi.formula, kpi.inputs, [completeness, kpi.note]);
  };
  cell.addEventListener("click", open);
  cell.addEventListener("keydown", (event) => { if (event.key === "Enter") open(event); });
  return cell;
}

// -- KPI table, charts and line tables ---------------------------------------------------------

function byKey(kpis) { return Object.fromEntries(kpis.map((k) => [k.key, k])); }

function kindOf(plant) {
  const kinds = new Set(plant.lines.map((l) => l.kind));
  return kinds;
}

function renderTable(plants) {
  const table = $("kpi-table");
  table.tHead.replaceChildren(el("tr", {}, el("th", { text: "KPI" }),
    ...plants.map((p) => el("th", { class: "num", title: `${p.timezone}: ${p.start} … ${p.end}` }, p.name, el("span", { class: "iso", text: `${p.industry} · ${p.timezone}` })))));
  const body = [];
  for (const [group, keys] of KPI_ORDER) {
    const discrete = group.startsWith("discrete");
    const continuous = group.startsWith("continuous");
    const relevant = plants.some((p) => !discrete && !continuous || (discrete && kindOf(p).has("discrete")) || (continuous && kindOf(p).has("continuous")));
    if (!relevant) continue;
    body.push(el("tr", {}, el("td", { class: "group", colspan: String(plants.length + 1), text: group })));
    for (const key of keys) {
      const sample = plants.map((p) => byKey(p.kpis)[key]).find(Boolean);
      if (!sample) continue;
      body.push(el("tr", { "data-row": key },
        el("td", {}, sample.name, el("span", { class: "iso", text: sample.iso_name })),
        ...plants.map((p) => {
          const applies = !discrete && !continuous || (discrete && kindOf(p).has("discrete")) || (continuous && kindOf(p).has("continuous"));
          return kpiCell(applies ? byKey(p.kpis)[key] : null);
        })));
    }
  }
  table.tBodies[0].replaceChildren(...body);
}

const CHARTS = [
  ["availability", "Availability"], ["oee", "OEE"], ["run_rate", "Run rate vs nameplate"],
  ["completeness", "Data completeness"], ["anomaly_rate", "Anomalies per 1000 sensor-h"], ["mtta", "Mean time to acknowledge (min)"],
];

function barChart(title, rows) {
  const height = 22 * rows.length + 26;
  const max = Math.max(1e-9, ...rows.map((r) => r.value ?? 0));
  const ratio = rows.every((r) => r.unit === "ratio");
  const scale = ratio ? 1 : max;
  const svg = el("svg:svg", { viewBox: `0 0 320 ${height}`, role: "img", "aria-label": title });
  svg.append(el("svg:text", { x: "0", y: "12", class: "muted", text: title }));
  rows.forEach((row, index) => {
    const y = 22 + index * 22;
    svg.append(el("svg:text", { x: "0", y: String(y + 11), text: row.label.slice(0, 22) }));
    svg.append(el("svg:rect", { x: "130", y: String(y), width: "150", height: "14", fill: "#16202b" }));
    if (row.value !== null && row.value !== undefined) {
      const width = Math.max(1, 150 * Math.min(1, row.value / scale));
      const color = row.confidence === "high" ? "#3fb6ff" : row.confidence === "low" ? "#ffb020" : "#ff4d4f";
      svg.append(el("svg:rect", { x: "130", y: String(y), width: String(width), height: "14", fill: color, "data-plant": row.plant }));
    }
    svg.append(el("svg:text", { x: "284", y: String(y + 11), text: row.text }));
  });
  return el("div", { class: "kpi-chart" }, svg);
}

function renderCharts(plants) {
  const charts = [];
  for (const [key, title] of CHARTS) {
    const rows = plants.map((p) => ({ plant: p.plant, label: p.plant, ...(byKey(p.kpis)[key] || {}) }))
      .filter((r) => r.key).map((r) => ({ ...r, text: r.unit === "ratio" || r.value === null ? formatValue(r) : String(+r.value.toPrecision(3)) }));
    if (rows.length) charts.push(barChart(title, rows));
  }
  $("kpi-charts").replaceChildren(...charts);
}

function renderLines(plants) {
  const blocks = plants.map((plant) => {
    const keys = [...new Set(plant.lines.flatMap((l) => l.kpis.map((k) => k.key)))];
    const table = el("table", { class: "grid" },
      el("thead", {}, el("tr", {}, el("th", { text: "line" }), el("th", { text: "kind" }),
        ...keys.map((key) => el("th", { class: "num", text: plant.lines.flatMap((l) => l.kpis).find((k) => k.key === key).name })))),
      el("tbody", {}, ...plant.lines.map((line) => el("tr", {},
        el("td", { text: `${line.area}/${line.line}`, title: line.name }), el("td", { class: "muted", text: line.kind }),
        ...keys.map((key) => kpiCell(byKey(line.kpis)[key]))))));
    return el("details", { class: "line-block", open: "" }, el("summary", { text: `${plant.name} — ${plant.lines.length} lines with KPI inputs` }),
      plant.lines.length ? table : el("p", { class: "muted", text: "no line has KPI inputs (state signal or throughput sensor)" }));
  });
  $("line-tables").replaceChildren(...blocks);
}

// -- scorecard ---------------------------------------------------------------------------------

function scoreClass(score) { return score === null ? "na" : score >= 80 ? "good" : score >= 50 ? "warn" : "bad"; }

function sparkline(values) {
  const svg = el("svg:svg", { viewBox: "0 0 70 18", "aria-label": "trend, oldest to newest" });
  const points = values.map((v, i) => [values.length === 1 ? 35 : 2 + (66 * i) / (values.length - 1), v]).filter(([, v]) => v !== null);
  if (points.length) {
    svg.append(el("svg:polyline", { points: points.map(([x, v]) => `${x.toFixed(1)},${(16 - 14 * v / 100).toFixed(1)}`).join(" "),
      fill: "none", stroke: "#3fb6ff", "stroke-width": "1.5" }));
    const [x, v] = points[points.length - 1];
    svg.append(el("svg:circle", { cx: x.toFixed(1), cy: (16 - 14 * v / 100).toFixed(1), r: "2", fill: "#3fb6ff" }));
  }
  return svg;
}

function renderScorecards(cards) {
  $("scorecards").replaceChildren(...cards.map((card) => {
    const [current, ...older] = card.periods;
    const history = [...older].reverse().concat([current]);
    const rows = current.parts.map((part) => {
      const trend = history.map((p) => p.parts.find((q) => q.key === part.key)?.score ?? null);
      const row = el("div", { class: "score-row", "data-part": part.key, tabindex: "0" },
        el("span", { text: part.name }),
        el("span", { class: "score-bar" }, el("i", { style: `width:${part.score ?? 0}%` })),
        el("span", { class: `num ${scoreClass(part.score)}`, text: part.score === null ? "—" : part.score.toFixed(0) }),
        sparkline(trend));
      row.addEventListener("click", (event) => { event.stopPropagation(); showPopover(row, part.name, part.formula, part.inputs, [part.score === null ? "nothing to score in this period" : ""]); });
      return row;
    });
    const trendAll = history.map((p) => p.overall);
    const openAlarms = el("details", { class: "open-alarms" }, el("summary", { text: "unacknowledged alarms of the period" }), el("ol", { class: "anomalies" }));
    openAlarms.addEventListener("toggle", () => { if (openAlarms.open) loadOpenAlarms(card.plant, current, openAlarms.querySelector("ol")); });
    return el("div", { class: "scorecard", "data-plant": card.plant },
      el("div", { class: "head" }, el("b", { text: card.name }),
        el("span", {}, el("span", { class: `overall ${scoreClass(current.overall)}`, text: current.overall === null ? "—" : current.overall.toFixed(0) }), " ", sparkline(trendAll))),
      ...rows, openAlarms);
  }));
}

// Drill-down behind "alarms acknowledged": the period's alarms nobody acknowledged yet, with the
// acknowledge action for roles that may take it (the scores follow on the next load of the page).
async function loadOpenAlarms(plant, period, list) {
  list.replaceChildren(el("li", { class: "empty", text: "loading…" }));
  const alarms = await (await request(`/plants/${plant}/alarms`, { limit: "1000" })).json();
  const open = alarms.filter((a) => !a.acknowledged && a.raised_ms >= period.start_ms && a.raised_ms < period.end_ms);
  const canAck = state.me && ACK_ROLES.has(state.me.role);
  if (!open.length) { list.replaceChildren(el("li", { class: "empty", text: "every alarm of the period is acknowledged" })); return; }
  list.replaceChildren(...open.slice(0, 50).map((alarm) => {
    const item = el("li", { class: alarm.severity === "critical" || alarm.severity === "major" ? "high" : "", "data-alarm": alarm.id },
      el("span", { class: "when", text: `${new Date(alarm.raised_ms).toLocaleString()} · ${alarm.severity} · ${alarm.status}` }),
      el("span", { class: "what", text: alarm.sensor_id.split(".").slice(2).join(" / ") }));
    if (canAck) {
      const button = el("button", { type: "button", class: "ack", text: "acknowledge" });
      button.addEventListener("click", async (event) => {
        event.stopPropagation();
        button.disabled = true;
        try {
          const done = await (await request(`/alarms/${alarm.id}/acknowledge`, {}, "POST")).json();
          item.replaceChildren(el("span", { class: "when", text: `acknowledged by ${done.acknowledged_by}` }), el("span", { class: "what", text: alarm.sensor_id.split(".").slice(2).join(" / ") }));
          item.classList.add("acked");
        } catch (error) {
          button.disabled = false;
          item.append(el("span", { class: "error", text: String(error.message || error) }));
        }
      });
      item.append(button);
    }
    return item;
  }));
  if (open.length > 50) list.append(el("li", { class: "empty", text: `… and ${open.length - 50} more` }));
}

// -- period, export, load ------------------------------------------------------------------------

function localDate(offsetDays) {
  const day = new Date(Date.now() + offsetDays * 86400000);
  return `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, "0")}-${String(day.getDate()).padStart(2, "0")}`;
}

function periodFromPicker() {
  const choice = $("pick-period").value;
  if (choice === "today") return { start: localDate(0), end: "now" };
  if (choice === "yesterday") return { start: localDate(-1), end: localDate(0) };
  if (choice === "custom") return { start: $("period-start").value, end: $("period-end").value };
  const [start, end] = choice.split("|");
  return { start, end };
}

async function exportCsv() {
  const response = await request("/compare", { ...state.period, format: "csv" });
  const blob = new Blob([await response.text()], { type: "text/csv" });
  const link = el("a", { href: URL.createObjectURL(blob), download: `ganlink-compare-${state.period.start}-${state.period.end}.csv` });
  document.body.append(link);
  link.click();
  link.remove();
}

async function load() {
  setLink(null, "loading");
  try {
    const [compare, scorecard] = await Promise.all([
      request("/compare", state.period).then((r) => r.json()),
      request("/scorecard", state.period).then((r) => r.json()),
    ]);
    state.compare = compare;
    state.scorecard = scorecard;
    $("period-label").textContent = `${state.period.start} … ${state.period.end}`;
    renderTable(compare.plants);
    renderCharts(compare.plants);
    renderLines(compare.plants);
    renderScorecards(scorecard.plants);
    setLink(true, `${compare.plants.length} plants`);
    document.body.dataset.loaded = "true";
  } catch (error) {
    if (error instanceof Unauthorized) { showLogin("The token was refused; sign in again."); return; }
    setLink(false, "error");
    $("period-label").textContent = String(error.message || error);
  }
}

async function start() {
  document.addEventListener("click", () => { $("popover").hidden = true; });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") $("popover").hidden = true; });
  $("login-form").addEventListener("submit", () => {
    localStorage.setItem("ganlink.token", $("login-token").value.trim());
    window.location.reload();
  });
  $("logout").addEventListener("click", () => { localStorage.removeItem("ganlink.token"); window.location.reload(); });
  $("pick-period").addEventListener("change", () => {
    const custom = $("pick-period").value === "custom";
    $("custom-period").hidden = !custom;
    if (!custom) { state.period = periodFromPicker(); load(); }
  });
  $("apply-period").addEventListener("click", () => { state.period = periodFromPicker(); load(); });
  $("export-csv").addEventListener("click", () => exportCsv().catch((error) => setLink(false, String(error.message || error))));
  const query = new URLSearchParams(window.location.search);
  if (query.get("start")) {  // a shared link: /compare?start=2026-11-26&end=2026-11-27
    state.period = { start: query.get("start"), end: query.get("end") || "now" };
    const option = el("option", { value: `${state.period.start}|${state.period.end}`, text: `${state.period.start} … ${state.period.end}` });
    $("pick-period").prepend(option);
    $("pick-period").value = option.value;
  }
  state.token = takeToken();
  if (!state.token) { showLogin(); return; }
  try {
    const me = await (await request("/me")).json();
    state.me = me;
    $("who").textContent = `${me.name} · ${me.role}`;
  } catch (error) {
    if (error instanceof Unauthorized) { showLogin("The token was refused; sign in again."); return; }
  }
  await load();
}

start();
