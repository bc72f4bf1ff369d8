// Advisories: CSAF 2.0 vendor advisories, the assets they hit, and the patch that fixes them.
import { api, apiAll, h, fill, table, link, utc, can, session, wordBadge, errorBox, field, announce } from "../lib.js";

export async function renderList(view) {
  view.append(h("h1", {}, "Advisories"));
  const list = await apiAll("/api/v1/advisories");
  view.append(table("Advisories", ["Advisory", "Publisher", "CVEs", "Highest CVSS", "Remedy", "Assets hit", "Current release"],
    list.map((a) => h("tr", {},
      h("td", {}, link("#/advisories/" + a.id, a.tracking_id + " — " + a.title)), h("td", {}, a.publisher),
      h("td", {}, (a.cves || []).join(", ")), h("td", {}, String(a.max_cvss ?? "—")), h("td", {}, (a.remediation || "").replaceAll("_", " ")),
      h("td", {}, String(a.affected_asset_count)), h("td", {}, utc(a.current_release)))),
    { empty: "No advisory ingested yet. Engineers add CSAF 2.0 documents with POST /api/v1/advisories.", id: "advisory-list" }));
}

export async function renderAdvisory(view, [id]) {
  let a;
  try {
    a = await api("/api/v1/advisories/" + encodeURIComponent(id));
  } catch (err) {
    if (err.status === 404) { view.append(h("h1", {}, "Advisory not found"), link("#/advisories", "Back to the advisories")); return; }
    throw err;
  }
  const decisionStates = await loadDecisionStates();
  view.append(h("h1", {}, a.tracking_id + " — " + a.title),
    h("dl", { class: "facts" }, h("dt", {}, "Publisher"), h("dd", {}, a.publisher), h("dt", {}, "Revision"), h("dd", {}, a.revision || "—"),
      h("dt", {}, "Released"), h("dd", {}, utc(a.released_at)), h("dt", {}, "Current release"), h("dd", {}, utc(a.current_release)),
      h("dt", {}, "Highest CVSS"), h("dd", {}, String(a.max_cvss ?? "—")), h("dt", {}, "Remedy"), h("dd", {}, (a.remediation || "").replaceAll("_", " "))),
    h("h2", {}, "Affected assets"),
    table("Affected assets", ["Asset", "Zone", "Installed version", "CVEs", "CVSS", "Fixing patch", "Decision"], (a.affected_assets || []).map((x) =>
      h("tr", { dataset: { asset: x.asset_id } }, h("td", {}, x.name || x.asset_id), h("td", {}, x.zone_id), h("td", {}, x.installed_version), h("td", {}, (x.cves || []).join(", ")),
        h("td", {}, String(x.cvss ?? "")), h("td", {}, x.patch ? link("#/patches/" + x.patch.id, x.patch.patch_ref + " " + x.patch.version) : "no qualified patch yet"),
        h("td", { class: "decision" }, decisionCell(x.decision, decisionStates)))),
    { empty: "No asset in the inventory is hit by this advisory.", id: "affected-assets" }),
    ...((a.not_affected_assets || []).length ? [h("h2", {}, "Known not affected (the publisher's VEX statement)"),
      table("Known not affected", ["Asset", "Zone", "Installed version", "CVEs", "Justification"], a.not_affected_assets.map((x) =>
        h("tr", { dataset: { asset: x.asset_id } }, h("td", {}, x.name || x.asset_id), h("td", {}, x.zone_id), h("td", {}, x.installed_version),
          h("td", {}, (x.cves || []).join(", ")), h("td", {}, (x.justifications || []).map((j) => j.replaceAll("_", " ")).join("; ") || "none given"))),
      { id: "not-affected-assets" })] : []),
    decisionsSection(a, decisionStates),
    h("h2", {}, "Vendor fixes"),
    table("Vendor fixes", ["CVEs", "Fixed version", "Details", "Qualified patches"], (a.vendor_fixes || []).map((f) =>
      h("tr", {}, h("td", {}, (f.cves || []).join(", ")), h("td", {}, f.fixed_version || "—"),
        h("td", {}, f.details, f.url ? [" ", h("a", { href: f.url, rel: "noopener noreferrer" }, "vendor page")] : null),
        h("td", {}, (f.patches || []).length ? f.patches.map((p) => link("#/patches/" + p.id, p.patch_ref + " " + p.version)) : "none yet"))),
    { empty: "The advisory names no vendor fix (mitigations or workarounds only)." }),
    h("h2", {}, "Vulnerabilities"),
    h("ul", {}, (a.vulnerabilities || []).map((v) => h("li", {}, (v.cve || "") + (v.title ? " — " + v.title : "")))));
}

// Decisions: per group of affected assets (a zone's assets of one product), engineers decide to
// patch (the campaign is planned in one step), mitigate, accept the risk or state that the
// assets are not affected; each asset shows its current decision, and an approver approves a
// pending risk acceptance. The words and tones of the states come from GET /api/v1/states.

export async function loadDecisionStates() {
  try {
    const doc = await api("/api/v1/states");
    return new Map((doc.decision_states || []).map((s) => [s.value, s]));
  } catch { return new Map(); }
}

const kindWords = { patch: "patch", mitigate: "mitigate", accept: "accept the risk", not_affected: "not affected" };

function stateBadge(state, states) {
  const s = states.get(state) || { label: String(state || "").replaceAll("_", " "), tone: "wait" };
  return wordBadge(s.tone, s.label, { dataset: { state } });
}

export function decisionCell(d, states) {
  if (!d) return h("span", { class: "hint" }, "none yet");
  return [kindWords[d.kind] || d.kind, " ", stateBadge(d.state, states),
    d.campaign_id ? [" ", link("#/campaigns/" + d.campaign_id, "campaign")] : null,
    d.expires_on ? " until " + d.expires_on : null, d.review_date ? " · review " + d.review_date : null];
}

// groupsOf groups the affected assets by zone and product, in order.
function groupsOf(affected) {
  const groups = new Map();
  for (const x of affected) {
    const key = x.zone_id + "\u0000" + x.product_id;
    if (!groups.has(key)) groups.set(key, { zone_id: x.zone_id, product_id: x.product_id, assets: [] });
    groups.get(key).assets.push(x);
  }
  return [...groups.values()].sort((p, q) => p.zone_id.localeCompare(q.zone_id) || p.product_id.localeCompare(q.product_id));
}

const labels = { reason: "Reason", kind: "Decision", asset_ids: "Assets", zone_id: "Zone", product_id: "Product", control_kind: "Control", description: "What the control does",
  owner: "Owner", evidence: "Evidence", review_date: "Review date", justification: "Justification", approver: "Approver", expires_on: "Expires on",
  vex_justification: "VEX justification", impact_statement: "Impact statement", patch_id: "Patch", campaign_name: "Campaign name" };

function decisionsSection(a, states) {
  const section = h("section", { id: "decisions" }, h("h2", {}, "Decisions"));
  const affected = a.affected_assets || [];
  const history = h("div", { id: "decision-history" });
  const result = h("div", { id: "decision-result", "aria-live": "polite" });
  const refresh = async () => {
    const fresh = await api("/api/v1/advisories/" + encodeURIComponent(a.id));
    for (const x of fresh.affected_assets || []) {
      const row = document.querySelector('#affected-assets tr[data-asset="' + CSS.escape(x.asset_id) + '"] td.decision');
      if (row) fill(row, decisionCell(x.decision, states));
    }
    await drawHistory();
  };
  // rejectControl lets the approver refuse a pending acceptance, with the reason.
  function rejectControl(d) {
    const reason = h("input", { type: "text", id: "reject-reason-" + d.id, maxlength: 2000, placeholder: "Why not (required to reject)", "aria-label": "Reason to reject" });
    const button = h("button", { type: "button", id: "reject-" + d.id, class: "danger", onclick: async () => {
      button.disabled = true;
      result.replaceChildren();
      try {
        await api("/api/v1/decisions/" + encodeURIComponent(d.id) + "/reject", { method: "POST", body: { reason: reason.value } });
        announce("Risk acceptance rejected.", "ok");
        await refresh();
      } catch (err) { result.append(errorBox(err, labels)); button.disabled = false; }
    } }, "Reject");
    return h("span", { class: "reject" }, reason, " ", button);
  }
  async function drawHistory() {
    const list = await apiAll("/api/v1/decisions?advisory_id=" + encodeURIComponent(a.id));
    const approving = can("deciders") && session.actor.role === "approver";
    fill(history, table("Decisions on this advisory", ["When", "Decision", "Assets", "State", "By", "What"], list.map((d) =>
      h("tr", { dataset: { decision: d.id } }, h("td", {}, utc(d.requested_at)), h("td", {}, kindWords[d.kind] || d.kind), h("td", {}, String(d.asset_count)),
        h("td", {}, stateBadge(d.state, states)), h("td", {}, d.requested_by),
        h("td", {}, decisionWhat(d), approving && d.state === "pending" && d.requested_by !== session.actor.name
          ? [" ", h("button", { type: "button", id: "approve-" + d.id, onclick: async (ev) => {
            ev.target.disabled = true;
            result.replaceChildren();
            try {
              await api("/api/v1/decisions/" + encodeURIComponent(d.id) + "/approve", { method: "POST" });
              announce("Risk acceptance approved.", "ok");
              await refresh();
            } catch (err) { result.append(errorBox(err, labels)); ev.target.disabled = false; }
          } }, "Approve"), " ", rejectControl(d)] : null))),
    { id: "decision-list", empty: "No decision yet. A newer decision for an asset supersedes the older one, which stays listed here." }));
  }
  drawHistory().catch((err) => fill(history, errorBox(err)));
  if (!can("engineers") || !affected.length) {
    section.append(result, history);
    return section;
  }
  const rows = groupsOf(affected).map((g, i) => {
    const noPatch = g.assets.filter((x) => !x.patch).length;
    const open = (kind) => async () => {
      result.replaceChildren();
      try {
        fill(form, decisionForm(a, g, kind, result, refresh, await loadDecisionEnums()));
        form.scrollIntoView({ block: "nearest" });
      } catch (err) { result.append(errorBox(err)); }
    };
    const patchButton = h("button", { type: "button", id: "decide-patch-" + i, disabled: noPatch > 0,
      title: noPatch ? "No qualified patch fixes " + noPatch + " of these assets" : "",
      onclick: async (ev) => {
        ev.target.disabled = true;
        result.replaceChildren();
        try {
          const d = await api("/api/v1/advisories/" + encodeURIComponent(a.id) + "/decisions", { method: "POST",
            body: { kind: "patch", zone_id: g.zone_id, product_id: g.product_id } });
          announce("Campaign planned from " + a.tracking_id + "; bench validation starts.", "ok");
          result.append(h("p", { class: "ok-text" }, "✓ Patch decided for " + d.asset_count + " assets: ",
            link("#/campaigns/" + d.campaign_id, "open the campaign", { id: "decision-campaign-link" })));
          await refresh();
        } catch (err) { result.append(errorBox(err, labels)); } finally { ev.target.disabled = noPatch > 0; }
      } }, "Patch — plan the campaign");
    return h("tr", { dataset: { group: g.zone_id + "/" + g.product_id } },
      h("td", {}, g.zone_id), h("td", {}, g.product_id), h("td", {}, String(g.assets.length)),
      h("td", { class: "actions" }, patchButton, " ",
        h("button", { type: "button", id: "decide-mitigate-" + i, onclick: open("mitigate") }, "Mitigate…"), " ",
        h("button", { type: "button", id: "decide-accept-" + i, onclick: open("accept") }, "Accept the risk…"), " ",
        h("button", { type: "button", id: "decide-not_affected-" + i, onclick: open("not_affected") }, "Not affected…")));
  });
  const form = h("div", { id: "decision-form" });
  section.append(h("p", { class: "hint" }, "Decide per group of affected assets (a zone's assets of one product). Patch plans the campaign with the qualified patch that fixes them in one step; the others record a compensating control, a risk acceptance an approver other than you approves, or a CSAF VEX statement."),
    table("Affected asset groups", ["Zone", "Product", "Assets", "Decide"], rows, { id: "decision-groups" }), form, result, history);
  return section;
}

function decisionWhat(d) {
  switch (d.kind) {
  case "patch": return d.campaign_id ? link("#/campaigns/" + d.campaign_id, "campaign " + d.campaign_id) : "—";
  case "mitigate": return (d.control_kind || "").replaceAll("_", " ") + ": " + (d.description || "") + " (owner " + (d.owner || "—") + ", review " + (d.review_date || "—") + ")";
  case "accept": return (d.justification || "") + " (approver " + (d.approver || "—") + (d.approved_by ? ", approved by " + d.approved_by : "") +
    (d.rejected_by ? ", rejected by " + d.rejected_by + ": " + (d.reject_reason || "") : "") + ", until " + (d.expires_on || "—") + ")";
  case "not_affected": return (d.vex_justification || "").replaceAll("_", " ") + ": " + (d.impact_statement || "");
  }
  return "";
}

// decisionEnums are the compensating-control kinds and CSAF VEX justifications the API accepts,
// read from its OpenAPI document (the server's domain package lists them): the UI keeps no copy.
let decisionEnums = null;
async function loadDecisionEnums() {
  if (decisionEnums) return decisionEnums;
  const doc = await api("/api/v1/openapi.json");
  const p = doc.components.schemas.AdvisoryDecisionInput.properties;
  decisionEnums = { control_kind: p.control_kind.enum, vex_justification: p.vex_justification.enum };
  return decisionEnums;
}

// decisionForm asks the fields of a mitigation, acceptance or not-affected statement for group g.
function decisionForm(a, g, kind, result, refresh, enums) {
  const text = (max) => h("input", { type: "text", required: true, maxlength: String(max), autocomplete: "off" });
  const area = () => h("textarea", { rows: "2", required: true, maxlength: "4000" });
  const date = () => h("input", { type: "date", required: true });
  const select = (values) => h("select", { required: true }, values.map((v) => h("option", { value: v }, v.replaceAll("_", " "))));
  let controls;
  if (kind === "mitigate") {
    controls = { control_kind: select(enums.control_kind), description: area(), owner: text(128), evidence: text(4000), review_date: date() };
  } else if (kind === "accept") {
    controls = { justification: area(), approver: text(128), expires_on: date() };
  } else {
    controls = { vex_justification: select(enums.vex_justification), impact_statement: area() };
  }
  const hints = { owner: "The person who keeps the control in place.", evidence: "Where it can be checked: a firewall rule id, a change ticket, a URL.",
    review_date: "The advisory's NERC CIP-007-6 R2 mitigation plan is due on this day.", approver: "The user name of an approver other than you.",
    expires_on: "The last day the acceptance counts; at most a year ahead." };
  const button = h("button", { type: "submit", id: "decision-submit" }, "Record: " + kindWords[kind]);
  const form = h("form", { class: "card", id: "decision-" + kind },
    h("h3", {}, kindWords[kind] + " — " + g.assets.length + " assets of " + g.product_id + " in " + g.zone_id),
    Object.entries(controls).map(([name, c]) => field("decision-" + name, labels[name], c, hints[name])), button);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    const body = { kind, zone_id: g.zone_id, product_id: g.product_id };
    for (const [name, c] of Object.entries(controls)) body[name] = c.value.trim();
    button.disabled = true;
    try {
      const d = await api("/api/v1/advisories/" + encodeURIComponent(a.id) + "/decisions", { method: "POST", body });
      announce("Decision recorded: " + kindWords[kind] + " for " + d.asset_count + " assets" + (d.state === "pending" ? ", pending approval." : "."), "ok");
      form.remove();
      await refresh();
    } catch (err) {
      result.append(errorBox(err, labels));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
