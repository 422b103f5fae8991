// What the three pages share: DOM building, the bearer token (fragment -> localStorage), calls to
// /api/v1 with their error messages, the login dialog and the connection pill.

export const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "ganlink.token";

/** The API refused the token (401): the page asks for another one. */
export class Unauthorized extends Error {}

/** Any other refused call; `status` is the HTTP status (403, 409, ...), the message carries the API's detail. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
  }
}

/** Build an element; `svg:`-prefixed tags are SVG, `text` sets the text, `on<event>` adds a listener. */
export function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.setAttribute("class", value);
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => `${d.loc?.at(-1)}: ${d.msg}`).join("; ");
  return JSON.stringify(detail);
}

/** Call /api/v1{path} with the stored token; resolves to the Response, throws Unauthorized or ApiError. */
export async function apiFetch(path, { method = "GET", params = {}, body, signal } = {}) {
  const url = new URL(`/api/v1${path}`, window.location.origin);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  const headers = { Authorization: `Bearer ${localStorage.getItem(TOKEN_KEY)}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const init = { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) };
  const response = await fetch(url, init);
  if (response.status === 401) throw new Unauthorized("token refused");
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = detailText((await response.json()).detail); } catch { /* not JSON */ }
    throw new ApiError(response.status, detail);
  }
  return response;
}

/** Call /api/v1{path} and read the JSON answer (null for 204). */
export async function apiJson(path, options = {}) {
  const response = await apiFetch(path, options);
  return response.status === 204 ? null : response.json();
}

/** Keep a `#token=` from the address in localStorage and drop it from the address bar; the stored token. */
export function takeToken() {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const token = fragment.get("token");
  if (token) {
    localStorage.setItem(TOKEN_KEY, token);
    fragment.delete("token");
    const rest = fragment.toString();
    history.replaceState(null, "", window.location.pathname + window.location.search + (rest ? `#${rest}` : ""));
  }
  return localStorage.getItem(TOKEN_KEY);
}

export function storeToken(token) { localStorage.setItem(TOKEN_KEY, token); }
export function forgetToken() { localStorage.removeItem(TOKEN_KEY); }

export function showLogin(message = "") {
  $("login-error").textContent = message;
  if (!$("login").open) $("login").showModal();
}

/** The connection pill: ok true (green), false (red) or null (waiting). */
export function setLink(ok, text) {
  $("link-state").className = `pill ${ok === true ? "pill-ok" : ok === false ? "pill-bad" : "pill-wait"}`;
  $("link-state").textContent = text;
}

/** A duration in seconds as "42 s", "17 min" or "3.5 h". */
export function ageText(seconds) {
  if (seconds < 120) return `${seconds.toFixed(0)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(0)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** Roles that may acknowledge, label, shelve and comment alarms (api/permissions.py: ACK_ALARM). */
export const ALARM_ROLES = new Set(["engineer", "integrator", "admin"]);
