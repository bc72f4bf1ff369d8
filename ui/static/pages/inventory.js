// Inventory: sites, zones with their target security level (SL-T), assets with installed versions.
import { fill, api, h, table } from "../lib.js";

export async function render(view) {
  view.append(h("h1", {}, "Inventory"));
  const [sites, zones, assets] = await Promise.all([api("/api/v1/sites"), api("/api/v1/zones"), api("/api/v1/assets")]);
  const siteName = Object.fromEntries(sites.map((s) => [s.id, s.name]));
  const zoneName = Object.fromEntries(zones.map((z) => [z.id, z.name]));
  view.append(h("h2", {}, "Sites"), h("ul", { id: "sites" }, sites.map((s) => h("li", {}, s.name + " (" + zones.filter((z) => z.site_id === s.id).length + " zones)"))));
  view.append(h("h2", {}, "Zones"), table("Zones", ["Zone", "Site", "SL-T", "Test bench", "Window", "Max parallel"], zones.map((z) =>
    h("tr", {}, h("td", {}, z.name), h("td", {}, siteName[z.site_id] || z.site_id), h("td", {}, "SL " + z.sl_t), h("td", {}, z.test_bench ? "yes" : "no"),
      h("td", {}, h("code", {}, z.window.cron || "—"), " for " + (z.window.duration || "—") + ", " + (z.window.time_zone || "")), h("td", {}, String(z.window.max_parallel || "—")))),
  { id: "zones" }));

  const filter = h("select", { id: "asset-zone" }, h("option", { value: "" }, "All zones"), zones.map((z) => h("option", { value: z.id }, z.name)));
  const body = h("div", {});
  const draw = () => {
    const rows = assets.filter((a) => !filter.value || a.zone_id === filter.value);
    fill(body, table("Assets", ["Asset", "Zone", "Product", "Installed version", "Criticality", "Safety-critical", "Redundancy group"], rows.map((a) =>
      h("tr", {}, h("td", {}, a.name), h("td", {}, zoneName[a.zone_id] || a.zone_id), h("td", {}, a.product_id), h("td", {}, a.installed_version),
        h("td", {}, a.criticality + " of 5"), h("td", {}, a.safety_critical ? "yes" : "no"), h("td", {}, a.redundancy_group || "—"))), { id: "assets" }));
  };
  filter.addEventListener("change", draw);
  view.append(h("h2", {}, "Assets (" + assets.length + ")"), h("div", { class: "field" }, h("label", { for: "asset-zone" }, "Show assets of"), filter), body);
  draw();
}
