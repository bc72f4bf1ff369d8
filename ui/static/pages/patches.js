// Patches: a vendor submits signed patches and follows their qualification (how many assets
// run each product version, never which); staff see every patch with the assets it applies
// to now and, as a record, its qualification report.
import { fill, session, api, apiAll, can, h, badge, compatBadge, table, link, utc, short, field, errorBox, announce, ApiError } from "../lib.js";
import { nameCampaigns } from "./campaigns.js";
import { patchSection } from "./qualification.js";

export async function renderList(view) {
  view.append(h("h1", {}, "Patches"));
  if (can("vendors")) {
    view.append(h("p", {}, link("#/patches/new", "Submit a patch", { class: "button", id: "submit-patch-link" })));
  }
  const list = await apiAll("/api/v1/patches");
  view.append(table("Patches" + (can("vendors") ? " of your company" : ""), ["Patch", "Version", "Product", "State", "Submitted by", "Submitted"],
    list.map((p) => h("tr", {},
      h("td", {}, link("#/patches/" + p.id, p.patch_ref + " — " + p.title)),
      h("td", {}, p.version), h("td", {}, p.product_id), h("td", {}, badge(p.status)),
      h("td", {}, p.submitted_by), h("td", {}, utc(p.created_at)))),
    { empty: can("vendors") ? "You have submitted no patch yet." : "No patches yet.", id: "patch-list" }));
}

export async function renderSubmit(view) {
  view.append(h("h1", {}, "Submit a patch"),
    h("p", {}, "Send the manifest exactly as signed, its signature, and every artifact it lists. otpatch checks the signature against your trusted key and each artifact's size and SHA-256 while it streams in; nothing is kept unless everything verifies."));
  const manifest = h("input", { type: "file", name: "manifest", accept: ".json,application/json", required: true });
  const signature = h("input", { type: "file", name: "signature", accept: ".sig,.txt,text/plain", required: true });
  const artifacts = h("input", { type: "file", name: "artifact", multiple: true, required: true });
  const progress = h("progress", { id: "upload-progress", max: "100", value: "0", "aria-label": "Upload progress" });
  const progressText = h("span", { id: "upload-progress-text", "aria-live": "polite" }, "Not started");
  const result = h("div", { id: "submit-result" });
  const button = h("button", { type: "submit", id: "submit-patch" }, "Submit patch");
  const form = h("form", { id: "submit-form", class: "card" },
    field("manifest", "Manifest (JSON, exactly as signed)", manifest),
    field("signature", "Signature (the base64 text from otpatch vendor sign, e.g. manifest.json.sig)", signature),
    field("artifacts", "Artifacts (every file the manifest lists)", artifacts),
    button,
    h("div", { class: "progress-row" }, progress, " ", progressText),
    result);
  view.append(form);

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    if (!manifest.files.length || !signature.files.length || !artifacts.files.length) {
      result.append(errorBox(new Error("choose the manifest, the signature and at least one artifact")));
      return;
    }
    // The server reads the parts in this order: manifest, signature, then the artifacts.
    const fd = new FormData();
    fd.append("manifest", new Blob([await manifest.files[0].arrayBuffer()], { type: "application/json" }), "manifest.json");
    fd.append("signature", (await signature.files[0].text()).trim());
    for (const f of artifacts.files) fd.append("artifact", f, f.name);
    button.disabled = true;
    try {
      const doc = await upload("/api/v1/patches", fd, (loaded, total) => {
        const pct = total ? Math.floor((loaded / total) * 100) : 0;
        progress.value = pct;
        progressText.textContent = pct < 100 ? `Uploading: ${pct}% (${mb(loaded)} of ${mb(total)})` : "Uploaded; checking signature and hashes…";
      });
      progress.value = 100;
      progressText.textContent = "Accepted as " + doc.id;
      announce("Patch " + doc.patch_ref + " submitted; qualification runs now.", "ok");
      location.hash = "#/patches/" + doc.id;
    } catch (err) {
      progressText.textContent = "Refused";
      result.append(errorBox(err));
    } finally {
      button.disabled = false;
    }
  });
}

function mb(n) { return (n / 1048576).toFixed(1) + " MB"; }

// upload posts a form with XMLHttpRequest, whose upload events report progress (fetch has none).
function upload(path, body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("X-CSRF-Token", session.csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.lengthComputable ? e.total : 0));
    xhr.addEventListener("load", () => {
      let doc = {};
      try { doc = JSON.parse(xhr.responseText); } catch { doc = { detail: xhr.responseText }; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(doc); else reject(new ApiError(xhr.status, doc));
    });
    xhr.addEventListener("error", () => reject(new Error("the upload was interrupted; nothing was stored, try again")));
    xhr.send(body);
  });
}

export async function renderPatch(view, [id]) {
  let p;
  try {
    p = await api("/api/v1/patches/" + encodeURIComponent(id));
  } catch (err) {
    if (err.status === 404) {
      view.append(h("h1", {}, "Patch not found"), h("p", { id: "patch-missing" }, "There is no patch " + id + " that you may see."), link("#/patches", "Back to the patches"));
      return;
    }
    throw err;
  }
  // Names of the open campaigns that already hold assets of this product, for the links.
  const campaignNames = new Map();
  await nameCampaigns(campaignNames, (p.applicability_now || []).map((a) => a.open_campaign));
  const head = h("div", {});
  const body = h("div", {});
  view.append(head, body);
  const draw = () => {
    fill(head, h("h1", {}, p.patch_ref + " " + p.version),
      h("p", { class: "lead" }, p.title),
      h("p", {}, "State: ", badge(p.status, { id: "patch-status" }),
        p.status === "qualifying" || p.status === "submitted" ? " — qualification is running; this page updates by itself." : ""));
    fill(body, ...details(p, campaignNames));
  };
  draw();
  if (p.status === "qualified" || p.status === "rejected") return;
  const timer = setInterval(async () => {
    try {
      p = await api("/api/v1/patches/" + encodeURIComponent(id));
      draw();
      if (p.status === "qualified" || p.status === "rejected") clearInterval(timer);
    } catch { /* keep the last view */ }
  }, 1000);
  return () => clearInterval(timer);
}

function details(p, campaignNames) {
  const m = p.manifest || {};
  const out = [];
  if (p.reasons && p.reasons.length) {
    out.push(h("section", { "aria-labelledby": "reasons-title", class: "card bad" }, h("h2", { id: "reasons-title" }, "Why it was rejected"),
      h("ul", { id: "patch-reasons" }, p.reasons.map((r) => h("li", {}, r)))));
  }
  if (p.status === "qualified" && can("engineers")) {
    out.push(h("p", {}, link("#/campaigns/new?patch=" + encodeURIComponent(p.id), "Plan a campaign with this patch", { class: "button", id: "plan-campaign" })));
  }
  out.push(h("section", { "aria-labelledby": "manifest-title" }, h("h2", { id: "manifest-title" }, "Manifest"),
    h("dl", { class: "facts" },
      fact("Vendor", m.vendor || p.vendor_id), fact("Product", m.product || p.product_id), fact("Affected versions", (m.affected_versions || []).join(", ")),
      fact("Fixed version", m.fixed_version), fact("CVEs", (m.cves || []).map((c) => c.id + " (CVSS " + c.cvss + ")").join(", ") || "none"),
      fact("Restart required", m.restart_required), fact("Install", m.install), fact("Verify", m.verify), fact("Rollback", m.rollback),
      fact("Manifest SHA-256", h("code", {}, p.manifest_sha256)), fact("Signing key", h("code", {}, p.key_fingerprint || "—")),
      fact("Submitted", utc(p.created_at) + " by " + p.submitted_by))));
  out.push(table("Artifacts", ["File", "Size", "SHA-256"], (p.artifacts || []).map((a) =>
    h("tr", {}, h("td", {}, a.name), h("td", {}, a.size.toLocaleString("en") + " bytes"), h("td", {}, h("code", { title: a.sha256 }, short(a.sha256, 16)))))));
  if (p.applicability_now) out.push(assetsNow(p.applicability_now, campaignNames));
  if (!can("vendors")) out.push(patchSection(p));
  if (p.applicable_by_version && p.status === "qualified") out.push(byVersion(p));
  const rep = p.qualification_report;
  if (rep) {
    const risk = rep.risk || {};
    // The report records zone ids; the live rows name them.
    const zones = new Map((p.applicability_now || []).map((a) => [a.zone_id, a.zone_name]));
    const zone = (id) => zones.get(id) || id;
    out.push(h("section", { "aria-labelledby": "report-title", id: "qualification-report" }, h("h2", { id: "report-title" }, "Qualification report (record of qualification time)"),
      h("p", { class: "hint" }, "What otpatch found when it qualified the patch. Installed versions may have changed since; campaigns are planned from the assets as they run now."),
      h("dl", { class: "facts" }, fact("Highest CVSS", String(risk.max_cvss ?? "—")), fact("Highest zone SL-T", String(risk.max_sl_t ?? "—")),
        fact("Highest asset criticality", String(risk.max_criticality ?? "—")), fact("Safety-critical assets", String(risk.safety_critical_assets ?? 0)),
        fact("Zones", (risk.zones || []).map(zone).join(", ") || "none")),
      table("Applicable assets at qualification time", ["Asset", "Zone", "Installed version at qualification", "Vendor's compatibility statement"], (rep.applicable || []).map((a) =>
        h("tr", {}, h("td", {}, a.name || a.asset_id), h("td", {}, zone(a.zone_id)), h("td", {}, a.installed_version), h("td", {}, compatBadge(a.compatibility)))),
      { id: "applicable-assets", empty: "No asset in the inventory ran an affected version." }),
      (rep.excluded_not_qualified || []).length ? table("Excluded at qualification time: the vendor says not qualified for their version", ["Asset", "Zone", "Installed version at qualification", "Notes"],
        rep.excluded_not_qualified.map((a) => h("tr", {}, h("td", {}, a.name || a.asset_id), h("td", {}, zone(a.zone_id)), h("td", {}, a.installed_version), h("td", {}, a.notes || "")))) : null,
      (rep.supersedes || []).length ? h("p", {}, "Supersedes: ", rep.supersedes.map((s) => s.patch_ref).join(", ")) : null));
  } else if (p.applicable_assets && p.applicable_assets.length) {
    out.push(h("p", {}, "Applicable assets: " + p.applicable_assets.join(", ")));
  }
  return out;
}

// assetsNow is the patch evaluated against every asset of its product as it runs now: the
// version installed now, what the vendor says of it, whether the patch applies and why not,
// and an open campaign already holding the asset.
function assetsNow(rows, campaignNames) {
  const applies = rows.filter((a) => a.applies).length;
  return h("section", { "aria-labelledby": "now-title", id: "applicability-now" }, h("h2", { id: "now-title" }, "Assets of this product now"),
    h("p", {}, applies + " of " + rows.length + " assets run a version the patch applies to now."),
    table("Assets of this product as they run now", ["Asset", "Zone", "SL-T", "Installed version now", "Vendor's compatibility statement", "Patch applies now", "Open campaign"], rows.map((a) =>
      h("tr", { dataset: { asset: a.asset_id } }, h("td", { class: "name" }, a.name, a.test_bench ? h("div", { class: "hint" }, "test bench") : null), h("td", {}, a.zone_name), h("td", {}, String(a.sl_t)),
        h("td", { class: "installed-now" }, a.installed_version || "unknown"), h("td", {}, compatBadge(a.compatibility), a.notes ? h("div", { class: "hint" }, a.notes) : null),
        h("td", { class: "wide" }, a.applies ? "yes" : "no: " + a.reason), h("td", {}, a.open_campaign ? link("#/campaigns/" + a.open_campaign, campaignNames.get(a.open_campaign) || "open campaign") : "—"))),
    { id: "assets-now", empty: "No asset of this product is in the inventory." }));
}

// byVersion is the vendor's view of where its patch applies: how many of the asset owner's
// assets ran each product version at qualification time, never which assets.
function byVersion(p) {
  const rows = [...p.applicable_by_version.map((v) => [v, "yes"]), ...(p.excluded_by_version || []).map((v) => [v, "no: you state not qualified"])];
  return h("section", { "aria-labelledby": "by-version-title", id: "applicable-by-version" }, h("h2", { id: "by-version-title" }, "Where the patch applies (qualification time)"),
    h("p", { class: "hint" }, "How many of the asset owner's assets ran each version of your product when the patch was qualified. The asset owner's inventory itself is not shown."),
    table("Assets by product version", ["Product version", "Assets", "Your compatibility statement", "Patch applies"], rows.map(([v, applies]) =>
      h("tr", { dataset: { version: v.product_version } }, h("td", {}, v.product_version), h("td", {}, String(v.assets)), h("td", {}, compatBadge(v.compatibility)), h("td", {}, applies))),
    { id: "by-version", empty: "No asset of the asset owner ran an affected version." }));
}

function fact(term, value) {
  if (value === undefined || value === null || value === "") return null;
  return [h("dt", {}, term), h("dd", {}, value)];
}
