// Compliance: the NERC CIP-007-6 R2 clocks of every patch and advisory (evaluation within 35
// days of release, action within 35 days of evaluation), what is overdue, and the per-site
// IEC TR 62443-2-3 patch summary. Deadlines are UTC calendar days; a due date is the last day
// allowed. Staff read it; nothing here changes anything.
import { api, apiAll, h, fill, table, link, wordBadge, errorBox, hasRoute, session } from "../lib.js";

const routes = {
  patches: "/api/v1/compliance/patches",
  advisories: "/api/v1/compliance/advisories",
  overdue: "/api/v1/compliance/overdue",
  sites: "/api/v1/compliance/sites",
};

export async function render(view) {
  view.append(h("h1", {}, "Compliance"),
    h("p", {}, "NERC CIP-007-6 R2: every patch and advisory is evaluated within 35 days of its release, and the decision is acted on within 35 days of the evaluation — installed, or a dated mitigation plan filed. Days are UTC calendar days; a due date is the last day allowed."));
  const clocks = section("clocks", "Evaluation and action clocks (NERC CIP-007-6 R2)");
  const overdue = section("compliance-overdue", "Overdue");
  const sites = section("site-compliance", "Per site (IEC TR 62443-2-3)");
  view.append(clocks, overdue, sites);
  await Promise.all([drawClocks(clocks), drawOverdue(overdue), drawSites(sites)]);
}

function section(id, title) {
  return h("section", { id, "aria-labelledby": id + "-title", "aria-busy": "true" }, h("h2", { id: id + "-title" }, title), h("p", { class: "empty" }, "Loading…"));
}

// show replaces a section's content under its heading and marks it loaded.
function show(sec, ...children) {
  fill(sec, sec.firstChild, ...children);
  sec.removeAttribute("aria-busy");
}

// failed says why a report could not be read: a role that may not read it, a server without
// the report, or the server's own words.
function failed(sec, err) {
  if (err && err.status === 403) {
    show(sec, h("p", { class: "empty", dataset: { refused: "403" } }, "Your role (" + session.actor.role + ") cannot read this report; engineers, approvers, safety officers, auditors and admins can."));
    return;
  }
  show(sec, errorBox(err));
}

function missing(sec, what) {
  show(sec, h("p", { class: "empty" }, "This server does not provide " + what + "."));
}

function csvLink(path, file, id) {
  return h("p", { class: "hint" }, "The whole report as a spreadsheet: ",
    h("a", { href: path + "?format=csv", download: file, id }, "CSV"));
}

// readReport reads every page of a compliance report, with the UTC day it counts to.
async function readReport(path) {
  const items = [];
  let asOf = "", after = "";
  for (;;) {
    const doc = await api(path + (after ? "?after=" + encodeURIComponent(after) : ""));
    asOf = asOf || doc.as_of;
    items.push(...(doc.items || []));
    if (!doc.next) return { asOf, items };
    after = doc.next;
  }
}

// days is how many calendar days lie from the day from to the day to (YYYY-MM-DD each).
function days(from, to) {
  return Math.round((Date.parse(to + "T00:00:00Z") - Date.parse(from + "T00:00:00Z")) / 86400000);
}

function inDays(n) {
  if (n === 0) return "today";
  if (n === 1) return "tomorrow";
  return "in " + n + " days";
}

function daysWord(n) { return n + (n === 1 ? " day" : " days"); }

// clockOf is where a patch's or advisory's R2 clock stands on asOf: the deadline that runs
// (evaluation, action or the earliest open mitigation plan), the days left, a tone and words.
function clockOf(it, asOf) {
  const run = (what, due) => {
    const left = days(asOf, due);
    if (left < 0) return { open: true, left, due, tone: "bad", word: what + " overdue by " + daysWord(-left) };
    return { open: true, left, due, tone: left <= 7 ? "warn" : "wait", word: what + " due " + inDays(left) };
  };
  if (!it.evaluation) return run("evaluation", it.evaluation_due);
  const plans = (it.mitigation_plans || []).filter((p) => p.status === "open").sort((a, b) => a.due_date.localeCompare(b.due_date));
  switch (it.action_status) {
    case "open":
      return run("action", it.action_due);
    case "none":
      return { open: false, tone: "ok", word: "not applicable: nothing to do" };
    default:
      if (plans.length) return run("mitigation plan", plans[0].due_date);
      return { open: false, tone: "ok", word: (it.mitigation_plans || []).length ? "mitigation plans carried out" : "acted on" };
  }
}

// day is a table cell holding a date, kept on one line.
function day(d) { return h("td", { class: "name" }, d || "—"); }

function subjectLink(it) {
  const href = (it.subject_type === "advisory" ? "#/advisories/" : "#/patches/") + encodeURIComponent(it.subject_id);
  return [h("span", { class: "hint" }, it.subject_type === "advisory" ? "Advisory " : "Patch "), link(href, it.ref || it.subject_id), h("br", {}), it.title || ""];
}

function evaluationText(e) {
  if (!e) return h("span", { class: "empty" }, "not evaluated");
  return [h("strong", {}, e.decision.replaceAll("_", " ")), " on " + e.evaluated_on + " by " + e.evaluated_by, e.reason ? [h("br", {}), h("span", { class: "hint" }, e.reason)] : null];
}

function assetText(a) {
  const parts = [];
  if (a.pending) parts.push(a.pending + " pending");
  if (a.installed) parts.push(a.installed + " installed");
  if (a.mitigated) parts.push(a.mitigated + " mitigated");
  if (a.not_applicable) parts.push(a.not_applicable + " not applicable");
  return parts.length ? parts.join(", ") : "no asset hit";
}

async function drawClocks(sec) {
  if (!hasRoute("GET", routes.patches) || !hasRoute("GET", routes.advisories)) { missing(sec, "NERC CIP-007-6 R2 clocks"); return; }
  let patches, advisories;
  try {
    [patches, advisories] = await Promise.all([readReport(routes.patches), readReport(routes.advisories)]);
  } catch (err) {
    failed(sec, err);
    return;
  }
  const asOf = patches.asOf;
  const rows = [...patches.items, ...advisories.items].map((it) => ({ it, clock: clockOf(it, asOf) }));
  // Running clocks first, the nearest deadline on top; finished ones after, newest release first.
  rows.sort((a, b) => (a.clock.open !== b.clock.open ? (a.clock.open ? -1 : 1)
    : a.clock.open ? a.clock.left - b.clock.left || a.it.subject_id.localeCompare(b.it.subject_id)
      : b.it.release_date.localeCompare(a.it.release_date)));
  const running = rows.filter((r) => r.clock.open);
  const late = running.filter((r) => r.clock.left < 0).length;
  const summary = rows.length
    ? h("p", { id: "clocks-summary", class: late ? "error" : null },
      `${running.length} of ${rows.length} ${rows.length === 1 ? "clock runs" : "clocks run"} as of ${asOf}`,
      late ? `; ${late} past ${late === 1 ? "its" : "their"} due date.` : running.length ? `; the next deadline is ${running[0].clock.due}.` : ".")
    : null;
  show(sec, summary,
    table("Clocks of every patch and advisory as of " + asOf, ["Patch or advisory", "Clock", "Released", "Evaluation due", "Evaluation", "Action due", "Assets"],
      rows.map(({ it, clock }) => h("tr", { dataset: { subject: it.subject_id } },
        h("td", {}, subjectLink(it)), h("td", { class: "clock" }, wordBadge(clock.tone, clock.word)),
        day(it.release_date), day(it.evaluation_due), h("td", {}, evaluationText(it.evaluation)), day(it.action_due),
        h("td", {}, assetText(it.assets || {})))),
      { id: "clock-table", empty: "No patch or advisory is tracked yet: a clock starts when a vendor's patch passes qualification or an engineer ingests a CSAF advisory." }),
    rows.length ? h("p", { class: "hint" }, "As spreadsheets: ",
      h("a", { href: routes.patches + "?format=csv", download: "otpatch-compliance-patches.csv", id: "clocks-patches-csv" }, "patches (CSV)"), " · ",
      h("a", { href: routes.advisories + "?format=csv", download: "otpatch-compliance-advisories.csv", id: "clocks-advisories-csv" }, "advisories (CSV)")) : null);
}

async function drawOverdue(sec) {
  if (!hasRoute("GET", routes.overdue)) { missing(sec, "the overdue report"); return; }
  let doc;
  try {
    doc = await api(routes.overdue);
  } catch (err) {
    failed(sec, err);
    return;
  }
  const evals = doc.evaluations || [], actions = doc.actions || [];
  const total = evals.length + actions.length;
  const kind = { evaluation: "evaluation", action: "action", mitigation_plan: "mitigation plan" };
  const row = (e) => h("tr", { dataset: { subject: e.subject_id } },
    h("td", {}, kind[e.kind] || String(e.kind || "").replaceAll("_", " ")), h("td", {}, subjectLink(e)),
    h("td", {}, e.decision ? e.decision.replaceAll("_", " ") : "—"), day(e.due),
    h("td", {}, wordBadge("bad", daysWord(e.days_overdue))), h("td", {}, e.owner || "—"));
  const headers = ["Overdue", "Patch or advisory", "Decision", "Due (UTC)", "Late by", "Owner"];
  show(sec,
    h("p", { id: "compliance-overdue-count", class: total ? "error" : "ok-text" }, total
      ? `✗ ${evals.length} ${evals.length === 1 ? "evaluation" : "evaluations"} and ${actions.length} ${actions.length === 1 ? "action" : "actions"} overdue as of ${doc.as_of}.`
      : `✓ Nothing overdue as of ${doc.as_of}.`),
    evals.length ? table("Evaluations not recorded by their due date", headers, evals.map(row), { id: "overdue-evaluations" }) : null,
    actions.length ? table("Decisions not acted on, and open mitigation plans past their due date", headers, actions.map(row), { id: "overdue-actions" }) : null,
    total ? csvLink(routes.overdue, "otpatch-compliance-overdue-" + doc.as_of + ".csv", "overdue-csv") : null);
}

async function drawSites(sec) {
  if (!hasRoute("GET", routes.sites)) { missing(sec, "the per-site summary"); return; }
  let list;
  try {
    list = await apiAll(routes.sites);
  } catch (err) {
    failed(sec, err);
    return;
  }
  const n = (v) => String(v || 0);
  const count = (k, one, many) => k + " " + (k === 1 ? one : many);
  const late = (s) => {
    const parts = [];
    if (s.evaluations_overdue) parts.push(count(s.evaluations_overdue, "evaluation", "evaluations"));
    if (s.actions_overdue) parts.push(count(s.actions_overdue, "action", "actions"));
    if (s.overdue_mitigation_plans) parts.push(count(s.overdue_mitigation_plans, "mitigation plan", "mitigation plans"));
    return parts.length ? wordBadge("bad", parts.join(", ")) : h("span", { class: "ok-text" }, "✓ none");
  };
  const plans = (s) => {
    if (!s.open_mitigation_plans && !s.approved_extensions) return "none open";
    return [count(s.open_mitigation_plans || 0, "open", "open"),
      s.approved_extensions ? "; " + count(s.approved_extensions, "extension", "extensions") + " approved" : ""].join("");
  };
  show(sec,
    h("p", {}, "Per site: the patches and advisories that apply to its assets, where each pair of an asset and a patch or advisory stands, and what is overdue."),
    table("Patch status per site", ["Site", "Patches and advisories", "Installed", "Pending", "Mitigated", "Not applicable", "Overdue", "Mitigation plans"],
      list.map((s) => h("tr", { dataset: { site: s.site_id } },
        h("th", { scope: "row" }, s.site_name || s.site_id, h("br", {}), h("span", { class: "hint" }, count(s.zones || 0, "zone", "zones") + ", " + count(s.assets || 0, "asset", "assets"))),
        h("td", {}, n(s.patches_and_advisories)),
        h("td", {}, n(s.installed)), h("td", {}, n(s.pending)), h("td", {}, n(s.mitigated)), h("td", {}, n(s.not_applicable)),
        h("td", { class: "overdue" }, late(s)), h("td", {}, plans(s)))),
    { id: "site-table", empty: "No site in the inventory yet: engineers add sites and zones through the API (POST /api/v1/sites, /api/v1/zones) and assets on the Inventory page." }),
    list.length ? csvLink(routes.sites, "otpatch-compliance-sites.csv", "sites-csv") : null);
}
