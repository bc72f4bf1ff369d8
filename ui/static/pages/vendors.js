// Vendors: the product suppliers, each with its signing keys and their state, its supplier
// scorecard (computed by the server from recorded events) and its certificates on file. A
// vendor sees only itself. Engineers file a certificate.
import { api, apiAll, ApiError, h, fill, table, link, utc, field, can, errorBox, announce, wordBadge, short, session } from "../lib.js";

const keyTone = { active: "ok", expired: "bad", revoked: "bad", not_yet_valid: "wait" };
const keyWord = { active: "active", expired: "expired", revoked: "revoked", not_yet_valid: "not valid yet" };

export async function renderList(view) {
  if (session.actor.role === "vendor" && session.actor.vendor_id) {
    location.hash = "#/vendors/" + encodeURIComponent(session.actor.vendor_id);
    return;
  }
  view.append(h("h1", {}, "Vendors"),
    h("p", { class: "hint" }, "Product suppliers, their signing keys and how their patches have fared: the scorecard IEC TR 62443-2-3 asks to feed into procurement."));
  const vendors = await apiAll("/api/v1/vendors");
  view.append(table("Vendors", ["Vendor", "Name"],
    vendors.map((v) => h("tr", { dataset: { vendor: v.id } },
      h("td", { class: "name" }, link("#/vendors/" + encodeURIComponent(v.id), v.display_name || v.name)), h("td", {}, h("code", {}, v.name)))),
    { id: "vendor-list", empty: "No vendor yet." }));
}

// days turns seconds into days with one decimal, "—" for none.
function days(secs) {
  if (secs === null || secs === undefined) return "—";
  const d = secs / 86400;
  return d.toFixed(1) + (d === 1 ? " day" : " days");
}

function fact(term, value, id) {
  return [h("dt", {}, term), h("dd", { id }, value)];
}

export async function renderVendor(view, [id]) {
  const base = "/api/v1/vendors/" + encodeURIComponent(id);
  let vendor;
  try {
    vendor = await api(base);
  } catch (err) {
    if (err.status === 404) { view.append(h("h1", {}, "Vendor not found"), link("#/vendors", "Back to the vendors")); return; }
    throw err;
  }
  view.append(h("h1", {}, vendor.display_name || vendor.name));
  const card = h("section", { id: "scorecard", "aria-labelledby": "scorecard-title" }, h("p", {}, "Computing the scorecard…"));
  const keys = h("section", { id: "keys", "aria-labelledby": "keys-title" });
  const certs = h("section", { id: "certificates", "aria-labelledby": "certs-title" });
  view.append(card, keys, certs);

  const drawScorecard = async () => {
    const sc = await api(base + "/scorecard");
    const lead = sc.advisory_to_qualified, sub = sc.submissions, rb = sc.rollbacks, k = sc.keys, c = sc.certificate;
    let cert = wordBadge("wait", "none on file", { id: "cert-state" });
    if (c.on_file) {
      cert = c.expired
        ? wordBadge("bad", "expired on " + c.expires_on, { id: "cert-state" })
        : wordBadge("ok", "valid until " + c.expires_on + " (" + c.days_left + " days left)", { id: "cert-state" });
    }
    fill(card,
      h("h2", { id: "scorecard-title" }, "Scorecard"),
      h("p", { class: "hint" }, "Computed now from the audit trail, the patches, the keys and the certificates on file. ",
        link(base + "/scorecard?format=csv", "Download as CSV", { id: "scorecard-csv", download: "" })),
      h("dl", { class: "facts", id: "scorecard-facts" },
        fact("Advisory to qualified patch", lead.count
          ? "median " + days(lead.median_seconds) + ", 90th percentile " + days(lead.p90_seconds) + " over " + lead.count + (lead.count === 1 ? " patch" : " patches")
          : "no qualified patch fixes a CVE of a stored advisory yet", "sc-lead"),
        fact("Submissions", sub.total + " received: " + sub.accepted + " accepted, " + sub.refused + " refused (" + (sub.refused_share * 100).toFixed(1) + " %), " +
          sub.rejected_at_qualification + " rejected by qualification", "sc-submissions"),
        fact("Refused because", sub.refused_by_reason.length
          ? h("ul", { id: "sc-reasons" }, ...sub.refused_by_reason.map((r) => h("li", { dataset: { reason: r.reason } }, r.label + ": " + r.count)))
          : "nothing refused", "sc-refused"),
        fact("Rollbacks caused", rb.rolled_back + " rolled back, " + rb.rollback_failed + " failed to roll back (" + rb.production + " on plant assets, " +
          rb.test_bench + " on the test bench) in " + rb.campaigns + (rb.campaigns === 1 ? " campaign" : " campaigns"), "sc-rollbacks"),
        fact("Signing keys", k.trusted + " trusted: " + k.active + " active, " + k.expired + " expired, " + k.revoked + " revoked; " +
          k.rotations + (k.rotations === 1 ? " rotation, " : " rotations, ") + k.revocations + (k.revocations === 1 ? " revocation" : " revocations"), "sc-keys"),
        fact("Old keys used", k.refused_expired_key + " submissions signed with an expired key, " + k.refused_revoked_key + " with a revoked key; " +
          k.patches_signed_by_revoked_key + " accepted patches whose key was revoked since", "sc-key-use"),
        fact("IEC 62443-4-1", c.on_file ? [(c.standard || "") + (c.maturity_level ? " maturity level " + c.maturity_level : "") + " ", cert] : cert, "sc-certificate")));
  };

  const drawKeys = async () => {
    const list = await apiAll(base + "/keys");
    const now = Date.now();
    const state = (k) => k.revoked_at ? "revoked" : (Date.parse(k.not_after) <= now ? "expired" : (Date.parse(k.not_before) > now ? "not_yet_valid" : "active"));
    fill(keys, h("h2", { id: "keys-title" }, "Signing keys"),
      table("Signing keys", ["Fingerprint", "State", "Valid from", "Valid until", "Revoked"],
        list.map((key) => {
          const s = state(key);
          return h("tr", { dataset: { key: key.id, state: s } },
            h("td", {}, h("code", { title: key.fingerprint }, short(key.fingerprint, 20))), h("td", {}, wordBadge(keyTone[s], keyWord[s])),
            h("td", {}, utc(key.not_before)), h("td", {}, utc(key.not_after)),
            h("td", {}, key.revoked_at ? utc(key.revoked_at) + (key.revoke_reason ? ": " + key.revoke_reason : "") : "—"));
        }), { id: "key-list", empty: "No signing key is trusted for this vendor: its submissions are refused until an admin adds one." }));
  };

  const drawCerts = async () => {
    const list = await apiAll(base + "/certificates");
    fill(certs, h("h2", { id: "certs-title" }, "Certificates on file"),
      table("Certificates on file", ["Standard", "Maturity level", "Issuer", "Expires", "Document", "Uploaded"],
        list.map((c) => h("tr", { dataset: { certificate: c.id } },
          h("td", {}, c.standard), h("td", {}, c.maturity_level ? "ML" + c.maturity_level : "—"), h("td", {}, c.issuer), h("td", {}, c.expires_on),
          h("td", {}, link(base + "/certificates/" + encodeURIComponent(c.id), c.file_name || "PDF", { download: "" })),
          h("td", {}, utc(c.uploaded_at) + " by " + c.uploaded_by))),
        { id: "cert-list", empty: "No certificate on file." }),
      can("engineers") ? certForm(base, async () => { await drawCerts(); await drawScorecard(); }) : null);
  };

  await Promise.all([drawScorecard(), drawKeys(), drawCerts()]);
}

// certForm lets an engineer file a certificate document (PDF) with what it certifies.
function certForm(base, done) {
  const file = h("input", { type: "file", accept: "application/pdf", required: true });
  const standard = h("input", { type: "text", maxlength: "100", value: "IEC 62443-4-1", required: true });
  const level = h("select", {}, h("option", { value: "" }, "none stated"), ...[1, 2, 3, 4].map((n) => h("option", { value: String(n) }, "ML" + n)));
  const issuer = h("input", { type: "text", maxlength: "200", required: true });
  const expires = h("input", { type: "date", required: true });
  const button = h("button", { type: "submit", id: "cert-add" }, "File certificate");
  const result = h("div", { id: "cert-add-result", "aria-live": "polite" });
  const form = h("form", { id: "cert-form", class: "card", "aria-labelledby": "cert-form-title" },
    h("h3", { id: "cert-form-title" }, "File a certificate"),
    field("cert-file", "Document (PDF, at most 10 MiB)", file),
    field("cert-standard", "Standard", standard),
    field("cert-level", "Maturity level", level, "IEC 62443-4-1 ML1 to ML4, as the certificate states."),
    field("cert-issuer", "Issuer", issuer),
    field("cert-expires", "Valid until", expires, "The certificate's last valid day."),
    button, result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    const doc = file.files[0];
    if (!doc) return;
    button.disabled = true;
    const q = new URLSearchParams({ standard: standard.value.trim(), issuer: issuer.value.trim(), expires_on: expires.value, file_name: doc.name });
    if (level.value) q.set("maturity_level", level.value);
    try {
      const res = await fetch(base + "/certificates?" + q, { method: "POST", body: doc, credentials: "same-origin",
        headers: { "Content-Type": "application/pdf", "X-CSRF-Token": session.csrf, Accept: "application/json" } });
      const answer = await res.json().catch(() => ({}));
      if (!res.ok) throw new ApiError(res.status, answer);
      result.append(h("p", { class: "ok-text", id: "cert-add-ok" }, "✓ Filed " + answer.standard + " (SHA-256 " + short(answer.sha256, 16) + ")."));
      announce("The certificate was filed.", "ok");
      await done();
    } catch (err) {
      result.append(errorBox(err, { issuer: "Issuer", expires_on: "Valid until", maturity_level: "Maturity level", standard: "Standard", body: "Document" }));
      announce("The certificate was not filed.", "error");
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
