// The plant overview: one card per plant with its gateways' status and its first key values. A
// gateway pill says online / offline / backfilling with the hours of buffer left; without the
// gateways route it is derived from the freshest reading's age (and says so).
import { formatValue } from "./chart.js";
import { $, ApiError, Unauthorized, ageText, apiJson, el } from "./common.js";

// Without a gateway status, a plant whose freshest reading is older than this counts as offline.
const DERIVED_OFFLINE_S = 60;

/** The cards; `onSelect(plantId)` runs when one is clicked. */
export function renderPlantCards(plants, selectedId, onSelect) {
  const cards = plants.map((plant) => el("div", {
    class: `plant-card${plant.id === selectedId ? " selected" : ""}`,
    "data-plant": plant.id,
    onclick: () => onSelect(plant.id),
  },
  el("div", { class: "title" },
    el("b", { text: plant.name }),
    el("span", { class: "industry", text: `${plant.industry} · ${plant.nameplate_value} ${plant.nameplate_unit}` })),
  el("div", { class: "gateways", "data-role": "gateways" }),
  el("div", { class: "kv", "data-role": "values" }, el("span", { text: "waiting for data…" }), el("span"))));
  $("plant-cards").replaceChildren(...cards);
}

function hoursText(hours) { return hours >= 10 ? hours.toFixed(0) : hours.toFixed(1); }

/** A pill for one gateway status from /plants/{plant}/gateways. */
function gatewayPill(gateway) {
  const backfilling = gateway.backfilling || gateway.status === "backfilling";
  const shown = backfilling ? "backfilling" : gateway.status;
  const kind = shown === "online" ? "pill-ok" : shown === "offline" ? "pill-bad" : "pill-wait";
  const buffer = gateway.hours_left === null ? "" : ` · buffer ${hoursText(gateway.hours_left)} h`;
  const title = [`gateway ${gateway.gateway}: ${shown}`,
    gateway.since_ms ? `since ${new Date(gateway.since_ms).toLocaleString()}` : "",
    gateway.outbox_depth !== null ? `outbox ${gateway.outbox_depth} messages` : "",
    gateway.oldest_age_s ? `oldest buffered ${ageText(gateway.oldest_age_s)}` : "",
    gateway.hours_left !== null ? `${hoursText(gateway.hours_left)} h of buffer left` : "",
  ].filter(Boolean).join("\n");
  return el("span", { class: `pill ${kind} gateway-pill`, "data-gateway": gateway.gateway, "data-status": shown, title },
    `${gateway.gateway} ${shown}${buffer}`);
}

/** Without the gateways route: online while the plant's freshest reading is recent. */
function derivedGatewayPill(latest) {
  const newest = Math.max(0, ...latest.map((r) => r.time_ms ?? 0));
  const ageS = (Date.now() - newest) / 1000;
  const shown = newest > 0 && ageS < DERIVED_OFFLINE_S ? "online" : "offline";
  return el("span", {
    class: `pill ${shown === "online" ? "pill-ok" : "pill-bad"} gateway-pill derived`, "data-status": shown,
    title: `derived from the freshest reading (${newest > 0 ? ageText(ageS) : "none"} old): no gateway status available`,
  }, `gateway ${shown}?`);
}

async function gatewayPills(plantId, latest) {
  try {
    return (await apiJson(`/plants/${plantId}/gateways`)).map(gatewayPill);
  } catch (error) {
    if (error instanceof ApiError) return [derivedGatewayPill(latest)];
    throw error;
  }
}

function overviewRows(latest) {
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
  return rows;
}

/** Copy the selected plant's gateway pills into the line header. */
export function showGatewaysOf(plantId) {
  const pills = document.querySelectorAll(`.plant-card[data-plant="${plantId}"] .gateway-pill`);
  $("gateway-state").replaceChildren(...[...pills].map((p) => p.cloneNode(true)));
}

async function refreshPlantCard(plant) {
  const card = document.querySelector(`.plant-card[data-plant="${plant.id}"]`);
  const latest = await apiJson(`/plants/${plant.id}/latest`);
  const pills = await gatewayPills(plant.id, latest);
  if (!card) return;
  card.querySelector('[data-role="values"]').replaceChildren(...overviewRows(latest));
  card.querySelector('[data-role="gateways"]').replaceChildren(...pills);
}

/** Refresh every card; a plant that fails keeps its last values (a refused token is rethrown). */
export async function refreshOverview(plants, selectedId) {
  await Promise.all(plants.map(async (plant) => {
    try {
      await refreshPlantCard(plant);
    } catch (error) {
      if (error instanceof Unauthorized) throw error;
    }
  }));
  showGatewaysOf(selectedId);
}
