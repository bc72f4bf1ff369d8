// The program report: the patch program's business case in figures, per site or for the
// company — lead times from the vendor's release, coverage, exposure per CVE, downtime against
// the window budget, rollbacks and their causes — with the charts the server draws as SVG and
// the CSV and PDF to take to the board.
import { api, apiAll, h, fill, table, utc, errorBox } from "../lib.js";

const base = "/api/v1/reports/program";
const chartNames = ["coverage", "rollbacks", "downtime", "time-to-deploy", "exposure"];

// chart fetches one chart and places its SVG in the page (drawn by the server, no script).
async function chart(name, qs) {
  const res = await api(base + "/charts/" + name + ".svg" + qs, { raw: true });
  const box = h("figure", { class: "chart card", dataset: { chart: name } });
  if (!res.ok) {
    box.append(h("p", { class: "bad-text" }, "The chart could not be drawn (" + res.status + ")."));
    return box;
  }
  const doc = new DOMParser().parseFromString(await res.text(), "image/svg+xml");
  const svg = doc.documentElement;
  if (svg && svg.nodeName === "svg") box.append(document.importNode(svg, true));
  return box;
}

const days = (d) => d.toFixed(1);

export async function render(view, _params, query) {
  const site = query.get("site") || "";
  const qs = site ? "?site=" + encodeURIComponent(site) : "";
  view.append(h("h1", {}, "Program report"),
    h("p", { class: "hint" }, "The patch program in figures, computed from the recorded campaign, asset and patch events of the last year: what to show senior management to keep the program funded (IEC TR 62443-2-3)."));
  const sites = await apiAll("/api/v1/sites");
  const pick = h("select", { id: "program-site", "aria-label": "Site" },
    h("option", { value: "" }, "The whole company"),
    ...sites.map((s) => h("option", { value: s.id, selected: s.id === site }, s.name)));
  pick.addEventListener("change", () => { location.hash = "#/program" + (pick.value ? "?site=" + encodeURIComponent(pick.value) : ""); });
  const sep = qs ? "&" : "?";
  view.append(h("p", { class: "actions" }, h("label", { for: "program-site" }, "Site "), pick, " ",
    h("a", { href: base + qs + sep + "format=csv", download: "otpatch-program-report.csv", id: "program-csv" }, "Download CSV"), " · ",
    h("a", { href: base + qs + sep + "format=pdf", download: "otpatch-program-report.pdf", id: "program-pdf" }, "Download PDF")));
  const body = h("div", { id: "program-report" });
  view.append(body);
  let rep;
  try {
    rep = await api(base + qs);
  } catch (err) {
    fill(body, errorBox(err));
    return;
  }
  const figures = h("div", { id: "program-figures" },
    h("p", {}, "From " + utc(rep.from) + " to " + utc(rep.to) + (rep.site_name ? " — " + rep.site_name : " — the whole company") + "."),
    table("Days from vendor release", ["Milestone", "Count", "Median (days)", "90th percentile (days)"],
      rep.lead_times.map((l) => h("tr", { dataset: { milestone: l.milestone } },
        h("td", {}, l.milestone), h("td", {}, String(l.count)), h("td", {}, days(l.median_days)), h("td", {}, days(l.p90_days)))),
    { id: "program-lead-times" }),
    h("p", { id: "program-coverage" }, "Coverage: " + rep.coverage.covered + " of " + rep.coverage.total + " production assets at a qualified or latest version."),
    table("Exposure per CVE (known exploited first)", ["CVE", "Known exploited", "Patches", "Since", "Exposed now", "Patched", "Days"],
      rep.exposure.map((e) => h("tr", { dataset: { cve: e.cve } },
        h("td", {}, e.cve), h("td", {}, e.kev ? "yes, due " + e.kev_due : "no"), h("td", {}, e.patches.join(", ")),
        h("td", {}, utc(e.since)), h("td", {}, e.open ? String(e.exposed) : "none"), h("td", {}, String(e.patched)), h("td", {}, days(e.days)))),
    { id: "program-exposure", empty: "No CVE of a qualified patch hit an asset in the period." }),
    table("Rollbacks", ["When", "Asset", "Cause", "Campaign"],
      rep.rollbacks.items.map((r) => h("tr", { dataset: { asset: r.asset_id } },
        h("td", {}, utc(r.at)), h("td", {}, r.asset + (r.test_bench ? " (test bench)" : "")), h("td", { title: r.detail }, r.cause),
        h("td", {}, h("a", { href: "#/campaigns/" + encodeURIComponent(r.campaign_id) }, r.campaign)))),
    { id: "program-rollbacks", empty: "No rollback in the period." }));
  const charts = h("div", { id: "program-charts", class: "charts" });
  fill(body, figures, charts);
  for (const name of chartNames) charts.append(await chart(name, qs));
}
