// Shared pieces of the otpatch web UI: the signed-in session, API calls with the CSRF token,
// DOM building, time formatting and state badges. No framework, no build step.

// session is who is signed in: the actor and the role he acts in, the roles he holds, how the
// session was opened, its CSRF token, and the sign-in methods the server offers (kept after
// sign-out, for the sign-in page).
export const session = { actor: null, csrf: "", roles: [], via: "", expiresAt: null, passwordChange: false, signIn: {}, routes: new Set() };

/** ApiError is a refused request: the problem+json document's detail and field errors. */
export class ApiError extends Error {
  constructor(status, problem) {
    const { summary, fields } = problemParts(status, problem);
    super([summary].concat(fields.map((e) => e.field + ": " + e.message)).filter(Boolean).join("; "));
    this.status = status;
    this.problem = problem;
  }
}

// problemParts splits a problem document into a summary and its field errors. A validation
// refusal's detail repeats every field error; then the summary is left out rather than said twice.
function problemParts(status, problem) {
  const fields = problem.errors || [];
  let summary = problem.detail || problem.title || "HTTP " + status;
  if (fields.length && fields.every((e) => summary.includes(e.message))) summary = "";
  return { summary, fields };
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

// onPasswordChange runs when the server refuses a request because the password must be
// changed first (an admin reset it, or it grew older than the policy allows while signed in).
let onPasswordChange = () => {};
export function setPasswordChangeHandler(fn) { onPasswordChange = fn; }

// onSignedOut shows the sign-in page with a message; pages call signedOut after ending their
// own session (sign out everywhere).
let onSignedOut = () => {};
export function setSignedOutHandler(fn) { onSignedOut = fn; }
export function signedOut(message) { onSignedOut(message); }

/** api calls the otpatch API with the session cookie and, for changes, the CSRF token. */
export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = session.csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin", cache: "no-store" });
  if (res.status === 401 && path !== "/api/v1/session") onUnauthorized();
  if (raw) return res;
  if (res.status === 204) return null;
  const text = await res.text();
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch { doc = { detail: text }; }
  if (!res.ok) {
    if (res.status === 403 && doc && doc.rule === "password_change_required") onPasswordChange();
    throw new ApiError(res.status, doc || {});
  }
  return doc;
}

/** sendFile posts a file's text as the given content type and answers the status and the
 * answer's JSON (a refusal's problem document; its detail when it is not JSON). */
export async function sendFile(path, body, type) {
  const res = await fetch(path, {
    method: "POST", credentials: "same-origin", cache: "no-store", body,
    headers: { Accept: "application/json", "Content-Type": type, "X-CSRF-Token": session.csrf },
  });
  const text = await res.text();
  let doc = {};
  try { doc = text ? JSON.parse(text) : {}; } catch { doc = { detail: text }; }
  return { ok: res.ok, status: res.status, doc };
}

/** refusal shows a refused import in result: the problem's detail, then each failing row or
 * field in a list (ids: "<prefix>-error" and "<prefix>-errors"). */
export function refusal(result, prefix, status, doc) {
  result.append(h("p", { class: "error", role: "alert", id: prefix + "-error" }, "✗ ", doc.detail || ("HTTP " + status)));
  if (doc.errors && doc.errors.length) {
    result.append(h("ul", { id: prefix + "-errors", class: "errors" }, doc.errors.map((e) => h("li", {}, e.field + ": " + e.message))));
  }
}

/** apiAll reads every page of a collection (the API answers {items, next}; next is the cursor
 * of the following page) and returns all its items. */
export async function apiAll(path) {
  const items = [];
  let after = "";
  for (;;) {
    const sep = path.includes("?") ? "&" : "?";
    const doc = await api(path + (after ? sep + "after=" + encodeURIComponent(after) : ""));
    items.push(...(doc.items || []));
    if (!doc.next) return items;
    after = doc.next;
  }
}

/** hasRoute tells whether the server has a route ("POST /api/v1/campaigns/{campaignID}/pause"),
 * from its OpenAPI document: controls for features not yet on the server are not shown. */
export function hasRoute(method, path) { return session.routes.has(method.toUpperCase() + " " + path); }

/** loadRoutes reads what the server says of itself before pages render: its routes (OpenAPI)
 * and the words for its statuses and states. */
export async function loadRoutes() {
  const words = loadStates();
  try {
    const doc = await api("/api/v1/openapi.json");
    session.routes = new Set();
    for (const [p, ops] of Object.entries(doc.paths || {})) {
      for (const m of Object.keys(ops)) session.routes.add(m.toUpperCase() + " " + p);
    }
  } catch { session.routes = new Set(); }
  await words;
}

// Roles, as the server authorizes them; a control a role may not use is not shown.
export const roles = {
  staff: ["engineer", "approver", "safety", "auditor", "admin"],
  engineers: ["engineer", "admin"],
  deciders: ["approver", "safety"],
  auditors: ["auditor", "admin", "engineer"],
  vendors: ["vendor"],
  admins: ["admin"],
};
/** allRoles are the roles a person can be granted, plant staff's first. */
export const allRoles = [...new Set(Object.values(roles).flat())];
export function can(group) { return !!session.actor && roles[group].includes(session.actor.role); }

/** h builds an element: h("a", {href: "#/"}, "text", child, …). Attributes starting with
 * "on" are listeners; null and false children are skipped; text is never parsed as HTML. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/** fill replaces an element's children, skipping null and false as h does. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** table builds an accessible table in a scrollable region. */
export function table(caption, headers, rows, { id, empty = "None." } = {}) {
  if (!rows.length) return h("p", { class: "empty", id }, empty);
  return h("div", { class: "table-wrap", role: "region", "aria-label": caption, tabindex: "0" },
    h("table", { id },
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows)));
}

// Words and tones of every status and state, as the server's domain defines them (GET
// /api/v1/states, read with the routes before any page renders): the UI keeps no list of its
// own. A badge shows the word and a symbol, not only a colour.
const states = { status: new Map(), asset: new Map(), compat: new Map(), qual: new Map() };
const toneSymbol = { ok: "✓", bad: "✗", warn: "!", busy: "…", wait: "○" };

/** terminalCampaign lists the campaign statuses no transition follows (from the server). */
export const terminalCampaign = [];

async function loadStates() {
  try {
    const doc = await api("/api/v1/states");
    const campaign = doc.campaign_statuses || [];
    states.status = new Map([...(doc.patch_statuses || []), ...campaign].map((s) => [s.value, s]));
    states.asset = new Map((doc.asset_states || []).map((s) => [s.value, s]));
    states.compat = new Map((doc.compatibility || []).map((s) => [s.value, s]));
    states.qual = new Map((doc.qualification_statuses || []).map((s) => [s.value, s]));
    terminalCampaign.splice(0, terminalCampaign.length, ...campaign.filter((s) => s.ended).map((s) => s.value));
  } catch { /* without them, states show as their values */ }
}

// describe finds a status or state in the first list that has it.
function describe(s, ...lists) {
  for (const l of lists) if (l.has(s)) return l.get(s);
  return { label: String(s || "").replaceAll("_", " "), tone: "wait" };
}

/** stateWord is the word for a patch or campaign status. */
export function stateWord(s) { return describe(s, states.status).label; }

/** badge shows a patch or campaign status (or, on the dashboard's alarms, an asset state). */
export function badge(state, attrs = {}) {
  const d = describe(state, states.status, states.asset);
  return toneBadge(d.tone, d.label, "state-" + state, { state }, attrs);
}

/** assetStateWord is the word for an asset's state within a campaign ("restored after abort"
 * for an asset an abort interrupted, where the campaign itself is "aborted"). */
export function assetStateWord(s) { return describe(s, states.asset).label; }

/** wordBadge shows a word in a tone (ok, bad, warn, busy, wait) with its symbol, for states the
 * server does not list in /api/v1/states (grants, tokens, accounts). */
export function wordBadge(tone, word, attrs = {}) { return toneBadge(tone, word, "", {}, attrs); }

export function assetBadge(state, attrs = {}) {
  const d = describe(state, states.asset);
  return toneBadge(d.tone, d.label, "state-" + state, { state }, attrs);
}

// toneBadge is a word with its tone's symbol and colour; a class given in attrs is added.
function toneBadge(tone, word, cls, dataset, { class: more, ...attrs }) {
  return h("span", { class: ["state", "tone-" + tone, cls, more].filter(Boolean).join(" "), dataset, ...attrs },
    h("span", { "aria-hidden": "true" }, (toneSymbol[tone] || "") + " "), word);
}

/** assetEndStates are the end states of assets a campaign did not patch and on which nothing
 * failed, in the order the campaign page groups them. */
export const assetEndStates = ["aborted", "not_started", "drifted", "skipped"];

/** compatBadge shows the vendor's compatibility statement for an installed version. */
export function compatBadge(c, attrs = {}) {
  const d = describe(c || "unknown", states.compat);
  return toneBadge(d.tone, d.label, "compat", { compat: c }, attrs);
}

/** qualBadge shows the asset owner's qualification status of a patch for a release. */
export function qualBadge(q, attrs = {}) { const d = describe(q, states.qual); return toneBadge(d.tone, d.label, "qual", { qual: q }, attrs); }
/** qualificationStatuses are the asset owner's qualification statuses, in order. */
export function qualificationStatuses() { return [...states.qual.values()]; }

function pad(n) { return String(n).padStart(2, "0"); }

/** utc shows a time in UTC: 2026-11-27 15:45:10 UTC. */
export function utc(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

/** zoned shows a time in an IANA time zone with its UTC offset: 2026-11-28 02:00 (UTC+01:00, Europe/Zurich). */
export function zoned(iso, tz) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (!tz) return utc(iso);
  try {
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", {
      timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23", timeZoneName: "longOffset", weekday: "short",
    }).formatToParts(d).map((p) => [p.type, p.value]));
    const off = (parts.timeZoneName || "GMT").replace("GMT", "UTC");
    return `${parts.weekday} ${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} (${off === "UTC" ? "UTC+00:00" : off}, ${tz})`;
  } catch {
    return utc(iso);
  }
}

export function duration(startIso, endIso) {
  const min = Math.round((new Date(endIso) - new Date(startIso)) / 60000);
  if (min < 60) return min + " min";
  return Math.floor(min / 60) + " h" + (min % 60 ? " " + (min % 60) + " min" : "");
}

/** durationWords shows a duration as people read it: the ISO 8601 text the API writes
 * ("PT4H" → "4 h", "PT1H30M" → "1 h 30 min", "P7D" → "7 d") and the Go text older servers
 * wrote ("4h0m0s" → "4 h") alike; text that is neither is shown as it is. */
export function durationWords(text) {
  if (!text) return "—";
  const s = String(text).trim();
  const num = "(\\d+(?:\\.\\d+)?)";
  const iso = new RegExp(`^P(?:${num}D)?(?:T(?:${num}H)?(?:${num}M)?(?:${num}S)?)?$`, "i").exec(s);
  const go = new RegExp(`^(?:${num}h)?(?:${num}m)?(?:${num}s)?$`).exec(s);
  let secs;
  if (iso && !/^P$|T$/i.test(s)) secs = (+iso[1] || 0) * 86400 + (+iso[2] || 0) * 3600 + (+iso[3] || 0) * 60 + (+iso[4] || 0);
  else if (go && s !== "") secs = (+go[1] || 0) * 3600 + (+go[2] || 0) * 60 + (+go[3] || 0);
  else return s;
  const parts = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60]]) {
    if (secs >= size) {
      parts.push(Math.floor(secs / size) + " " + unit);
      secs %= size;
    }
  }
  if (secs || !parts.length) parts.push(Math.round(secs * 1000) / 1000 + " s");
  return parts.join(" ");
}

/** windowOpening says when a window opening (a zone's /windows span) is: "open now until …" for
 * the one open now (its start is in the past), else when it opens. */
export function windowOpening(o, tz) {
  if (!o.open_now) return zoned(o.start, tz);
  return (o.continues ? "open now, until at least " : "open now until ") + zoned(o.end, tz);
}

/** windowLength is how long a window opening lasts or, for the one open now, how long it has
 * left; "at least" when the window is still open at its end. */
export function windowLength(o) {
  const d = o.open_now ? duration(new Date().toISOString(), o.end) + " left" : duration(o.start, o.end);
  return o.continues ? "at least " + d : d;
}

export function short(hash, n = 12) { return hash ? hash.slice(0, n) + "…" : "—"; }

/** announce says something to screen readers and shows it in the status line. */
export function announce(text, kind = "info") {
  const el = document.getElementById("status");
  el.textContent = text;
  el.className = "status status-" + kind;
}

/** errorBox shows why something failed; a server refusal lists each failing field, named by
 * labels (field → words the form uses) where given. */
export function errorBox(err, labels = {}) {
  if (!(err instanceof ApiError) || !(err.problem.errors || []).length) {
    return h("p", { class: "error", role: "alert" }, "✗ ", err.message || String(err));
  }
  const { summary, fields } = problemParts(err.status, err.problem);
  return h("div", { class: "error refusal", role: "alert" },
    h("p", {}, "✗ ", summary || "The server refused this:"),
    h("ul", {}, fields.map((e) => h("li", { dataset: { field: e.field } }, h("strong", {}, labels[e.field] || e.field), ": ", e.message))));
}

export function link(href, text, attrs = {}) { return h("a", { href, ...attrs }, text); }

/** labelled wraps a control with its label. */
export function field(id, label, control, hint) {
  control.id = id;
  if (hint) control.setAttribute("aria-describedby", id + "-hint");
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hint ? h("p", { class: "hint", id: id + "-hint" }, hint) : null);
}

/** secretOnce shows a secret the server gives only once (a new token, an initial password) in a
 * read-only field, selected on focus, with a copy button and the warning that it is not shown again. */
export function secretOnce(id, label, secret, hint) {
  const input = h("input", { type: "text", readonly: true, value: secret, spellcheck: "false", autocomplete: "off", class: "secret" });
  input.addEventListener("focus", () => input.select());
  const said = h("span", { class: "hint", "aria-live": "polite" });
  const copy = h("button", { type: "button", id: id + "-copy" }, "Copy");
  copy.addEventListener("click", async () => {
    input.focus();
    try {
      await navigator.clipboard.writeText(secret);
      said.textContent = "✓ Copied to the clipboard.";
    } catch {
      said.textContent = "The browser did not allow copying: the text is selected, press Ctrl+C.";
    }
  });
  return h("div", { class: "card warn secret-once", id: id + "-box" }, field(id, label, input, hint), copy, " ", said);
}

/** confirmDialog asks before a consequential change, saying what will happen; it resolves to
 * true when the person confirms and false when he cancels (or presses Escape). */
export function confirmDialog(title, consequence, action, { danger = false } = {}) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-labelledby": "confirm-title", id: "confirm-dialog" },
      h("form", { method: "dialog" },
        h("h2", { id: "confirm-title" }, title),
        h("p", { id: "confirm-consequence" }, consequence),
        h("div", { class: "buttons" },
          h("button", { type: "submit", value: "confirm", id: "confirm-ok", class: danger ? "danger" : null }, action),
          h("button", { type: "submit", value: "cancel", id: "confirm-cancel" }, "Cancel"))));
    document.body.append(dialog);
    dialog.addEventListener("close", () => {
      const ok = dialog.returnValue === "confirm";
      dialog.remove();
      resolve(ok);
    });
    dialog.showModal();
  });
}

/** daysAgo says how long ago a time was, in days (or "today"). */
export function daysAgo(iso) {
  const days = Math.floor((Date.now() - new Date(iso)) / 86400000);
  return days <= 0 ? "today" : days === 1 ? "yesterday" : days + " days ago";
}
