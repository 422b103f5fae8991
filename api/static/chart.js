// A small time-series line chart on canvas: auto-scaled y axis, clock-time x axis, shaded data gaps,
// anomaly marks (their positions are returned so the page can show a tooltip on hover).

const COLORS = {
  grid: "#1d2935",
  axis: "#7d8da0",
  line: "#3fb6ff",
  fill: "rgba(63, 182, 255, 0.10)",
  limit: "rgba(255, 77, 79, 0.55)",
  anomaly: "#ff4d4f",
  gap: "rgba(255, 176, 32, 0.13)",
  gapEdge: "rgba(255, 176, 32, 0.45)",
};
// A gap is a stretch without data longer than this many sample periods.
const GAP_PERIODS = 3;

function niceStep(span, ticks) {
  const raw = span / Math.max(ticks, 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  const nice = unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10;
  return nice * power;
}

function formatValue(value) {
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toFixed(0);
  if (abs >= 100) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

function clockLabel(ms) {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** Fit the canvas backing store to its CSS size and the device pixel ratio. */
function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(canvas.clientWidth, 50);
  const height = Math.max(canvas.clientHeight, 50);
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, width, height };
}

/**
 * Stretches of [startMs, nowMs] without data: between two points further apart than `maxStepMs`,
 * before the first point and after the last (that one with `trailingSlackMs` for delivery delay).
 * Returns [[fromMs, toMs], ...].
 */
export function findGaps(times, { startMs, nowMs, maxStepMs, trailingSlackMs = 0 }) {
  const gaps = [];
  let previous = startMs;
  for (const t of times) {
    if (t < startMs) continue;
    if (t - previous > maxStepMs) gaps.push([previous, t]);
    previous = t;
  }
  if (nowMs - previous > maxStepMs + trailingSlackMs) gaps.push([previous, nowMs]);
  return gaps;
}

function yScale(visible, rangeMin, rangeMax) {
  let lo = Infinity, hi = -Infinity;
  for (const [, v] of visible) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!Number.isFinite(lo)) { lo = rangeMin; hi = rangeMax; }
  if (hi - lo < (rangeMax - rangeMin) * 0.01) {
    const pad = (rangeMax - rangeMin) * 0.01 || 1;
    lo -= pad; hi += pad;
  }
  const margin = (hi - lo) * 0.08;
  return [lo - margin, hi + margin];
}

function drawGrid(ctx, frame, lo, hi) {
  const { x, y, left, right, top, plotH, width, startMs, nowMs, windowMs, plotW } = frame;
  ctx.strokeStyle = COLORS.grid; ctx.fillStyle = COLORS.axis; ctx.lineWidth = 1;
  const step = niceStep(hi - lo, 4);
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
    const py = Math.round(y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(left, py); ctx.lineTo(width - right, py); ctx.stroke();
    ctx.fillText(formatValue(v), left - 4, py);
  }
  const tickMs = windowMs <= 10 * 60_000 ? 60_000 : windowMs <= 30 * 60_000 ? 5 * 60_000 : 10 * 60_000;
  // label every n-th tick so labels stay at least ~48 px apart
  const labelEvery = Math.max(1, Math.ceil(48 / ((tickMs / windowMs) * plotW)));
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  for (let t = Math.ceil(startMs / tickMs) * tickMs; t <= nowMs; t += tickMs) {
    const px = Math.round(x(t)) + 0.5;
    ctx.beginPath(); ctx.moveTo(px, top); ctx.lineTo(px, top + plotH); ctx.stroke();
    const fits = px + 16 <= width; // a label cut at the right edge reads as another time
    if (fits && Math.round(t / tickMs) % labelEvery === 0) ctx.fillText(clockLabel(t), px, top + plotH + 3);
  }
}

function drawGaps(ctx, frame, gaps) {
  const { x, top, plotH } = frame;
  for (const [from, to] of gaps) {
    const x0 = x(from), x1 = x(to);
    ctx.fillStyle = COLORS.gap; ctx.fillRect(x0, top, x1 - x0, plotH);
    ctx.strokeStyle = COLORS.gapEdge; ctx.setLineDash([2, 3]);
    for (const edge of [x0, x1]) { ctx.beginPath(); ctx.moveTo(edge, top); ctx.lineTo(edge, top + plotH); ctx.stroke(); }
    ctx.setLineDash([]);
  }
}

function drawSeries(ctx, frame, visible, gapMs) {
  const { x, y } = frame;
  ctx.strokeStyle = COLORS.line; ctx.lineWidth = 1.5;
  ctx.beginPath();
  let previous = null;
  for (const [t, v] of visible) {
    if (previous === null || t - previous > gapMs) ctx.moveTo(x(t), y(v)); else ctx.lineTo(x(t), y(v));
    previous = t;
  }
  ctx.stroke();
  const [lastT, lastV] = visible[visible.length - 1];
  ctx.fillStyle = COLORS.line;
  ctx.beginPath(); ctx.arc(x(lastT), y(lastV), 2.5, 0, 2 * Math.PI); ctx.fill();
}

/** Anomaly marks: a triangle along the top and a thin line down to the series; returns their x positions. */
function drawAnomalies(ctx, frame, anomalies) {
  const { x, top, plotH, startMs, nowMs } = frame;
  const markers = [];
  for (const event of anomalies) {
    if (event.time_ms < startMs || event.time_ms > nowMs) continue;
    const px = x(event.time_ms);
    ctx.strokeStyle = COLORS.anomaly; ctx.globalAlpha = 0.45; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(px, top + 6); ctx.lineTo(px, top + plotH); ctx.stroke();
    ctx.globalAlpha = 1; ctx.fillStyle = COLORS.anomaly;
    ctx.beginPath(); ctx.moveTo(px - 5, top); ctx.lineTo(px + 5, top); ctx.lineTo(px, top + 8); ctx.fill();
    markers.push({ x: px, event });
  }
  return markers;
}

/**
 * Draw points [[epochMs, value|null], ...] over [nowMs - windowMs, nowMs] with the engineering limits
 * when in view, gaps longer than GAP_PERIODS x the sample period (or bucket) shaded, and anomaly
 * events ({time_ms, ...}) marked. Returns {markers: [{x, event}], gaps: [[fromMs, toMs]]}.
 */
export function drawChart(canvas, points, { nowMs, windowMs, rangeMin, rangeMax, samplePeriodMs, anomalies = [] }) {
  const { ctx, width, height } = fitCanvas(canvas);
  const left = 46, right = 6, top = 6, bottom = 16;
  const plotW = width - left - right, plotH = height - top - bottom;
  const startMs = nowMs - windowMs;
  ctx.clearRect(0, 0, width, height);
  ctx.font = "10px ui-monospace, monospace";

  const visible = points.filter(([t, v]) => t >= startMs && v !== null);
  const [lo, hi] = yScale(visible, rangeMin, rangeMax);
  const x = (t) => left + ((t - startMs) / windowMs) * plotW;
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * plotH;
  const frame = { x, y, left, right, top, plotW, plotH, width, startMs, nowMs, windowMs };

  drawGrid(ctx, frame, lo, hi);
  const maxStepMs = GAP_PERIODS * Math.max(samplePeriodMs, medianStep(visible));
  const gaps = findGaps(visible.map(([t]) => t), { startMs, nowMs, maxStepMs, trailingSlackMs: 3_000 });
  drawGaps(ctx, frame, gaps);

  ctx.strokeStyle = COLORS.limit; ctx.setLineDash([4, 3]);
  for (const limit of [rangeMin, rangeMax]) {
    if (limit > lo && limit < hi) {
      ctx.beginPath(); ctx.moveTo(left, y(limit)); ctx.lineTo(width - right, y(limit)); ctx.stroke();
    }
  }
  ctx.setLineDash([]);
  if (visible.length > 0) drawSeries(ctx, frame, visible, maxStepMs);
  return { markers: drawAnomalies(ctx, frame, anomalies), gaps };
}

function medianStep(points) {
  if (points.length < 3) return 1_000;
  const steps = [];
  for (let i = Math.max(1, points.length - 50); i < points.length; i++) steps.push(points[i][0] - points[i - 1][0]);
  steps.sort((a, b) => a - b);
  return steps[Math.floor(steps.length / 2)];
}

export { formatValue };
