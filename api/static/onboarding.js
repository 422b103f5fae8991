// Onboarding: pending sensors of a plant with a sample of their stored readings and a commissioning
// report; integrators approve (with unit, kind, range, period, class, and where in the plant's asset tree)
// or reject. A sensor mapped to another path shows its backfill status. Same token as the other pages.

import {
  $, Unauthorized, apiJson as api, el, setLink, showLogin, takeToken,
} from "./common.js";

const state = { token: null, plant: null, selected: null, sample: null, poll: null };
const UNFINISHED = new Set(["queued", "running", "failed"]);

function backfillText(backfill) {
  if (!backfill) return "";
  const text = `backfill ${backfill.status} · ${backfill.moved} moved`;
  if (backfill.status === "failed") return `${text} · attempt ${backfill.attempts} failed: ${backfill.error} (retried)`;
  return text;
}

function notice(text, ok) { $("notice").replaceChildren(el("div", { class: `notice ${ok ? "ok" : "err"}`, text })); }

function age(ms) {
  const s = Math.max(0, (Date.now() - ms) / 1000);
  return s < 90 ? `${s.toFixed(0)} s ago` : s < 5400 ? `${(s / 60).toFixed(0)} min ago` : `${(s / 3600).toFixed(1)} h ago`;
}

// -- list ------------------------------------------------------------------------------------------

async function loadPending() {
  const status = $("pick-status").value;
  let rows;
  try {
    rows = await api(`/plants/${state.plant}/pending-sensors`, { params: { status } });
  } catch (error) {
    if (error.status === 403) {
      $("pending-rows").replaceChildren(el("tr", {}, el("td", { colspan: "5", class: "muted", text: "Your role cannot onboard sensors (integrator or admin needed)." })));
      setLink(false, "no onboarding right");
      return;
    }
    throw error;
  }
  $("pending-count").textContent = String(rows.filter((r) => r.status === "pending").length);
  $("pending-count").className = rows.some((r) => r.status === "pending") ? "badge hot" : "badge";
  if (!rows.length) {
    $("pending-rows").replaceChildren(el("tr", {}, el("td", { colspan: "5", class: "muted", text: "No pending sensors in this plant." })));
  } else {
    $("pending-rows").replaceChildren(...rows.map((row) => {
      const tr = el("tr", { "data-sensor": row.sensor_id, class: row.sensor_id === state.selected ? "selected" : "" },
        el("td", {}, el("span", { class: "mono", text: row.sensor_id.split(".").slice(1).join(".") }), row.status === "pending" ? "" : el("span", { class: "muted", text: ` (${row.status})` })),
        el("td", { class: "num", text: String(row.seen_count) }),
        el("td", { class: "num", text: row.last_value === null ? "—" : String(row.last_value) }),
        el("td", { class: "muted", text: age(row.last_seen_ns / 1e6) }),
        el("td", { class: `backfill ${row.backfill ? `backfill-${row.backfill.status}` : ""}` },
          row.target_sensor_id ? el("span", { class: "mono", text: row.target_sensor_id.split(".").slice(1).join(".") }) : "",
          row.backfill ? el("div", { class: "muted", text: backfillText(row.backfill) }) : ""));
      tr.addEventListener("click", () => select(row.sensor_id));
      return tr;
    }));
  }
  setLink(true, `${rows.length} listed`);
  // While a backfill is unfinished, look again every few seconds so its status stays current.
  clearTimeout(state.poll);
  if (rows.some((r) => r.backfill && UNFINISHED.has(r.backfill.status))) state.poll = setTimeout(loadPending, 3000);
}

// -- sample and report -----------------------------------------------------------------------------

function drawSample(readings) {
  const svg = $("sample-chart");
  svg.replaceChildren();
  $("sample-caption").replaceChildren();
  if (readings.length < 2) return;
  const t0 = readings[0].time_ms, t1 = readings[readings.length - 1].time_ms;
  const values = readings.map((r) => r.value);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi === lo) { lo -= 1; hi += 1; }
  const x = (t) => (600 * (t - t0)) / Math.max(1, t1 - t0);
  const y = (v) => 150 - (140 * (v - lo)) / (hi - lo);
  svg.append(el("svg:rect", { x: "0", y: "0", width: "600", height: "160", fill: "#111821" }));
  svg.append(el("svg:polyline", { points: readings.map((r) => `${x(r.time_ms).toFixed(1)},${y(r.value).toFixed(1)}`).join(" "), fill: "none", stroke: "#3fb6ff", "stroke-width": "1.5", "vector-effect": "non-scaling-stroke" }));
  const time = (ms) => new Date(ms).toLocaleTimeString();
  $("sample-caption").replaceChildren(el("span", { text: time(t0) }), el("span", { text: `${readings.length} readings · min ${Math.min(...values)} · max ${Math.max(...values)}` }), el("span", { text: time(t1) }));
}

function renderReport(report) {
  const fmt = (v, unit = "") => (v === null || v === undefined ? "—" : `${+Number(v).toFixed(3)}${unit}`);
  const facts = [
    ["readings stored", report.readings], ["over", fmt(report.span_s, " s")], ["usual period", fmt(report.median_period_s, " s")],
    ["longest gap", fmt(report.longest_gap_s, " s")], ["min / mean / max", `${fmt(report.minimum)} / ${fmt(report.mean)} / ${fmt(report.maximum)}`],
    ["last value", fmt(report.last)], ["suggested range", report.suggested_range ? `${report.suggested_range[0]} … ${report.suggested_range[1]}` : "—"],
  ];
  $("report").replaceChildren(
    el("div", { class: "kv" }, ...facts.flatMap(([k, v]) => [el("span", { text: k }), el("span", { text: String(v) })])),
    report.ready ? el("p", { class: "good", text: "✓ nothing argues against approving this sensor" })
      : el("ul", { class: "findings" }, ...report.findings.map((f) => el("li", { text: f }))));
}

function prefill(sensorId, report) {
  const form = $("approve-form");
  form.reset();
  const [, area, line, device, sensor] = sensorId.split(".");
  Object.entries({ area, line, device, sensor }).forEach(([k, v]) => { form.elements[`target_${k}`].value = v; });
  form.elements.name.value = sensor;
  if (report.suggested_range) {
    form.elements.range_min.value = report.suggested_range[0];
    form.elements.range_max.value = report.suggested_range[1];
  }
  if (report.median_period_s) form.elements.sample_period_s.value = +report.median_period_s.toFixed(3);
}

async function select(sensorId) {
  state.selected = sensorId;
  for (const row of document.querySelectorAll("#pending-rows tr")) row.classList.toggle("selected", row.dataset.sensor === sensorId);
  const sample = await api(`/pending-sensors/${sensorId}/sample`);
  state.sample = sample;
  $("sample").hidden = false;
  $("sample-title").textContent = sensorId;
  drawSample(sample.readings);
  renderReport(sample.report);
  prefill(sensorId, sample.report);
  $("approve").disabled = sample.status !== "pending";
  $("reject").disabled = sample.status !== "pending";
  const pending = await api(`/pending-sensors/${sensorId}`);
  $("backfill").textContent = pending.target_sensor_id ? `registered as ${pending.target_sensor_id} — ${backfillText(pending.backfill)}` : "";
}

async function approve() {
  const form = $("approve-form");
  if (!form.reportValidity()) return;
  const data = Object.fromEntries(new FormData(form).entries());
  const body = {
    name: data.name, unit: data.unit, kind: data.kind, data_class: Number(data.data_class),
    range_min: Number(data.range_min), range_max: Number(data.range_max),
    sample_period_s: Number(data.sample_period_s), key: data.key === "true",
    target: { area: data.target_area, line: data.target_line, device: data.target_device, sensor: data.target_sensor },
  };
  try {
    const info = await api(`/pending-sensors/${state.selected}/approve`, { method: "POST", body });
    const moved = info.backfill ? ` from ${info.wire_sensor_id}; its stored readings move there (${backfillText(info.backfill)})` : "";
    notice(`approved: ${info.sensor_id} is now registered (${info.unit}, ${info.kind})${moved}`, true);
    $("sample").hidden = true;
    state.selected = null;
    await loadPending();
  } catch (error) {
    notice(`approve failed — ${error.message}`, false);
  }
}

async function reject() {
  try {
    await api(`/pending-sensors/${state.selected}/reject`, { method: "POST" });
    notice(`rejected: ${state.selected}; its later readings are no longer listed`, true);
    $("sample").hidden = true;
    state.selected = null;
    await loadPending();
  } catch (error) {
    notice(`reject failed — ${error.message}`, false);
  }
}

async function start() {
  $("login-form").addEventListener("submit", () => {
    localStorage.setItem("ganlink.token", $("login-token").value.trim());
    window.location.reload();
  });
  $("logout").addEventListener("click", () => { localStorage.removeItem("ganlink.token"); window.location.reload(); });
  $("approve").addEventListener("click", approve);
  $("reject").addEventListener("click", reject);
  $("pick-status").addEventListener("change", () => loadPending());
  $("pick-plant").addEventListener("change", () => {
    state.plant = $("pick-plant").value;
    $("sample").hidden = true;
    loadPending();
  });
  state.token = takeToken();
  if (!state.token) { showLogin(); return; }
  try {
    const me = await api("/me");
    $("who").textContent = `${me.name} · ${me.role}`;
    const plants = await api("/plants");
    $("pick-plant").replaceChildren(...plants.map((p) => el("option", { value: p.id, text: p.name })));
    state.plant = plants.length ? plants[0].id : null;
    if (state.plant) await loadPending();
    document.body.dataset.loaded = "true";
  } catch (error) {
    if (error instanceof Unauthorized) { showLogin("The token was refused; sign in again."); return; }
    setLink(false, "error");
    notice(String(error.message || error), false);
  }
}

start();
