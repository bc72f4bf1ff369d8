// Advisories: CSAF 2.0 vendor advisories, the assets they hit, and the patch that fixes them.
import { api, apiAll, h, table, link, utc } from "../lib.js";

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
  view.append(h("h1", {}, a.tracking_id + " — " + a.title),
    h("dl", { class: "facts" }, h("dt", {}, "Publisher"), h("dd", {}, a.publisher), h("dt", {}, "Revision"), h("dd", {}, a.revision || "—"),
      h("dt", {}, "Released"), h("dd", {}, utc(a.released_at)), h("dt", {}, "Current release"), h("dd", {}, utc(a.current_release)),
      h("dt", {}, "Highest CVSS"), h("dd", {}, String(a.max_cvss ?? "—")), h("dt", {}, "Remedy"), h("dd", {}, (a.remediation || "").replaceAll("_", " "))),
    h("h2", {}, "Affected assets"),
    table("Affected assets", ["Asset", "Zone", "Installed version", "CVEs", "CVSS", "Fixing patch"], (a.affected_assets || []).map((x) =>
      h("tr", {}, h("td", {}, x.name || x.asset_id), h("td", {}, x.zone_id), h("td", {}, x.installed_version), h("td", {}, (x.cves || []).join(", ")),
        h("td", {}, String(x.cvss ?? "")), h("td", {}, x.patch ? link("#/patches/" + x.patch.id, x.patch.patch_ref + " " + x.patch.version) : "no qualified patch yet"))),
    { empty: "No asset in the inventory is hit by this advisory.", id: "affected-assets" }),
    h("h2", {}, "Vendor fixes"),
    table("Vendor fixes", ["CVEs", "Fixed version", "Details", "Qualified patches"], (a.vendor_fixes || []).map((f) =>
      h("tr", {}, h("td", {}, (f.cves || []).join(", ")), h("td", {}, f.fixed_version || "—"),
        h("td", {}, f.details, f.url ? [" ", h("a", { href: f.url, rel: "noopener noreferrer" }, "vendor page")] : null),
        h("td", {}, (f.patches || []).length ? f.patches.map((p) => link("#/patches/" + p.id, p.patch_ref + " " + p.version)) : "none yet"))),
    { empty: "The advisory names no vendor fix (mitigations or workarounds only)." }),
    h("h2", {}, "Vulnerabilities"),
    h("ul", {}, (a.vulnerabilities || []).map((v) => h("li", {}, (v.cve || "") + (v.title ? " — " + v.title : "")))));
}
