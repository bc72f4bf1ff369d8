// Deployment logs: what each device printed while a campaign backed it up, installed, verified
// or rolled back a patch, per campaign and asset, oldest first.
import { apiAll, h, fill, utc } from "../lib.js";

export async function render(view, _params, query) {
  view.append(h("h1", {}, "Deployment logs"),
    h("p", { class: "hint" }, "What each device printed during backup, install, verify and rollback. Choose a campaign, then an asset."));
  const campaigns = await apiAll("/api/v1/campaigns");
  const campaign = h("select", { id: "log-campaign", "aria-label": "Campaign" },
    h("option", { value: "" }, "Campaign…"), ...campaigns.map((c) => h("option", { value: c.id }, (c.name || c.id) + " · " + c.status)));
  const asset = h("select", { id: "log-asset", "aria-label": "Asset" }, h("option", { value: "" }, "All assets"));
  const out = h("div", { id: "log-view" });
  view.append(h("div", { class: "filters" }, campaign, " ", asset), out);
  const go = () => {
    const q = new URLSearchParams();
    if (campaign.value) q.set("campaign", campaign.value);
    if (asset.value) q.set("asset", asset.value);
    location.hash = "#/logs" + (q.toString() ? "?" + q : "");
  };
  campaign.addEventListener("change", () => { asset.value = ""; go(); });
  asset.addEventListener("change", go);
  const cid = query.get("campaign") || "";
  if (!cid) { fill(out, h("p", { class: "empty" }, "Choose a campaign.")); return; }
  campaign.value = cid;
  const assets = await apiAll("/api/v1/campaigns/" + encodeURIComponent(cid) + "/assets");
  asset.append(...assets.map((a) => h("option", { value: a.asset_id }, a.name)));
  const aid = query.get("asset") || "";
  asset.value = aid;
  const shown = aid ? assets.filter((a) => a.asset_id === aid) : assets;
  const sections = [];
  for (const a of shown) {
    const lines = await apiAll("/api/v1/campaigns/" + encodeURIComponent(cid) + "/assets/" + encodeURIComponent(a.asset_id) + "/log?limit=500");
    sections.push(h("section", { class: "card asset-log", dataset: { asset: a.asset_id } },
      h("h2", {}, a.name),
      lines.length ? h("pre", { class: "log" }, ...lines.map((l) => h("span", { class: "log-" + l.stream }, utc(l.at) + " [" + l.stream + "] " + l.text + (l.text.endsWith("\n") ? "" : "\n"))))
        : h("p", { class: "empty" }, "Nothing printed yet.")));
  }
  fill(out, sections.length ? sections : h("p", { class: "empty" }, "No asset."));
}
