// The line's active alarms with the operator actions the caller's role allows: acknowledge, label
// (real/false/planned), shelve for an hour / unshelve, comment. A refused action shows the API's
// answer (403 role, 409 state) on the alarm.
import { $, ALARM_ROLES, apiJson, el } from "./common.js";

const LABELS = [
  ["real", "a real process problem"],
  ["false", "false alarm: the detector was wrong"],
  ["planned", "planned: maintenance, trial, shutdown"],
];
const SHELVE_MINUTES = 60;

function timeText(ms) { return new Date(ms).toLocaleTimeString(); }

function summary(alarm) {
  const sensor = alarm.sensor_id.split(".").slice(3).join(" / ");
  const parts = [el("span", { class: "sev", text: `${alarm.severity} · ${alarm.status}` }),
    el("span", { class: "what", text: ` ${sensor}` }),
    el("span", { class: "when", text: ` since ${timeText(alarm.raised_ms)}` })];
  const marks = [];
  if (alarm.acknowledged) marks.push(el("span", { class: "tag", text: `acked by ${alarm.acknowledged_by}` }));
  if (alarm.label) marks.push(el("span", { class: `tag label-${alarm.label}`, "data-label": alarm.label, text: `label: ${alarm.label}` }));
  if (alarm.shelved) marks.push(el("span", { class: "tag shelved", text: `shelved until ${timeText(alarm.shelved_until_ms)}` }));
  const why = alarm.details?.why ? el("div", { class: "why", text: alarm.details.why }) : "";
  const last = alarm.comments.at(-1);
  const comment = last ? el("div", { class: "comment", text: `“${last.text}” — ${last.user}${alarm.comments.length > 1 ? ` (+${alarm.comments.length - 1})` : ""}` }) : "";
  return el("div", { class: "alarm-text" }, ...parts, el("div", { class: "tags" }, ...marks), why, comment);
}

/** One alarm's action bar; `act(path, options)` runs an action and reports errors on the alarm. */
function actions(alarm, act) {
  const bar = el("div", { class: "actions" });
  if (!alarm.acknowledged) {
    bar.append(el("button", { type: "button", class: "ack", text: "Ack", title: "acknowledge", onclick: () => act("acknowledge", { method: "POST" }) }));
  }
  for (const [label, meaning] of LABELS) {
    const pressed = alarm.label === label;
    bar.append(el("button", {
      type: "button", class: `label label-${label}`, "data-label": label, "aria-pressed": String(pressed),
      text: label, title: pressed ? `${meaning} (click again to remove)` : meaning,
      onclick: () => act("label", { method: "PUT", body: { label: pressed ? null : label } }),
    }));
  }
  bar.append(alarm.shelved
    ? el("button", { type: "button", class: "shelve", text: "Unshelve", onclick: () => act("unshelve", { method: "POST" }) })
    : el("button", { type: "button", class: "shelve", text: "Shelve 1 h", title: "hold back notifications for an hour",
      onclick: () => act("shelve", { method: "POST", body: { minutes: SHELVE_MINUTES, reason: "" } }) }));
  const input = el("input", { type: "text", name: "comment", placeholder: "comment…", maxlength: "2000", "aria-label": "comment" });
  const form = el("form", { class: "comment-form" }, input, el("button", { type: "submit", text: "Add" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    input.blur(); // the list re-renders only while nobody types in it
    if (input.value.trim()) act("comments", { method: "POST", body: { text: input.value.trim() } });
  });
  bar.append(form);
  return bar;
}

/** The active alarms list of one line; `render(alarms)` skips unchanged lists and never interrupts typing. */
export class AlarmList {
  constructor(role, reload) {
    this.mayAct = ALARM_ROLES.has(role);
    this.reload = reload;
    this.shown = null;
    this.alarms = [];
    this.notes = new Map(); // alarm id -> last refusal, kept across re-renders
  }

  reset() { this.shown = null; this.notes.clear(); $("alarms").replaceChildren(); }

  async act(alarm, action, options) {
    try {
      await apiJson(`/alarms/${encodeURIComponent(alarm.id)}/${action}`, options);
      this.notes.delete(alarm.id);
    } catch (error) {
      this.notes.set(alarm.id, String(error.message || error));
      this.render(this.alarms); // show the refusal now, whether or not the list reloads
    }
    this.shown = null;
    await this.reload().catch(() => {}); // the periodic refresh reports an unreachable API
  }

  render(alarms) {
    this.alarms = alarms;
    const signature = JSON.stringify([alarms, [...this.notes]]);
    const typing = $("alarms").contains(document.activeElement) && document.activeElement.tagName === "INPUT";
    if (signature === this.shown || typing) return;
    this.shown = signature;
    $("alarm-count").textContent = String(alarms.length);
    $("alarm-count").classList.toggle("hot", alarms.some((a) => !a.acknowledged && !a.shelved));
    const items = alarms.map((alarm) => {
      const act = (action, options) => this.act(alarm, action, options);
      return el("li", { class: `${alarm.acknowledged ? "acked" : ""}${alarm.shelved ? " shelved" : ""}`, "data-alarm": alarm.id },
        summary(alarm),
        this.mayAct ? actions(alarm, act) : "",
        el("span", { class: "note", text: this.notes.get(alarm.id) || "" }));
    });
    if (!this.mayAct && items.length) items.unshift(el("li", { class: "empty read-only", text: "read only: your role may not act on alarms" }));
    $("alarms").replaceChildren(...(items.length ? items : [el("li", { class: "empty", text: "no active alarms" })]));
  }
}
