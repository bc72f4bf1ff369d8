// Qualification: the asset owner's qualification status of each patch per product release,
// set by engineers or imported from a vendor's published list (Rockwell-style or generic
// columns). A held patch is not planned for the release, and a campaign that reaches it is not
// approved while the hold applies: the patch page, this page and the campaign's review say so.
import { api, apiAll, h, fill, table, utc, field, errorBox, announce, can, session, link, qualBadge, qualificationStatuses, ApiError } from "../lib.js";

// entryRows are the table rows of qualification entries; onChange, when given, adds a button
// that loads the entry into the set form.
function entryRows(entries, onChange) {
  return entries.map((e) => h("tr", { dataset: { qualification: e.id, status: e.status } },
    h("td", {}, e.patch_ref), h("td", {}, e.product), h("td", {}, e.release === "*" ? "every release" : e.release),
    h("td", {}, qualBadge(e.status)), h("td", { class: "wide qual-reason" }, e.reason || ""),
    h("td", {}, e.source === "import" ? "list " + (e.source_list || "") + " of " + (e.source_vendor || "the vendor") + ", " + (e.source_date || "") : "set by a person"),
    h("td", {}, e.set_by, h("div", { class: "hint" }, utc(e.set_at) + (e.revision > 1 ? " · revision " + e.revision : ""))),
    onChange ? h("td", {}, h("button", { type: "button", class: "small", onclick: () => onChange(e) }, e.status === "held" ? "Lift or change" : "Change")) : null));
}

const entryHeaders = (withAction) => ["Patch", "Product", "Release", "Status", "Reason or notes", "Source", "Set by"].concat(withAction ? ["Action"] : []);

// setForm is the engineer's form to set, hold or lift the qualification of a patch for a
// release; refs are the references the patch may be named by (its id and patch_ref).
function setForm(refs, product, onSaved) {
  const ref = refs.length > 1 ? h("select", {}, refs.map((r) => h("option", { value: r }, r))) : h("input", { type: "text", required: true, maxlength: "128", value: refs[0] || "" });
  const prod = h("input", { type: "text", required: true, maxlength: "200", value: product || "" });
  const release = h("input", { type: "text", required: true, maxlength: "64", placeholder: "e.g. 16.0, or * for every release" });
  const status = h("select", {}, qualificationStatuses().map((s) => h("option", { value: s.value }, s.label)));
  const reason = h("textarea", { rows: "2", maxlength: "2000" });
  const result = h("div", { id: "qualification-set-result" });
  const form = h("form", { class: "card", id: "qualification-set" },
    h("h3", {}, "Set, hold or lift"),
    h("p", { class: "hint" }, "Held: campaigns of the patch whose targets run the release are not planned, and not approved while the hold applies. A reason is required for held and not qualified; every change is kept with who made it and when."),
    field("qualification-ref", "Patch (otpatch id or the vendor's update id)", ref), field("qualification-product", "Product (id or name)", prod),
    field("qualification-release", "Release", release, "13.0 covers every installed 13.0.x; * covers every release."),
    field("qualification-status", "Status", status), field("qualification-reason", "Reason", reason),
    h("div", { class: "buttons" }, h("button", { type: "submit", id: "qualification-save" }, "Save")), result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    try {
      const e = await api("/api/v1/qualifications", { method: "PUT", body: { patch: ref.value.trim(), product: prod.value.trim(), release: release.value.trim(), status: status.value, reason: reason.value.trim() } });
      announce(e.patch_ref + " for " + e.product + " " + e.release + " is now " + e.status.replaceAll("_", " ") + ".", "ok");
      reason.value = "";
      await onSaved();
    } catch (err) {
      result.append(errorBox(err, { patch: "Patch", product: "Product", release: "Release", status: "Status", reason: "Reason" }));
    }
  });
  form.load = (e) => {
    if (ref.tagName === "SELECT" && ![...ref.options].some((o) => o.value === e.patch_ref)) ref.append(h("option", { value: e.patch_ref }, e.patch_ref));
    ref.value = e.patch_ref;
    prod.value = e.product;
    release.value = e.release;
    status.value = e.status === "held" ? "qualified" : e.status;
    reason.value = "";
    status.focus();
  };
  return form;
}

// importForm sends a vendor's published list through a named mapping.
async function importForm(onImported) {
  const mappings = await api("/api/v1/qualifications/mappings");
  const file = h("input", { type: "file", accept: ".csv,.json,.xlsx,text/csv,application/json", required: true });
  const mapping = h("select", {}, mappings.map((m) => h("option", { value: m.name }, m.name + " — " + m.description)));
  const vendor = h("input", { type: "text", maxlength: "200", placeholder: "required unless the mapping names one (rockwell)" });
  const list = h("input", { type: "text", required: true, maxlength: "200", placeholder: "e.g. Patch qualification for Microsoft updates" });
  const date = h("input", { type: "date", required: true });
  const words = h("p", { class: "hint", id: "qualification-mapping-words" });
  const showWords = () => {
    const m = mappings.find((x) => x.name === mapping.value) || {};
    fill(words, "Columns: update id ", h("code", {}, (m.update_id || [])[0] || ""), ", product ", h("code", {}, (m.product || [])[0] || ""),
      ", release ", h("code", {}, (m.release || [])[0] || ""), ", status ", h("code", {}, (m.status || [])[0] || ""),
      (m.result || []).length ? [", result ", h("code", {}, m.result[0])] : "", (m.notes || []).length ? [", notes ", h("code", {}, m.notes[0])] : "", ". ", m.words || "");
  };
  mapping.addEventListener("change", showWords);
  showWords();
  const result = h("div", { id: "qualification-import-result", "aria-live": "polite" });
  const form = h("form", { class: "card", id: "qualification-import" },
    h("h3", {}, "Import a vendor's qualification list"),
    h("p", { class: "hint" }, "All or nothing: a list with any bad row is refused with every bad row named, and nothing changes."),
    field("qualification-file", "List (CSV, JSON or Excel .xlsx)", file), field("qualification-mapping", "Column mapping", mapping), words,
    field("qualification-list", "List name", list), field("qualification-list-date", "List date", date), field("qualification-vendor", "Vendor", vendor),
    h("div", { class: "buttons" }, h("button", { type: "submit", id: "qualification-import-button" }, "Import")), result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    if (!file.files.length) { result.append(errorBox(new Error("choose the list file"))); return; }
    const f = file.files[0];
    const q = new URLSearchParams({ mapping: mapping.value, format: /\.json$/i.test(f.name) ? "json" : /\.xlsx$/i.test(f.name) ? "xlsx" : "csv", list: list.value.trim(), list_date: date.value });
    if (vendor.value.trim()) q.set("vendor", vendor.value.trim());
    try {
      const res = await fetch("/api/v1/qualifications/import?" + q, { method: "POST", credentials: "same-origin", cache: "no-store",
        headers: { Accept: "application/json", "Content-Type": "application/octet-stream", "X-CSRF-Token": session.csrf }, body: await f.arrayBuffer() });
      let doc = {};
      try { doc = await res.json(); } catch { doc = { detail: res.statusText }; }
      if (!res.ok) throw new ApiError(res.status, doc);
      fill(result, h("p", { class: "ok", id: "qualification-imported" }, "✓ " + f.name + ": " + doc.rows + " rows — " + doc.added + " added, " + doc.changed + " changed, " + doc.unchanged + " unchanged; " + doc.matched_patches + " name a patch otpatch has."));
      announce("The list " + list.value.trim() + " was imported.", "ok");
      await onImported();
    } catch (err) {
      fill(result, errorBox(err));
    }
  });
  return form;
}

// patchSection is the patch page's part: the patch's current qualification per product
// release and, for engineers, the set form.
export function patchSection(p) {
  const entries = p.qualifications || [];
  const m = p.manifest || {};
  const sec = h("section", { "aria-labelledby": "qualification-title", id: "patch-qualification" });
  const draw = (list) => {
    const held = list.filter((e) => e.status === "held");
    const form = can("engineers") ? setForm([p.patch_ref, p.id], m.product || p.product_id, reload) : null;
    fill(sec, h("h2", { id: "qualification-title" }, "Qualification by the asset owner, per product release"),
      h("p", { class: "hint" }, "The asset owner's own status of this patch for each release of the product, set here or imported from the vendor's published list; the vendor's compatibility statement above is unchanged by it."),
      held.length ? h("div", { class: "card bad", id: "patch-holds", role: "note" }, h("strong", {}, "Held: "), "not planned for ",
        held.map((e, i) => [i ? "; " : "", (e.release === "*" ? "every release" : "release " + e.release) + " of " + e.product + " — " + e.reason])) : null,
      table("Qualification of this patch per product release", entryHeaders(!!form), entryRows(list, form ? form.load : null),
        { id: "qualification-entries", empty: "No qualification recorded for this patch yet." }),
      h("p", {}, link("#/qualifications?patch=" + encodeURIComponent(p.id) + "&history=1", can("engineers") ? "Every revision of these entries, and the import of a vendor's qualification list" : "Every revision of these entries", { id: "qualification-history-link" })),
      form);
  };
  async function reload() {
    const doc = await api("/api/v1/patches/" + encodeURIComponent(p.id));
    draw(doc.qualifications || []);
  }
  draw(entries);
  return sec;
}

// holdsNotice tells approvers that the campaign's patch is held for a release its targets run,
// with each hold's reason; nothing when no hold applies.
export function holdsNotice(c) {
  const holds = c.holds || [];
  if (!holds.length) return null;
  return h("div", { class: "card bad", id: "campaign-holds", role: "alert" },
    h("p", {}, h("strong", {}, "Held — this plan cannot be approved while the hold applies."), " The asset owner holds the patch for a release these targets run:"),
    h("ul", {}, holds.map((x) => h("li", { class: "hold" }, h("strong", {}, x.product + " " + (x.release === "*" ? "(every release)" : x.release)),
      " (targets at " + x.versions.join(", ") + "): ", h("span", { class: "hold-reason" }, x.reason)))),
    h("p", { class: "hint" }, "An engineer lifts the hold on the patch's page; approval is possible again once no hold applies."));
}

// render is the Qualification page: every current entry (or every revision), filtered, with
// the set and import forms for engineers.
export async function render(view, _params, query) {
  view.append(h("h1", {}, "Qualification lists"),
    h("p", {}, "The asset owner's qualification status of patches per product release. Vendors publish such lists for Microsoft and other third-party updates on their systems; import them here, or set an entry by hand. A held patch is not planned for the release."));
  const q = query || new URLSearchParams();
  const patch = h("input", { type: "text", maxlength: "128", value: q.get("patch") || "", placeholder: "patch id or update id" });
  const product = h("input", { type: "text", maxlength: "200", value: q.get("product") || "" });
  const status = h("select", {}, h("option", { value: "" }, "any"), qualificationStatuses().map((s) => h("option", { value: s.value, selected: s.value === q.get("status") }, s.label)));
  const history = h("input", { type: "checkbox", checked: q.get("history") === "1" });
  const list = h("div", { id: "qualification-results" });
  const load = async () => {
    const p = new URLSearchParams();
    if (patch.value.trim()) p.set("patch", patch.value.trim());
    if (product.value.trim()) p.set("product", product.value.trim());
    if (status.value) p.set("status", status.value);
    if (history.checked) p.set("history", "1");
    try {
      const entries = await apiAll("/api/v1/qualifications" + (p.toString() ? "?" + p : ""));
      fill(list, table(history.checked ? "Every revision" : "Current qualification", entryHeaders(!!form), entryRows(entries, form ? form.load : null),
        { id: "qualification-entries", empty: "No entry matches." }));
    } catch (err) {
      fill(list, errorBox(err));
    }
  };
  const form = can("engineers") ? setForm([q.get("patch") || ""], "", load) : null;
  view.append(h("form", { class: "card filters", id: "qualification-filters", onsubmit: (e) => { e.preventDefault(); load(); } },
    field("filter-patch", "Patch", patch), field("filter-product", "Product", product), field("filter-status", "Status", status),
    field("filter-history", "Every revision (when holds were set and lifted)", history),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Show"))), list);
  await load();
  if (form) view.append(form, await importForm(load));
}
