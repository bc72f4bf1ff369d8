// Dashboard: campaigns by state, alarms (halted campaigns, rollbacks that failed), overdue
// NERC CIP-007-6 R2 evaluations and actions, and the next maintenance window of every zone.
import { fill, api, apiAll, h, badge, table, link, utc, hasRoute, can, terminalCampaign, errorBox, windowOpening, windowLength } from "../lib.js";

const order = ["awaiting_approval", "testing", "draft", "approved", "scheduled", "deploying", "halted", "rolled_back", "test_failed", "rejected", "aborted", "completed"];

export async function render(view) {
  view.append(h("h1", {}, "Dashboard"));
  const alarms = h("section", { "aria-labelledby": "alarms-title", id: "alarms" }, h("h2", { id: "alarms-title" }, "Alarms"));
  const states = h("section", { "aria-labelledby": "states-title", id: "by-state" }, h("h2", { id: "states-title" }, "Campaigns by state"));
  const active = h("section", { "aria-labelledby": "active-title" }, h("h2", { id: "active-title" }, "Campaigns in progress"));
  const windows = h("section", { "aria-labelledby": "windows-title", id: "next-windows" }, h("h2", { id: "windows-title" }, "Next window per zone"));
  const overdue = can("staff") && hasRoute("GET", "/api/v1/compliance/overdue")
    ? h("section", { "aria-labelledby": "overdue-title", id: "overdue" }, h("h2", { id: "overdue-title" }, "Overdue evaluations and actions"))
    : null;
  const drills = can("staff") && hasRoute("GET", "/api/v1/drills")
    ? h("section", { "aria-labelledby": "drills-title", id: "overdue-drills" }, h("h2", { id: "drills-title" }, "Restore drills"))
    : null;
  view.append(h("div", { class: "grid" }, alarms, states), active, overdue, drills, windows);

  async function refresh() {
    const [cs, alarmList] = await Promise.all([
      apiAll("/api/v1/campaigns"),
      hasRoute("GET", "/api/v1/alarms") ? apiAll("/api/v1/alarms").catch(() => []) : Promise.resolve([]),
    ]);
    const counts = {};
    for (const c of cs) counts[c.status] = (counts[c.status] || 0) + 1;
    fill(states, states.firstChild, cs.length
      ? h("ul", { class: "counts" }, order.filter((s) => counts[s]).map((s) =>
        h("li", {}, badge(s), " ", h("strong", {}, String(counts[s])), " ", counts[s] === 1 ? "campaign" : "campaigns")))
      : h("p", { class: "empty" }, "No campaigns yet."));

    const items = [];
    for (const c of cs.filter((c) => c.status === "halted")) {
      items.push(h("li", { class: "alarm" }, badge("halted"), " ", link("#/campaigns/" + c.id, c.name), " — ", c.detail || "halted; needs manual action"));
    }
    for (const a of alarmList || []) {
      items.push(h("li", { class: "alarm" }, badge(a.kind === "rollback_failed" ? "rollback_failed" : "halted"), " ",
        a.campaign_id ? link("#/campaigns/" + a.campaign_id, a.campaign_id) : null, " ", a.asset_id || "", " — ", a.message, " (", utc(a.raised_at), ")"));
    }
    fill(alarms, alarms.firstChild, items.length ? h("ul", { class: "alarms" }, items) : h("p", { class: "ok-text" }, "✓ No alarms: no campaign is halted and no rollback failed."));

    const running = cs.filter((c) => !terminalCampaign.includes(c.status));
    fill(active, active.firstChild, table("Campaigns in progress", ["Campaign", "State", "Detail", "Next window (UTC)", "Updated"],
      running.map((c) => h("tr", {}, h("td", {}, link("#/campaigns/" + c.id, c.name)), h("td", {}, badge(c.status)), h("td", {}, c.detail || ""),
        h("td", {}, c.next_window_start ? utc(c.next_window_start) : "—"), h("td", {}, utc(c.updated_at)))),
      { empty: "No campaign in progress.", id: "active-campaigns" }));
  }

  try {
    await refresh();
    if (overdue) await drawOverdue(overdue); // whole-inventory report: once per visit, not every 5 s
    if (drills) await drawDrills(drills);
    const ws = await apiAll("/api/v1/windows?openings=1");
    windows.append(table("Next window per zone", ["Zone", "Next opening (zone time)", "Length", "Window"],
      ws.map((z) => {
        const o = (z.occurrences || [])[0];
        return h("tr", {}, h("td", {}, z.zone), h("td", {}, o ? windowOpening(o, z.window.time_zone) : "none scheduled"),
          h("td", {}, o ? windowLength(o) : "—"), h("td", {}, h("code", {}, z.window.cron || "—"), " ", z.window.time_zone || ""));
      }), { empty: "No zones." }));
  } catch (err) {
    view.append(errorBox(err));
  }
  const timer = setInterval(() => refresh().catch(() => {}), 5000);
  return () => clearInterval(timer);
}

// drawOverdue shows the overdue evaluations and actions (NERC CIP-007-6 R2, UTC days) as counts
// and a list.
async function drawOverdue(section) {
  let doc;
  try {
    doc = await api("/api/v1/compliance/overdue");
  } catch (err) {
    fill(section, section.firstChild, errorBox(err));
    return;
  }
  const evals = doc.evaluations || [], actions = doc.actions || [];
  const total = evals.length + actions.length;
  const row = (e) => h("tr", {}, h("td", {}, String(e.kind || "").replaceAll("_", " ")), h("td", {}, e.subject_type + " " + (e.ref || e.subject_id)), h("td", {}, e.title || ""),
    h("td", {}, e.due), h("td", {}, h("strong", {}, "✗ " + e.days_overdue + (e.days_overdue === 1 ? " day" : " days"))), h("td", {}, e.owner || "—"));
  const headers = ["Overdue", "Subject", "Title", "Due (UTC)", "Late by", "Owner"];
  fill(section, section.firstChild,
    h("p", { id: "overdue-count", class: total ? "error" : "ok-text" }, total
      ? `✗ ${evals.length} ${evals.length === 1 ? "evaluation" : "evaluations"} and ${actions.length} ${actions.length === 1 ? "action" : "actions"} overdue as of ${doc.as_of}`
      : `✓ Nothing overdue as of ${doc.as_of}.`),
    evals.length ? table("Overdue evaluations", headers, evals.map(row), { id: "overdue-evaluations" }) : null,
    actions.length ? table("Overdue actions and mitigation plans", headers, actions.map(row), { id: "overdue-actions" }) : null);
}

// drawDrills shows the restore drills with no passing run within their interval.
async function drawDrills(section) {
  let list;
  try {
    list = await apiAll("/api/v1/drills?overdue=1");
  } catch (err) {
    fill(section, section.firstChild, errorBox(err));
    return;
  }
  fill(section, section.firstChild,
    h("p", { id: "drills-overdue-count", class: list.length ? "error" : "ok-text" }, list.length
      ? `✗ ${list.length} restore ${list.length === 1 ? "drill is" : "drills are"} overdue: no passing run within the interval.`
      : "✓ No restore drill is overdue."),
    list.length ? table("Overdue restore drills", ["Drill", "Of", "Last result", "Had to pass by (UTC)"],
      list.map((d) => h("tr", { dataset: { drill: d.id } }, h("td", {}, link("#/drills/" + encodeURIComponent(d.id), d.name || d.id)),
        h("td", {}, d.product_id ? "product " + d.product_id : "zone " + d.zone_id), h("td", {}, d.last_result || "never run"),
        h("td", {}, h("strong", {}, "✗ " + utc(d.next_due))))), { id: "overdue-drill-list" }) : null);
}
