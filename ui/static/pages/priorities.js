// Priorities: every (asset, vulnerability) the ingested advisories hit, most urgent first, with
// the decision (act, attend, track*, track) and why: KEV, EPSS, CVSS, the zone's SL-T and
// conduits, the asset's criticality and safety role, and whether a qualified patch fixes it.
// The rule is the server's (docs/priorities.md); this page shows what it answers.
import { api, h, fill, table, link, utc, wordBadge, errorBox } from "../lib.js";
import { siteLink } from "./sites.js";
import { loadDecisionStates, decisionCell } from "./advisories.js";

const pageSize = 200;

export async function render(view, _params, query) {
  view.append(h("h1", {}, "Priorities"));
  const [data, decisionStates] = await Promise.all([api("/api/v1/exploitation"), loadDecisionStates()]);
  const tones = Object.fromEntries((data.decisions || []).map((d) => [d.value, d]));
  const names = { kev: "CISA KEV catalog", epss: "FIRST EPSS scores" };
  const imported = Object.fromEntries((data.imports || []).map((i) => [i.source, i]));
  view.append(h("ul", { id: "exploitation-imports" }, ["kev", "epss"].map((src) => {
    const i = imported[src];
    return h("li", { dataset: { source: src } }, i
      ? `${names[src]} ${i.version} of ${utc(i.released_at)}: ${i.entries} CVEs, imported by ${i.imported_by} on ${utc(i.imported_at)}`
      : `${names[src]}: not imported yet (otpatch exploitation import --${src} FILE|URL)`);
  })));

  const decision = h("select", { id: "priority-decision" }, h("option", { value: "" }, "All decisions"),
    (data.decisions || []).map((d) => h("option", { value: d.value }, d.label)));
  decision.value = query?.get("decision") || "";
  const summary = h("p", { id: "priority-summary", "aria-live": "polite" });
  const body = h("div", { id: "priority-body", "aria-busy": "true" });
  const more = h("button", { type: "button", id: "priority-more", hidden: true }, "Show more");
  view.append(h("div", { class: "field" }, h("label", { for: "priority-decision" }, "Decision"), decision), summary, body, more);

  let rows = [];
  let next = "";
  const read = (after) => {
    const q = new URLSearchParams({ limit: String(pageSize) });
    if (decision.value) q.set("decision", decision.value);
    if (after) q.set("after", after);
    return api("/api/v1/priorities?" + q.toString());
  };
  const draw = () => {
    summary.textContent = rows.length
      ? (next ? `The first ${rows.length} rows, ` : `${rows.length} rows, `) + "most urgent first."
      : "";
    more.hidden = !next;
    fill(body, table("Priorities", ["Rank", "Decision", "CVE", "Asset", "Zone", "Advisory", "Plant's decision", "Points", "Why this rank"], rows.map((r) => {
      const d = tones[r.decision] || { tone: "wait", label: r.decision };
      return h("tr", { dataset: { cve: r.cve, asset: r.asset_id } },
        h("td", { class: "rank" }, String(r.rank)),
        h("td", { class: "decision" }, wordBadge(d.tone, d.label)),
        h("td", {}, r.cve, r.cvss ? ` (CVSS ${r.cvss})` : ""),
        h("td", {}, siteLink(r.site_id, r.asset_name || r.asset_id)),
        h("td", {}, r.zone_name),
        h("td", {}, link("#/advisories/" + encodeURIComponent(r.advisory_id), r.tracking_id)),
        h("td", { class: "plant-decision" }, decisionCell(r.plant_decision, decisionStates)),
        h("td", { class: "points" }, String(r.points)),
        h("td", { class: "why" }, h("ul", {}, (r.factors || []).map((f) => h("li", { dataset: { kind: f.kind } }, f.text + (f.points ? ` (+${f.points})` : ""))))));
    }), { id: "priority-table", empty: "No ingested advisory hits an asset of the inventory" + (decision.value ? " with this decision." : ".") }));
    body.removeAttribute("aria-busy");
  };
  const load = async () => {
    body.setAttribute("aria-busy", "true");
    const p = await read("");
    rows = p.items;
    next = p.next || "";
    draw();
  };
  decision.addEventListener("change", () => load().catch((err) => fill(body, errorBox(err))));
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const p = await read(next);
      rows = rows.concat(p.items);
      next = p.next || "";
      draw();
    } catch (err) {
      fill(body, errorBox(err));
    } finally {
      more.disabled = false;
    }
  });
  await load();
}
