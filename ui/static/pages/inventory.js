// Inventory: sites, zones with their target security level (SL-T), assets with installed versions
// and patch status, and the CSV import for engineers.
import { fill, api, apiAll, h, table, field, can, hasRoute, errorBox, announce, durationWords, sendFile, refusal } from "../lib.js";
import { siteLink, workerStatusBadge } from "./sites.js";

const importColumns = "name,zone_id,product_id,installed_version,criticality,safety_critical,redundancy_group,adapter";

export async function render(view) {
  view.append(h("h1", {}, "Inventory"));
  const [sites, zones] = await Promise.all([apiAll("/api/v1/sites"), apiAll("/api/v1/zones")]);
  const siteName = Object.fromEntries(sites.map((s) => [s.id, s.name]));
  const zoneName = Object.fromEntries(zones.map((z) => [z.id, z.name]));
  view.append(h("h2", {}, "Sites"), h("ul", { id: "sites" }, sites.map((s) => h("li", { dataset: { site: s.id } },
    siteLink(s.id, s.name), " (" + zones.filter((z) => z.site_id === s.id).length + " zones) — device work ",
    s.device_work === "site_worker"
      ? ["on a site worker: ", workerStatusBadge(s.worker_status, (s.workers || []).filter((w) => w.polling).length, { class: "site-worker-status" })]
      : s.device_work === "air_gapped"
        ? ["air-gapped: its own otpatch instance runs its campaigns, carried as transfer bundles",
          s.transfer_key ? null : h("span", { class: "warn-text site-transfer-key-none" }, " ⚠ no transfer key pinned")]
        : "central"))));
  view.append(h("h2", {}, "Zones"), table("Zones", ["Zone", "Site", "SL-T", "Test bench", "Window", "Max parallel"], zones.map((z) =>
    h("tr", {}, h("td", {}, z.name), h("td", {}, siteName[z.site_id] || z.site_id), h("td", {}, "SL " + z.sl_t), h("td", {}, z.test_bench ? "yes" : "no"),
      h("td", {}, h("code", {}, z.window.cron || "—"), " for " + durationWords(z.window.duration) + ", " + (z.window.time_zone || "")), h("td", {}, String(z.window.max_parallel || "—")))),
  { id: "zones" }));

  const withStatus = can("staff") && hasRoute("GET", "/api/v1/compliance/assets");
  // The assets are read a page at a time (the inventory may hold thousands), of the zone chosen.
  const assetPage = 200;
  let assets = [];
  let next = ""; // the cursor of the following page of assets; "" when every one is shown
  let status = null; // asset id → {pending: n, installed: n, …}, or null when unknown
  const filter = h("select", { id: "asset-zone" }, h("option", { value: "" }, "All zones"), zones.map((z) => h("option", { value: z.id }, z.name)));
  const title = h("h2", { id: "assets-title" }, "Assets");
  const body = h("div", {});
  const more = h("button", { type: "button", id: "assets-more", hidden: true }, "Show more assets");
  const draw = () => {
    title.textContent = next ? "Assets (the first " + assets.length + ")" : "Assets (" + assets.length + ")";
    more.hidden = !next;
    const headers = ["Asset", "Zone", "Product", "Installed version", "Criticality", "Safety-critical", "Redundancy group"];
    if (status) headers.push("Patch status");
    fill(body, table("Assets", headers, assets.map((a) =>
      h("tr", { dataset: { asset: a.name } }, h("td", {}, a.name), h("td", {}, zoneName[a.zone_id] || a.zone_id), h("td", {}, a.product_id), h("td", {}, a.installed_version),
        h("td", {}, a.criticality + " of 5"), h("td", {}, a.safety_critical ? "yes" : "no"), h("td", {}, a.redundancy_group || "—"),
        status ? h("td", { class: "patch-status" }, statusText(status[a.id])) : null)), { id: "assets" }));
  };
  const readAssets = (after) => {
    const q = new URLSearchParams({ limit: String(assetPage) });
    if (filter.value) q.set("zone_id", filter.value);
    if (after) q.set("after", after);
    return api("/api/v1/assets?" + q.toString());
  };
  const loadAssets = async () => {
    const first = await readAssets("");
    assets = first.items;
    next = first.next || "";
    draw();
  };
  const load = async () => {
    const [first, comp] = await Promise.all([
      readAssets(""),
      withStatus ? apiAll("/api/v1/compliance/assets").catch(() => null) : Promise.resolve(null),
    ]);
    assets = first.items;
    next = first.next || "";
    status = null;
    if (comp) {
      status = {};
      for (const row of comp) {
        const s = (status[row.asset_id] ||= {});
        s[row.status] = (s[row.status] || 0) + 1;
      }
    }
    draw();
  };
  filter.addEventListener("change", () => loadAssets().catch((err) => fill(body, errorBox(err))));
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const p = await readAssets(next);
      assets = assets.concat(p.items);
      next = p.next || "";
      draw();
    } catch (err) {
      body.append(errorBox(err));
    } finally {
      more.disabled = false;
    }
  });
  if (can("engineers") && hasRoute("POST", "/api/v1/assets/import")) view.append(importForm(load));
  view.append(title, h("div", { class: "field" }, h("label", { for: "asset-zone" }, "Show assets of"), filter), body, more);
  await load();
}

// statusText sums an asset's per-patch states in words (not only colour): "✗ 2 pending, ✓ 1 installed".
function statusText(s) {
  if (!s) return "✓ none known";
  const order = [["pending", "✗"], ["mitigated", "!"], ["installed", "✓"], ["not_applicable", "–"]];
  return order.filter(([k]) => s[k]).map(([k, sym]) => sym + " " + s[k] + " " + k.replace("_", " ")).join(", ");
}

function importForm(reload) {
  const file = h("input", { type: "file", name: "csv", accept: ".csv,text/csv", required: true });
  const button = h("button", { type: "submit", id: "import-assets" }, "Import assets");
  const result = h("div", { id: "import-result", "aria-live": "polite" });
  const form = h("form", { id: "import-form", class: "card", "aria-labelledby": "import-title" },
    h("h2", { id: "import-title" }, "Import assets from CSV"),
    h("p", {}, "All or nothing: every row is checked first; if any row is wrong, nothing is imported and each wrong row is listed. The first line must be ",
      h("code", {}, importColumns), "."),
    field("import-file", "CSV file", file, "At most 1 MiB and 5,000 rows; safety_critical is true or false; adapter is simulator, ssh or agent (an ssh or agent asset's endpoint is set afterwards)."),
    button, result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    if (!file.files.length) {
      result.append(errorBox(new Error("choose a CSV file to import")));
      return;
    }
    button.disabled = true;
    try {
      const { ok, status, doc } = await sendFile("/api/v1/assets/import", await file.files[0].text(), "text/csv");
      if (!ok) {
        refusal(result, "import", status, doc);
        announce("The import was refused; nothing was imported.", "error");
        return;
      }
      result.append(h("p", { class: "ok-text", id: "import-ok" }, "✓ Imported " + doc.imported + (doc.imported === 1 ? " asset: " : " assets: ") +
        doc.assets.map((a) => a.name).join(", ")));
      announce("Imported " + doc.imported + " assets.", "ok");
      form.reset();
      await reload();
    } catch (err) {
      result.append(errorBox(err));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
