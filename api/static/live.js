// The line's live stream (Server-Sent Events) read through fetch(): the endpoint takes the token only
// in the Authorization header, which EventSource cannot send, and a token never goes into a URL.
// The server ends each stream after a bounded duration; we reconnect, backing off after failures.
import { apiFetch, Unauthorized } from "./common.js";

const STREAM_SECONDS = 300;
const FIRST_RETRY_MS = 2_000;
const MAX_RETRY_MS = 30_000;
// The server sends data or an ": idle" comment every interval (1 s); silence this long means it is gone.
const SILENT_MS = 6_000;

/** One SSE message block ("event: x\ndata: ...") as {event, data, retry}; comments give event "comment". */
export function parseBlock(block) {
  const message = { event: "message", data: [], retry: null };
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(":")) { message.event = "comment"; continue; }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") message.event = value;
    else if (field === "data") message.data.push(value);
    else if (field === "retry" && /^\d+$/.test(value)) message.retry = Number(value);
  }
  return { ...message, data: message.data.join("\n") };
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
});

/**
 * The live stream of one line. `handlers`: readings(list), alarms(list), state("stream"|"down"|"refused", error).
 * `healthy()` says whether messages are arriving, so the page polls only when they are not.
 */
export class LineStream {
  constructor(linePath, handlers) {
    this.linePath = linePath;
    this.handlers = handlers;
    this.controller = new AbortController();
    this.lastMessageMs = 0;
    this.retryMs = FIRST_RETRY_MS;
  }

  start() { this.run(); return this; }

  stop() { this.controller.abort(); }

  healthy() { return Date.now() - this.lastMessageMs < SILENT_MS; }

  async run() {
    const { signal } = this.controller;
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.readOnce(signal);
        failures = 0;
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof Unauthorized) { this.handlers.state("refused", error); return; }
        failures += 1;
        this.lastMessageMs = 0;
        this.handlers.state("down", error);
      }
      await sleep(failures === 0 ? 0 : Math.min(MAX_RETRY_MS, this.retryMs * 2 ** (failures - 1)), signal);
    }
  }

  /** One connection, until the server ends it (bounded duration) or it breaks. */
  async readOnce(signal) {
    const response = await apiFetch(`${this.linePath}/stream`, { params: { duration_s: STREAM_SECONDS }, signal });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const blocks = buffer.split(/\r?\n\r?\n/);
      buffer = blocks.pop();
      for (const block of blocks) if (block.trim()) this.dispatch(parseBlock(block));
    }
  }

  dispatch(message) {
    this.lastMessageMs = Date.now();
    this.handlers.state("stream");
    if (message.retry !== null) this.retryMs = Math.max(FIRST_RETRY_MS, message.retry);
    if (message.event === "readings") this.handlers.readings(JSON.parse(message.data));
    else if (message.event === "alarms") this.handlers.alarms(JSON.parse(message.data));
  }
}
