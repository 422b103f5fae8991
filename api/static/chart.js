// A small time-series line chart on canvas: auto-scaled y axis, clock-time x axis, anomaly marks.

const COLORS = {
  grid: "#1d2935",
  axis: "#7d8da0",
  line: "#3fb6ff",
  fill: "rgba(63, 182, 255, 0.10)",
  limit: "rgba(255, 77, 79, 0.55)",
  anomaly: "#ff4d4f",
};

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
 * Draw points [[epochMs, value|null], ...] over [nowMs - windowMs, nowMs].
 * The y axis fits the data; engineering limits are drawn when they fall inside the view.
 */
export function drawChart(canvas, points, { nowMs, windowMs, rangeMin, rangeMax, anomalies = [] }) {
  const { ctx, width, height } = fitCanvas(canvas);
  const left = 46, right = 6, top = 6, bottom = 16;
  const plotW = width - left - right, plotH = height - top - bottom;
  const startMs = nowMs - windowMs;
  ctx.clearRect(0, 0, width, height);
  ctx.font = "10px ui-monospace, monospace";

  const visible = points.filter(([t, v]) => t >= startMs && v !== null);
  let lo = Infinity, hi = -Infinity;
  for (const [, v] of visible) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!Number.isFinite(lo)) { lo = rangeMin; hi = rangeMax; }
  if (hi - lo < (rangeMax - rangeMin) * 0.01) {
    const pad = (rangeMax - rangeMin) * 0.01 || 1;
    lo -= pad; hi += pad;
  }
  const margin = (hi - lo) * 0.08;
  lo -= margin; hi += margin;
  const x = (t) => left + ((t - startMs) / windowMs) * plotW;
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * plotH;

  // grid and axes
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
    if (Math.round(t / tickMs) % labelEvery === 0) ctx.fillText(clockLabel(t), px, top + plotH + 3);
  }

  // engineering limits, when in view
  ctx.strokeStyle = COLORS.limit; ctx.setLineDash([4, 3]);
  for (const limit of [rangeMin, rangeMax]) {
    if (limit > lo && limit < hi) {
      ctx.beginPath(); ctx.moveTo(left, y(limit)); ctx.lineTo(width - right, y(limit)); ctx.stroke();
    }
  }
  ctx.setLineDash([]);

  // the series; gaps longer than 5 sampling intervals break the line
  if (visible.length > 0) {
    const gapMs = Math.max(5 * medianStep(visible), 5_000);
    ctx.strokeStyle = COLORS.line; ctx.lineWidth = 1.5; ctx.fillStyle = COLORS.fill;
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

  // anomaly marks along the top
  ctx.fillStyle = COLORS.anomaly;
  for (const t of anomalies) {
    if (t < startMs || t > nowMs) continue;
    ctx.beginPath(); ctx.moveTo(x(t) - 4, top); ctx.lineTo(x(t) + 4, top); ctx.lineTo(x(t), top + 6); ctx.fill();
  }
}

function medianStep(points) {
  if (points.length < 3) return 1_000;
  const steps = [];
  for (let i = Math.max(1, points.length - 50); i < points.length; i++) steps.push(points[i][0] - points[i - 1][0]);
  steps.sort((a, b) => a - b);
  return steps[Math.floor(steps.length / 2)];
}

export { formatValue };
